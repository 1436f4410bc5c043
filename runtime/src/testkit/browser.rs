//! A real browser for tests: headless Chromium driven over WebDriver by
//! chromedriver (Debian's `chromium` and `chromium-driver`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::free_port;

/// chromedriver, killed when dropped.
pub struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One WebDriver session on a headless Chromium.
pub struct Chromium {
    http: reqwest::Client,
    url: String,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Chromium {
    /// Starts chromedriver (`driver`) on a free port of 127.0.0.1 and a
    /// headless Chromium (a WebDriver session) through it.
    pub async fn start(driver: &str) -> (Driver, Chromium) {
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver(child);
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,900"]}
        }}});
        let mut last = String::new();
        for _ in 0..100 {
            match call(
                &http,
                reqwest::Method::POST,
                &format!("{base}/session"),
                &caps,
            )
            .await
            {
                Ok(v) => {
                    let id = v["sessionId"].as_str().unwrap().to_string();
                    let c = Chromium {
                        http,
                        url: format!("{base}/session/{id}"),
                    };
                    c.cmd(
                        reqwest::Method::POST,
                        "/timeouts",
                        json!({"script": 60_000, "implicit": 5_000}),
                    )
                    .await;
                    return (driver, c);
                }
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no WebDriver session: {last}");
    }

    /// One WebDriver command on this browser; its answer's `value`.
    pub async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        call(&self.http, method, &format!("{}{path}", self.url), &body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"))
    }

    /// Loads `url`.
    pub async fn open(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", json!({"url": url}))
            .await;
    }

    /// The element at `xpath`; a failure shows the page it looked at.
    pub async fn find(&self, xpath: &str) -> String {
        let url = format!("{}/element", self.url);
        match call(
            &self.http,
            reqwest::Method::POST,
            &url,
            &json!({"using": "xpath", "value": xpath}),
        )
        .await
        {
            Ok(found) => found[ELEMENT].as_str().unwrap().to_string(),
            Err(e) => panic!("no {xpath} on the page ({e}):\n{}", self.text().await),
        }
    }

    /// Clicks the element at `xpath`.
    pub async fn click(&self, xpath: &str) {
        let id = self.find(xpath).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            json!({}),
        )
        .await;
    }

    /// Types `text` into the element at `xpath`.
    pub async fn fill(&self, xpath: &str, text: &str) {
        let id = self.find(xpath).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            json!({"text": text}),
        )
        .await;
    }

    /// Runs `script` in the page; what it returns.
    pub async fn script(&self, script: &str) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": "return document.body.innerText", "args": []}),
        )
        .await
        .as_str()
        .unwrap()
        .to_string()
    }

    /// axe-core's violations on the current page, one line each.
    pub async fn violations(&self, axe: &str) -> Vec<String> {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": format!("{axe}\nreturn typeof axe;"), "args": []}),
        )
        .await;
        let script = "const done = arguments[arguments.length - 1];\
            axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})\
              .then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', '))))\
              .catch(e => done(['axe failed: ' + e]));";
        let found = self
            .cmd(
                reqwest::Method::POST,
                "/execute/async",
                json!({"script": script, "args": []}),
            )
            .await;
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    /// Saves a screenshot of the page as `dir/name.png`.
    pub async fn screenshot(&self, dir: &Path, name: &str) {
        let png = self
            .cmd(reqwest::Method::GET, "/screenshot", json!({}))
            .await;
        std::fs::create_dir_all(dir).expect("the screenshot folder can be made");
        let bytes = STANDARD
            .decode(png.as_str().expect("a screenshot is text"))
            .expect("a screenshot is base64");
        std::fs::write(dir.join(format!("{name}.png")), bytes).expect("the screenshot is saved");
    }
}

/// A WebDriver call; the `value` of its answer, or the error.
async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: &Value,
) -> Result<Value, String> {
    let mut req = http.request(method.clone(), url);
    if method != reqwest::Method::GET {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let res = req.send().await.map_err(|e| e.to_string())?;
    let status = res.status();
    let v: Value = serde_json::from_str(&res.text().await.map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(v["value"].clone())
    } else {
        Err(format!("{status}: {v}"))
    }
}
