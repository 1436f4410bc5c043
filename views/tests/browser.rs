//! The pages in a real browser: Chromium driven over WebDriver by
//! chromedriver (both from Debian), each person signing in and walking
//! through their pages, with the axe-core accessibility checker run in
//! the page (WCAG 2.1 A and AA rules and best practices): no violation on
//! any page. A screenshot of each page is kept under
//! the test's temporary folder (`views-screenshots/`) for people to look
//! at. Sign-in through OpenID Connect is tried against a real provider
//! (oidc-provider, from npm) in the same browser.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use lap_runtime::testkit::{
    AXE_ENV, CHROMEDRIVER_ENV, Chromium, OIDC_PROVIDER_ENV, free_port, service,
};
use lap_sink::delta::{DeltaStore, Lake};
use lap_sink::store::Store;
use lap_views::oidc::{Oidc, Settings};
use lap_views::{Backend, Claim, SignIn};
use serde_json::json;

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
        browser
            .screenshot(
                &Path::new(env!("CARGO_TARGET_TMPDIR")).join("views-screenshots"),
                name,
            )
            .await;
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
    browser.click("//a[contains(., 'Your digest')]").await;
    check(
        "teacher-digest",
        &["How often do you want it?", "Weekly"],
        &[],
    )
    .await;
    browser.click("//label[contains(., 'Weekly')]").await;
    browser.click("//button[contains(., 'Save')]").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    browser.open(&format!("{base}/digest")).await;
    check("teacher-digest-saved", &["How often do you want it?"], &[]).await;
    assert_eq!(
        browser
            .script("return document.getElementById('f-weekly').checked;")
            .await,
        json!(true),
        "the choice is kept"
    );
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
