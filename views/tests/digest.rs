//! Digests through real parts: a real SMTP server (aiosmtpd, started here),
//! a real HTTP receiver for the webhook, and both stores. A teacher is told
//! once per period, only about flags that are new or worse since their
//! previous digest, never about a flag they resolved; the messages name
//! nobody; a failed delivery is tried again by the next run.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Weekday;
use common::*;
use lap_runtime::config::PostgresConfig;
use lap_runtime::testkit::{POSTGRES_ENV, SMTPD_ENV, Smtpd, service, unique};
use lap_schemas::{EntityKind, Flag, IndicatorRow, WindowKind};
use lap_sink::delta::{DeltaStore, Lake};
use lap_sink::postgres::PgStore;
use lap_sink::rows::Rows;
use lap_sink::store::Store;
use lap_views::digest::Frequency;
use lap_views::notify::{Channels, Mailer, Report, Settings, Webhook, send_due};
use lap_views::store::{Action, FlagAction};
use lap_views::{Backend, SignIn, Views};

const DAY: i64 = 86_400_000_000;
/// Monday 2026-09-21, the day of the first digests (UTC).
const D0: i64 = MONDAY + 2 * WEEK;
const SEVEN_AM: i64 = 7 * 3_600_000_000;

/// A webhook receiver on 127.0.0.1: keeps each request's authorization
/// header and body, and answers with the status set in `status`.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
    status: Arc<AtomicU16>,
}

