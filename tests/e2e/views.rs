//! The views over what the deployed pipeline stored: the four services
//! load PostgreSQL from a generated school, `lap views` serves it, and a
//! teacher in a real browser (Chromium over WebDriver) watches their class
//! page change by itself, without a reload, when one more statement
//! arrives through ingest's HTTP front door. Afterwards no learner's name,
//! username, e-mail or roster id is in PostgreSQL, the topics after enrich,
//! or any log, and the learner page the teacher opened left exactly one
//! access record.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lap_runtime::testkit::{self, CHROMEDRIVER_ENV, Chromium};
use serde_json::Value;

use crate::common::{Killed, TEST_KEY};
use crate::harness::{Pipeline, TEST_SETTINGS};
use crate::{http_date, school};

/// Learners of the generated roster: what must not leave enrich and the
/// views (sourcedId, username, e-mail).
fn learner_identifiers(p: &Pipeline) -> Vec<String> {
    let users = std::fs::read_to_string(p.data("roster").join("users.csv")).unwrap();
    let mut lines = users.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (id, role, username, email) =
        (col("sourcedId"), col("role"), col("username"), col("email"));
    let mut out = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        if f[role] == "student" {
            out.extend([
                format!("Learner {}", f[id]),
                format!("\"{}\"", f[id]),
                f[username].to_string(),
                f[email].to_string(),
            ]);
        }
    }
    out
}

/// Where the screenshots are kept for people to look at, beside the views
/// tests' own.
fn screenshots() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("views-screenshots")
}

/// The newest generated xAPI statement of class `class`, by timestamp.
fn newest_statement_of(p: &Pipeline, class: &str) -> Value {
    let suffix = format!("/classes/{class}");
    let mut newest: Option<Value> = None;
    for file in std::fs::read_dir(p.data("activity")).unwrap() {
        let path = file.unwrap().path();
        if !path.to_string_lossy().contains("xapi") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let statements = match serde_json::from_str::<Value>(line) {
                Ok(Value::Array(s)) => s,
                Ok(one) => vec![one],
                Err(_) => continue,
            };
            for s in statements {
                let of_class = s["context"]["contextActivities"]["parent"][0]["id"]
                    .as_str()
                    .is_some_and(|id| id.ends_with(&suffix));
                let viewed = s["verb"]["id"]
                    .as_str()
                    .is_some_and(|v| v.ends_with("/viewed"));
                let newer = newest
                    .as_ref()
                    .is_none_or(|n| n["timestamp"].as_str() < s["timestamp"].as_str());
                if of_class && viewed && newer {
                    newest = Some(s);
                }
            }
        }
    }
    newest.unwrap_or_else(|| panic!("no viewed statement of {class}"))
}

