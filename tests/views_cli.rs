//! `lap views` over the lake `lap run` wrote from a generated school: the
//! command starts on a loopback address and refuses any other with the
//! demo sign-in; the sign-in page lists the generated roster's teachers,
//! school leader and parents; the leader sees the school's and classes'
//! rows without a learner's name, a parent their own child's page.
//! `lap digest` over the same lake mails each teacher with flags once per
//! day, through a real SMTP server, and refuses to run with nowhere to
//! send.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use lap_gen::{Options, write_dir};
use lap_runtime::testkit::{SMTPD_ENV, Smtpd, service};

const KEY: &str = "a-test-key-of-32-characters-----";

/// `lap views`, killed when dropped.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// GET or POST (a form) with the session cookie; status, `Location`,
/// `Set-Cookie` and body.
async fn call(
    http: &reqwest::Client,
    url: &str,
    cookie: &str,
    form: Option<&str>,
) -> (u16, String, String, String) {
    let req = match form {
        Some(body) => http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string()),
        None => http.get(url),
    };
    let res = req.header("cookie", cookie).send().await.unwrap();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (location, set) = (header("location"), header("set-cookie"));
    (
        res.status().as_u16(),
        location,
        set,
        res.text().await.unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lap_views_serves_a_generated_school_to_its_leader_and_parents() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let opts = Options {
        seed: 3,
        cohorts_per_school: 2,
        learners_per_cohort: 8,
        subjects: 1,
        days: 14,
        ..Options::default()
    };
    write_dir(&opts, &data).unwrap();
    let config = dir.path().join("lap.toml");
    std::fs::write(&config, "").unwrap();
    let lake = dir.path().join("lake");
    let (roster, lake_arg) = (data.join("roster"), lake.to_str().unwrap().to_string());
    let lap = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lap"));
        cmd.arg("--config")
            .arg(&config)
            .args(args)
            .env("LAP_ENRICH_KEY", KEY);
        cmd
    };
    let run = lap(&["run", "--roster", roster.to_str().unwrap(), "--input"])
        .arg(data.join("activity"))
        .args(["--lake", &lake_arg])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let views_args = |listen: &str| {
        let mut cmd = lap(&[
            "views",
            "--roster",
            roster.to_str().unwrap(),
            "--lake",
            &lake_arg,
        ]);
        cmd.args(["--listen", listen]);
        cmd
    };
    let refused = views_args("0.0.0.0:0").output().unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && said.contains("loopback addresses only"),
        "{said}"
    );

    let port = lap_runtime::testkit::free_port();
    let _served = Served(
        views_args(&format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut up = false;
    for _ in 0..300 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "lap views answers within 30 s");

    let (_, _, _, signin) = call(&http, &format!("{base}/signin"), "", None).await;
    for who in [
        "Sign in as Teacher",
        "Sign in as Leader School 0",
        "Sign in as Parent",
    ] {
        assert!(signin.contains(who), "{who} missing:\n{signin}");
    }
    let sign_in = async |person: &str| {
        let (status, _, set, _) = call(
            &http,
            &format!("{base}/signin"),
            "",
            Some(&format!("person={person}")),
        )
        .await;
        assert_eq!(status, 303, "{person}");
        set.split(';').next().unwrap().to_string()
    };

    let leader = sign_in("adm-0").await;
    let (status, _, _, school) = call(&http, &format!("{base}/schools/sch-0"), &leader, None).await;
    assert_eq!(status, 200, "{school}");
    assert!(
        school.contains("Demo School 0") && school.contains("Classes in the newest week"),
        "{school}"
    );
    assert!(
        !school.contains("Learner l-"),
        "no learner's name for a leader"
    );
    let class = school
        .split("href=\"/classes/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a class link");
    let (status, _, _, class_page) =
        call(&http, &format!("{base}/classes/{class}"), &leader, None).await;
    assert_eq!(status, 200);
    assert!(class_page.contains("Trend over the term") && !class_page.contains("Learner l-"));

    let parent_id = signin
        .split("value=\"par-")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a parent");
    let parent = sign_in(&format!("par-{parent_id}")).await;
    let (_, _, _, home) = call(&http, &base, &parent, None).await;
    let child = home
        .split("href=\"/learners/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the parent's child");
    let (status, _, _, page) =
        call(&http, &format!("{base}/learners/{child}"), &parent, None).await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("Learner {parent_id}")), "{page}");
    let (status, _, _, _) = call(&http, &format!("{base}/schools/sch-0"), &parent, None).await;
    assert_eq!(status, 404, "a parent has no school page");

    drop(_served);

    // Digests: nowhere to send is an error that says what to set.
    let digest = |cfg: &std::path::Path| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lap"));
        cmd.arg("--config")
            .arg(cfg)
            .args([
                "digest",
                "--roster",
                roster.to_str().unwrap(),
                "--lake",
                &lake_arg,
            ])
            .args(["--at", "2025-09-15T07:00:00Z"])
            .env("LAP_ENRICH_KEY", KEY);
        cmd.output().unwrap()
    };
    let nowhere = digest(&config);
    let said = String::from_utf8_lossy(&nowhere.stderr);
    assert!(
        !nowhere.status.success() && said.contains("views.digest.smtp_url"),
        "{said}"
    );
    let Some(python) = service(SMTPD_ENV) else {
        return;
    };
    let smtpd = Smtpd::start(&python, dir.path());
    let mailing = dir.path().join("mail.toml");
    std::fs::write(
        &mailing,
        format!(
            "[views.digest]\ndefault_frequency = \"daily\"\nsmtp_url = \"smtp://127.0.0.1:{}\"\nfrom = \"lap@school.lap-demo.example\"\nbase_url = \"https://views.lap-demo.example\"\n",
            smtpd.port
        ),
    )
    .unwrap();
    let first = digest(&mailing);
    let out = String::from_utf8_lossy(&first.stdout).to_string();
    assert!(
        first.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let sent: usize = out
        .strip_prefix("digests: ")
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {out}"));
    assert!(
        sent >= 1,
        "the generated school has flagged learners: {out}"
    );
    let mail = smtpd.messages();
    assert_eq!(mail.len(), sent, "{out}");
    for m in &mail {
        assert!(
            m.contains("To: tch-") && m.contains("https://views.lap-demo.example/classes/"),
            "{m}"
        );
        assert!(!m.contains("Learner l-"), "no learner named: {m}");
    }
    let again = digest(&mailing);
    let out = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.status.success() && out.starts_with("digests: 0 sent, 0 with nothing new"),
        "one digest per day: {out}"
    );
    assert_eq!(smtpd.messages().len(), sent);
}