async fn receiver() -> Receiver {
    let got: Arc<Mutex<Vec<(String, serde_json::Value)>>> = Arc::default();
    let status = Arc::new(AtomicU16::new(204));
    let (g, s) = (got.clone(), status.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::Json<serde_json::Value>| {
                let (g, s) = (g.clone(), s.clone());
                async move {
                    let auth = headers
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_string())
                        .unwrap_or_default();
                    g.lock().unwrap().push((auth, body.0));
                    axum::http::StatusCode::from_u16(s.load(Ordering::SeqCst)).unwrap()
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url, got, status }
}

/// A daily learner row of class c1 on `day` carrying `flags`.
fn daily(learner: &str, day: i64, flags: Vec<Flag>) -> IndicatorRow {
    IndicatorRow {
        table_name: "learner_daily".into(),
        window_kind: WindowKind::Daily,
        window_start: day,
        window_end: day + DAY,
        time_zone: "UTC".into(),
        entity_kind: EntityKind::Learner,
        entity_id: p(learner),
        class_id: Some("c1".into()),
        school_id: Some("s1".into()),
        revision: 1,
        is_final: false,
        emitted_time: day + DAY,
        contributors: 1,
        suppressed: false,
        indicators: Default::default(),
        flags,
        cleared_flags: vec![],
        newest_event_time: Some(day + 3_600_000_000),
    }
}

fn flag(code: &str, evidence: &[(&str, f64)]) -> Flag {
    Flag {
        code: code.into(),
        reason: format!("{code} (test)"),
        evidence: evidence.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

fn daily_rows(rows: Vec<IndicatorRow>) -> Rows {
    let mut r = Rows::default();
    r.indicators.insert("learner_daily", rows);
    r
}

/// The scenario over one store: `write` adds rows to it.
async fn digests_tell_what_is_new_or_worse<W, F>(backend: Backend, write: W, smtpd: &Smtpd)
where
    W: Fn(Rows) -> F,
    F: std::future::Future<Output = ()>,
{
    let roster = tempfile::tempdir().unwrap();
    write_roster(roster.path());
    let views = Views::new(
        directory(roster.path()),
        backend,
        lap_views::Options {
            min_group_size: 5,
            sign_in: SignIn::Demo,
            digest_default: Frequency::Weekly,
        },
    );
    let hook = receiver().await;
    let settings = Settings {
        base_url: "https://views.birch.example".into(),
        default: Frequency::Weekly,
        weekly_day: Weekday::Mon,
        time_zone: "UTC".parse().unwrap(),
    };
    let channels = Channels {
        mail: Some(
            Mailer::new(
                &format!("smtp://127.0.0.1:{}", smtpd.port),
                None,
                "lap@birch.example",
            )
            .unwrap(),
        ),
        webhook: Some(Webhook::new(&hook.url, Some("hook-token".into()))),
    };
    let b = views.backend();
    // Tove chose daily digests; Uma keeps the weekly default.
    b.set_digest_pref("t1", Frequency::Daily, D0 - DAY)
        .await
        .unwrap();

    // Day 0: Lea inactive for 5 days.
    write(daily_rows(vec![daily(
        "l1",
        D0 - DAY,
        vec![flag(
            "inactive",
            &[("days_inactive", 5.0), ("threshold", 5.0)],
        )],
    )]))
    .await;
    let r = send_due(&views, &settings, &channels, D0 + SEVEN_AM)
        .await
        .unwrap();
    assert_eq!(
        r,
        Report {
            sent: vec!["t1".into()],
            quiet: vec!["t2".into()],
            ..Report::default()
        },
        "Tove is told of Lea's flag; Uma's class has none"
    );
    let mail = smtpd.messages();
    assert_eq!(mail.len(), 1);
    assert!(mail[0].contains("To: tove@birch.example"), "{}", mail[0]);
    assert!(
        mail[0].contains(
            "Subject: lap: 1 new and 0 worsening early-warning flag in your classes (2026-09-21)"
        ),
        "{}",
        mail[0]
    );
    assert!(
        mail[0].contains("Maths 7A (c1)\n  - No recent activity: 1 new\n  See who and why: https://views.birch.example/classes/c1\n"),
        "{}",
        mail[0]
    );
    {
        let got = hook.got.lock().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "Bearer hook-token");
        let body = &got[0].1;
        assert_eq!(body["kind"], "lap.digest");
        assert_eq!(body["teacher"], "t1");
        assert_eq!(body["period"], "2026-09-21");
        assert_eq!(body["classes"][0]["class_id"], "c1");
        assert_eq!(body["classes"][0]["new"]["inactive"], 1);
        assert_eq!(
            body["classes"][0]["url"],
            "https://views.birch.example/classes/c1"
        );
    }

    // The same morning again: nothing twice.
    let r = send_due(&views, &settings, &channels, D0 + SEVEN_AM + 3_600_000_000)
        .await
        .unwrap();
    assert_eq!(r, Report::default());
    assert_eq!(smtpd.messages().len(), 1);

    // Day 1: Lea a day more inactive (worse), Leo misses two hand-ins
    // (new), Lyn's low well-being was resolved by Tove (not told). The
    // webhook is down: the run fails for Tove and records nothing.
    write(daily_rows(vec![
        daily(
            "l1",
            D0,
            vec![flag(
                "inactive",
                &[("days_inactive", 6.0), ("threshold", 5.0)],
            )],
        ),
        daily(
            "l2",
            D0,
            vec![flag(
                "missing_submissions",
                &[("missing", 2.0), ("threshold", 2.0)],
            )],
        ),
        daily(
            "l5",
            D0,
            vec![flag(
                "low_wellbeing",
                &[("wellbeing_index", 0.3), ("threshold", 0.4)],
            )],
        ),
    ]))
    .await;
    b.record_flag_action(&FlagAction {
        at: D0 + DAY,
        viewer: "t1".into(),
        person_key: p("l5"),
        class_id: Some("c1".into()),
        code: "low_wellbeing".into(),
        action: Action::Resolved,
        window_start: D0,
        note: "talked with the family".into(),
    })
    .await
    .unwrap();
    hook.status.store(503, Ordering::SeqCst);
    let r = send_due(&views, &settings, &channels, D0 + DAY + SEVEN_AM)
        .await
        .unwrap();
    assert_eq!(r.failed.len(), 1, "{r:?}");
    assert_eq!(r.failed[0].0, "t1");
    assert!(r.failed[0].1.contains("503"), "{r:?}");
    hook.status.store(204, Ordering::SeqCst);
    let r = send_due(
        &views,
        &settings,
        &channels,
        D0 + DAY + SEVEN_AM + 60_000_000,
    )
    .await
    .unwrap();
    assert_eq!(r.sent, ["t1"], "{r:?}");
    let last = smtpd.messages().pop().unwrap();
    assert!(
        last.contains(
            "Maths 7A (c1)\n  - Missing submissions: 1 new\n  - No recent activity: 1 worse\n"
        ),
        "{last}"
    );
    assert!(
        !last.contains("well-being"),
        "a resolved flag is not news: {last}"
    );
    let body = hook.got.lock().unwrap().last().unwrap().1.clone();
    assert_eq!(body["classes"][0]["worse"]["inactive"], 1);
    assert_eq!(body["classes"][0]["new"]["missing_submissions"], 1);

    // Day 2: nothing changed: recorded, nothing sent.
    let before = smtpd.messages().len();
    let r = send_due(&views, &settings, &channels, D0 + 2 * DAY + SEVEN_AM)
        .await
        .unwrap();
    assert_eq!(r.quiet, ["t1"], "{r:?}");
    assert_eq!(smtpd.messages().len(), before);

    // Nothing sent names a learner or carries a pseudonym; the webhook
    // names no teacher either (roster sourcedIds only).
    let learners = ["Lea", "Leo", "Lin", "Lou", "Lyn", "Oli", "Lund", "Lind"];
    for m in smtpd.messages() {
        for w in learners {
            assert!(!m.contains(w), "{w} in {m}");
        }
        assert!(!m.contains(&p("l1")) && !m.contains(&p("l2")), "{m}");
    }
    let sent = serde_json::to_string(&*hook.got.lock().unwrap()).unwrap();
    for w in PERSONAL {
        assert!(!sent.contains(w), "{w} in {sent}");
    }
    assert!(!sent.contains(&p("l1")), "{sent}");
}

fn smtpd(dir: &Path) -> Option<Smtpd> {
    service(SMTPD_ENV).map(|python| Smtpd::start(&python, dir))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(smtpd) = smtpd(tmp.path()) else {
        return;
    };
    let lake = Lake::local(tmp.path().join("lake"));
    digests_tell_what_is_new_or_worse(
        Backend::lake(lake.clone()),
        |rows| {
            let lake = lake.clone();
            async move {
                DeltaStore::new(lake).write(&rows).await.unwrap();
            }
        },
        &smtpd,
    )
    .await;
    assert_eq!(
        personal_data_in(&tmp.path().join("lake")),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_postgres() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(url), Some(smtpd)) = (service(POSTGRES_ENV), smtpd(tmp.path())) else {
        return;
    };
    let schema = unique("digest").replace('-', "_");
    let cfg = PostgresConfig {
        enabled: true,
        url: url.clone(),
        schema: schema.clone(),
        ..PostgresConfig::default()
    };
    let writer = tokio::sync::Mutex::new(PgStore::new(&cfg, None).unwrap());
    digests_tell_what_is_new_or_worse(
        Backend::postgres(PgStore::new(&cfg, None).unwrap()),
        |rows| {
            let writer = &writer;
            async move {
                writer.lock().await.write(&rows).await.unwrap();
            }
        },
        &smtpd,
    )
    .await;
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let n: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM {schema}.views_digests WHERE person = 't1'"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3, "one record per day, none for the failed attempt");
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}