/// The class's newest weekly activity count in PostgreSQL.
async fn activity_of(client: &tokio_postgres::Client, schema: &str, class: &str) -> Option<f64> {
    let sql = format!(
        "SELECT (indicators->>'activity_events')::float8 FROM {schema}.class_weekly \
         WHERE entity_id = $1 ORDER BY window_start DESC LIMIT 1"
    );
    client
        .query_opt(&sql, &[&class])
        .await
        .unwrap()
        .and_then(|r| r.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teacher_watches_their_class_page_change_live_in_a_real_browser() {
    let Some(driver) = testkit::service(CHROMEDRIVER_ENV) else {
        return;
    };
    let Some(mut p) = Pipeline::start(&school(21), TEST_SETTINGS).await else {
        return;
    };
    let date = http_date(&p);
    p.feed(&date, &BTreeMap::new(), Duration::from_millis(10))
        .await;

    // lap views over the sink's PostgreSQL, as deployed next to it.
    let port = testkit::free_port();
    let views_log = p.dir.path().join("views.log");
    let _views = Killed(
        Command::new(env!("CARGO_BIN_EXE_lap"))
            .arg("--config")
            .arg(p.config_of(3))
            .args(["views", "--roster"])
            .arg(p.data("roster"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("LAP_ENRICH_KEY", TEST_KEY)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&views_log).unwrap())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "lap views did not answer in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A teacher signs in (the demo sign-in) and opens their first class.
    let (_driver, browser) = Chromium::start(&driver).await;
    browser.open(&format!("{base}/signin")).await;
    browser
        .click("//button[starts-with(normalize-space(.), 'Sign in as Teacher')]")
        .await;
    let href = browser
        .script("return document.querySelector('main a[href^=\"/classes/\"]').getAttribute('href')")
        .await;
    let class = href
        .as_str()
        .unwrap()
        .trim_start_matches("/classes/")
        .to_string();

    let (client, conn) = tokio_postgres::connect(&p.pg_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    // The stores have settled when the class's newest count has not moved
    // for 20 s (rows of open weeks are emitted each second while events
    // come in).
    let (mut before, mut steady) = (None, 0);
    let deadline = Instant::now() + Duration::from_secs(300);
    while steady < 10 {
        let now = activity_of(&client, &p.schema, &class).await;
        steady = if now.is_some() && now == before {
            steady + 1
        } else {
            0
        };
        before = now;
        assert!(
            Instant::now() < deadline,
            "not settled in 300 s:\n{}",
            p.logs()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let before = before.expect("the class has weekly rows");

    browser.open(&format!("{base}/classes/{class}")).await;
    browser
        .script("window.lapMarker = 'same page'; return 1")
        .await;
    let shown = browser.text().await;
    let label = "Learning activities";
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with(label) && l.contains(&format!("{before:.0}"))),
        "the page shows the stored count {before}:\n{shown}"
    );

    // One more statement of the class's newest week, through HTTP.
    let mut statement = newest_statement_of(&p, &class);
    statement["id"] = Value::String("5f0c6f4e-9d52-4c2e-8f4b-1d2a3b4c5d6e".into());
    let time = chrono::DateTime::parse_from_rfc3339(statement["timestamp"].as_str().unwrap())
        .unwrap()
        + chrono::Duration::seconds(30);
    statement["timestamp"] = Value::String(time.to_rfc3339());
    p.send_xapi(&statement).await;

    let expected = format!("{:.0}", before + 1.0);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = browser.text().await;
        let updated = text
            .lines()
            .any(|l| l.starts_with(label) && l.contains(&expected));
        if updated {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the class page did not show {expected} within 120 s (PostgreSQL has {:?}):\n{text}\n{}",
            activity_of(&client, &p.schema, &class).await,
            p.logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        browser.script("return window.lapMarker").await,
        "same page",
        "updated in place, not reloaded"
    );
    assert!(browser.text().await.contains("Updated with new data"));
    browser
        .screenshot(&screenshots(), "pipeline-class-live")
        .await;

    // One learner page: one access record.
    let learner = browser
        .script(
            "return document.querySelector('main a[href^=\"/learners/\"]').getAttribute('href')",
        )
        .await;
    let learner = learner.as_str().unwrap().to_string();
    browser.open(&format!("{base}{learner}")).await;
    browser.screenshot(&screenshots(), "pipeline-learner").await;
    let key = learner.trim_start_matches("/learners/");
    let records: i64 = client
        .query_one(
            &format!(
                "SELECT count(*) FROM {}.views_access WHERE person_key = $1 AND view = 'learner'",
                p.schema
            ),
            &[&key],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(records, 1);

    // No learner identifier past enrich: stores, topics, logs.
    let mut places: Vec<(String, String)> = Vec::new();
    let tables = client
        .query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
            &[&p.schema],
        )
        .await
        .unwrap();
    for t in tables {
        let table: String = t.get(0);
        let dump: Option<String> = client
            .query_one(
                &format!(
                    "SELECT string_agg(to_jsonb(t)::text, ' ') FROM {}.{table} t",
                    p.schema
                ),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        places.push((format!("table {table}"), dump.unwrap_or_default()));
    }
    for role in ["enriched", "late", "indicators", "aggregate_state"] {
        let text: String = testkit::read_topic(&p.bootstrap, &p.topics[role])
            .await
            .iter()
            .flat_map(|m| [m.key.clone(), m.payload.clone()])
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect();
        places.push((format!("topic {role}"), text));
    }
    places.push(("service logs".into(), p.logs()));
    places.push((
        "views log".into(),
        std::fs::read_to_string(&views_log).unwrap(),
    ));
    let identifiers = learner_identifiers(&p);
    assert!(identifiers.len() > 40, "{identifiers:?}");
    for (place, text) in &places {
        let found: Vec<&String> = identifiers.iter().filter(|i| text.contains(*i)).collect();
        assert!(found.is_empty(), "{place} holds {found:?}");
    }
}
