//! The pages in a real browser: Chromium driven over WebDriver by
//! chromedriver (both from Debian), each person signing in and walking
//! through their pages, with the axe-core accessibility checker run in
//! the page (WCAG 2.1 A and AA rules and best practices): no violation on
//! any page. A screenshot of each page is kept under
//! the test's temporary folder (`views-screenshots/`) for people to look
//! at. Sign-in through OpenID Connect is tried against a real provider
//! (oidc-provider, from npm) in the same browser.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use lap_runtime::testkit::{AXE_ENV, CHROMEDRIVER_ENV, OIDC_PROVIDER_ENV, free_port, service};
use lap_sink::delta::{DeltaStore, Lake};
use lap_sink::store::Store;
use lap_views::oidc::{Oidc, Settings};
use lap_views::{Backend, Claim, SignIn};
use serde_json::{Value, json};

/// chromedriver, killed when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One WebDriver session on a headless Chromium.
struct Chromium {
    http: reqwest::Client,
    url: String,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Chromium {
    async fn start(driver: &str) -> (Driver, Chromium) {
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
                        json!({"script": 60_000}),
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

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        call(&self.http, method, &format!("{}{path}", self.url), &body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"))
    }

    async fn open(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", json!({"url": url}))
            .await;
    }

    /// The element at `xpath`; a failure shows the page it looked at.
    async fn find(&self, xpath: &str) -> String {
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

    async fn click(&self, xpath: &str) {
        let id = self.find(xpath).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            json!({}),
        )
        .await;
    }

    async fn fill(&self, xpath: &str, text: &str) {
        let id = self.find(xpath).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            json!({"text": text}),
        )
        .await;
    }

    /// Runs `script` in the page; what it returns.
    async fn script(&self, script: &str) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    async fn text(&self) -> String {
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
    async fn violations(&self, axe: &str) -> Vec<String> {
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

    async fn screenshot(&self, name: &str) {
        let png = self
            .cmd(reqwest::Method::GET, "/screenshot", json!({}))
            .await;
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("views-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("{name}.png")),
            decode(png.as_str().unwrap()),
        )
        .unwrap();
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

/// Standard base64 (WebDriver's screenshots).
fn decode(text: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = text
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .map(val)
        .collect();
    bytes
        .chunks(4)
        .flat_map(|c| {
            let n = c
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, v)| n | u32::from(*v) << (18 - 6 * i));
            let out = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            out.into_iter().take(c.len() - 1)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_accessible_in_a_real_browser_and_shows_each_person_their_part() {
    let (Some(driver), Some(axe)) = (service(CHROMEDRIVER_ENV), service(AXE_ENV)) else {
        return;
    };
    let axe = std::fs::read_to_string(axe).expect("axe.min.js");
    let roster = tempfile::tempdir().unwrap();
    write_roster(roster.path());
    let lake_dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(lake_dir.path());
    DeltaStore::new(lake.clone()).write(&rows()).await.unwrap();
    let (base, _views) = start(roster.path(), Backend::lake(lake.clone())).await;
    let (_driver, browser) = Chromium::start(&driver).await;

    let mut problems = Vec::new();
    let mut check = async |name: &str, must: &[&str], must_not: &[&str]| {
        // A click returns once the next page is on its way, not loaded.
        let mut text = browser.text().await;
        for _ in 0..50 {
            if must.iter().all(|m| text.contains(m)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            text = browser.text().await;
        }
        for m in must {
            assert!(text.contains(m), "{name}: `{m}` missing in:\n{text}");
        }
        for m in must_not {
            assert!(!text.contains(m), "{name}: `{m}` shown in:\n{text}");
        }
        browser.screenshot(name).await;
        for v in browser.violations(&axe).await {
            problems.push(format!("{name}: {v}"));
        }
    };

    browser.open(&format!("{base}/signin")).await;
    check(
        "sign-in",
        &["Sign in (demo)", "Tove Teacher"],
        &["Oli Optout"],
    )
    .await;
    browser.click("//button[contains(., 'Tove Teacher')]").await;
    check("teacher-start", &["Your classes", "Maths 7A"], &["Art 9"]).await;
    browser.click("//a[contains(., 'Maths 7A')]").await;
    check(
        "teacher-class",
        &[
            "Lea Lund",
            "Lyn Loft",
            "No recent activity",
            "Trend over the term",
        ],
        &["Oli Optout"],
    )
    .await;
    // A newer revision of the class's week lands: the open page shows it
    // by itself, and is the same page (no reload: the mark stays).
    browser
        .script("window.notReloaded = true; return null;")
        .await;
    let mut newer = rows();
    let week = newer.indicators.get_mut("class_weekly").unwrap();
    week.retain(|r| r.entity_id == "c1" && r.window_start == MONDAY + WEEK);
    week[0].revision = 2;
    week[0].emitted_time += 60_000_000;
    week[0]
        .indicators
        .insert("activity_events".into(), Some(77.0));
    newer.indicators.retain(|t, _| *t == "class_weekly");
    DeltaStore::new(lake.clone()).write(&newer).await.unwrap();
    let mut seen = String::new();
    for _ in 0..150 {
        seen = browser.text().await;
        if seen.contains("77") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        seen.contains("77") && seen.contains("Updated with new data"),
        "the page did not update (now at {}, not reloaded: {}):\n{seen}",
        browser.script("return window.location.href;").await,
        browser.script("return window.notReloaded === true;").await
    );
    assert_eq!(
        browser.script("return window.notReloaded === true;").await,
        json!(true)
    );
    browser.click("//a[contains(., 'Lea Lund')]").await;
    check(
        "teacher-learner",
        &["No recent activity", "Acknowledge", "days inactive"],
        &[],
    )
    .await;
    browser.click("//button[contains(., 'Acknowledge')]").await;
    check(
        "teacher-learner-acknowledged",
        &["acknowledged by a teacher"],
        &[],
    )
    .await;
    browser.open(&format!("{base}/learners/{}", p("l7"))).await;
    check("teacher-other-learner", &["Not found"], &["Liv Learner"]).await;
    browser.open(&format!("{base}/")).await;
    browser.click("//button[contains(., 'Sign out')]").await;

    browser.click("//button[contains(., 'Ada Admin')]").await;
    browser.click("//a[contains(., 'Birch School')]").await;
    check(
        "leader-school",
        &["Birch School", "Maths 7A", "Classes in the newest week"],
        &["Lea Lund", "Leo Lind"],
    )
    .await;
    browser.click("//button[contains(., 'Sign out')]").await;

    browser.click("//button[contains(., 'Gro Guardian')]").await;
    check(
        "guardian-start",
        &["Your children", "Lea Lund"],
        &["Leo Lind"],
    )
    .await;
    browser.click("//a[contains(., 'Lea Lund')]").await;
    check(
        "guardian-child",
        &["Lea Lund", "Maths 7A"],
        &["Acknowledge"],
    )
    .await;
    browser
        .click("//a[contains(., 'Which data is used')]")
        .await;
    check(
        "guardian-my-data",
        &["Who looked at Lea Lund", "Tove Teacher"],
        &[],
    )
    .await;

    assert!(
        problems.is_empty(),
        "accessibility violations:\n{}",
        problems.join("\n")
    );
}

/// The OpenID provider of the test (node running oidc-provider), killed
/// when dropped.
struct Provider(Child);

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_sign_in_through_the_schools_openid_provider() {
    let (Some(driver), Some(module)) = (service(CHROMEDRIVER_ENV), service(OIDC_PROVIDER_ENV))
    else {
        return;
    };
    let roster = tempfile::tempdir().unwrap();
    write_roster(roster.path());
    let lake = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let _provider = Provider(
        Command::new("node")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/oidc-provider.mjs"
            ))
            .env("OIDC_PROVIDER_MODULE", module)
            .env("PORT", port.to_string())
            .env("CLIENT_ID", "lap-views")
            .env("CLIENT_SECRET", "a-secret-of-the-test-client")
            .env("REDIRECT_URI", format!("{base}/signin/callback"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs the provider"),
    );
    let settings = Settings {
        issuer: issuer.clone(),
        client_id: "lap-views".into(),
        client_secret: Some("a-secret-of-the-test-client".into()),
        redirect_url: format!("{base}/signin/callback"),
        claim: "email".into(),
        scopes: "email".into(),
    };
    let mut client = None;
    for _ in 0..100 {
        match Oidc::discover(settings.clone()).await {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let client = std::sync::Arc::new(client.expect("the provider answers within 10 s"));
    serve_on(
        listener,
        roster.path(),
        Backend::lake(Lake::local(lake.path())),
        SignIn::Oidc {
            client,
            field: Claim::Email,
        },
    );

    // A callback this browser did not start is refused.
    let forged = Browser::anonymous(&base)
        .get("/signin/callback?code=x&state=y")
        .await;
    assert_eq!(forged.status, 403);
    assert!(
        forged.body.contains("not started in this browser"),
        "{}",
        forged.body
    );
    assert_eq!(
        Browser::anonymous(&base)
            .post("/signin", &[("person", "t1")])
            .await
            .status,
        404,
        "no demo sign-in beside OpenID Connect"
    );

    // Each person in a browser of their own: the provider remembers who
    // signed in last.
    let sign_in_as = async |login: &str| {
        let (_driver, browser) = Chromium::start(&driver).await;
        browser.open(&format!("{base}/")).await;
        // The provider's own login form, then its consent page.
        browser.fill("//input[@name='login']", login).await;
        browser.fill("//input[@name='password']", "anything").await;
        browser.click("//button[@type='submit']").await;
        for _ in 0..100 {
            let text = browser.text().await;
            if text.contains("Hello,") || text.contains("Not signed in") {
                return text;
            }
            if text.contains("Authorize") {
                browser.click("//button[contains(., 'Continue')]").await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the sign-in of {login} did not come back:\n{}",
            browser.text().await
        )
    };
    let page = sign_in_as("TOVE@birch.example").await;
    assert!(
        page.contains("Hello, Tove Teacher") && page.contains("Maths 7A"),
        "{page}"
    );
    let stranger = sign_in_as("someone@elsewhere.example").await;
    assert!(
        stranger.contains("the school's roster has no teacher"),
        "{stranger}"
    );
}
