//! The PostgreSQL store against the real server `tests/run.sh` provides:
//! idempotent replays, highest revision wins, migrations, analyst views.

mod common;

use common::{DAY, Db, MONDAY, class_row, event, flagged, indicator_row, rows};
use lap_schemas::{Action, EnrichedEvent, IndicatorRow, Role, SourceStandard, WindowKind};
use lap_sink::rows::Rows;
use lap_sink::store::{Store, StoreError};
use tokio_postgres::types::FromSql;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_batch_changes_nothing() {
    let Some(db) = Db::new().await else { return };
    let mut store = db.store();
    let batch = rows(
        vec![
            indicator_row("p1", 0, 10, 0.5),
            indicator_row("p2", 0, 10, 0.75),
            class_row("class-1", 0, 10, Some(0.6)),
        ],
        vec![event("e1", "p1", 0.5), event("e2", "p2", 0.75)],
    );
    let first = store.write(&batch).await.unwrap();
    assert_eq!(first.indicators_changed.get("learner_weekly"), Some(&2));
    assert_eq!(first.indicators_changed.get("class_weekly"), Some(&1));
    assert_eq!(first.events_inserted, 2);
    assert_eq!(
        first.took.keys().copied().collect::<Vec<_>>(),
        ["class_weekly", "events", "learner_weekly"],
        "each table written is timed"
    );
    let tables = ["learner_weekly", "class_weekly", "events"];
    let mut before = Vec::new();
    for t in tables {
        before.push(db.snapshot(t).await);
    }

    let again = store.write(&batch).await.unwrap();
    assert_eq!(again.indicators_changed.get("learner_weekly"), Some(&0));
    assert_eq!(again.indicators_changed.get("class_weekly"), Some(&0));
    assert_eq!(again.events_inserted, 0);
    // A new store (a restarted sink) replaying the same batch.
    db.store().write(&batch).await.unwrap();
    for (t, snapshot) in tables.iter().zip(before) {
        assert_eq!(db.snapshot(t).await, snapshot, "{t} changed on replay");
    }

    // What an analyst reads back: timestamps exact to the µs, arrays, JSON.
    let row = db
        .client
        .query_one(
            "SELECT window_start = timestamptz '2026-09-07 00:00:00+00', indicators->>'mean_score',
                    indicators->'attendance_rate' = 'null'::jsonb, revision
             FROM learner_weekly WHERE entity_id = 'p2'",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    assert_eq!(row.get::<_, &str>(1), "0.75");
    assert!(row.get::<_, bool>(2));
    assert_eq!(row.get::<_, i64>(3), 10);
    let e = db
        .client
        .query_one(
            "SELECT event_time - timestamptz '2026-09-07 00:00:00+00' = interval '1 hour',
                    objective_ids, subject_codes, duration_ms, action, source, score_scaled
             FROM events WHERE event_id = 'e1'",
            &[],
        )
        .await
        .unwrap();
    assert!(e.get::<_, bool>(0));
    assert_eq!(e.get::<_, Vec<String>>(1), ["obj-1", "obj-2"]);
    assert_eq!(e.get::<_, Vec<String>>(2), ["MATH"]);
    assert_eq!(e.get::<_, i64>(3), 61_000);
    assert_eq!(e.get::<_, &str>(4), "scored");
    assert_eq!(e.get::<_, &str>(5), "xapi");
    assert_eq!(e.get::<_, f64>(6), 0.5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_stored_and_new_events_inserts_the_new_ones() {
    let Some(db) = Db::new().await else { return };
    let mut store = db.store();
    let first = rows(vec![], vec![event("e1", "p1", 0.5)]);
    assert_eq!(store.write(&first).await.unwrap().events_inserted, 1);
    // The plain insert fails on e1's key; the insert that skips stored ids
    // takes over in the same transaction, which also holds an upsert.
    let mut stored = event("e1", "p1", 0.5);
    stored.score_scaled = Some(0.9); // a replay brings the stored version back
    let mixed = rows(
        vec![indicator_row("p1", 0, 1, 0.5)],
        vec![stored, event("e2", "p2", 0.75), event("e3", "p3", 0.25)],
    );
    let written = store.write(&mixed).await.unwrap();
    assert_eq!(written.events_inserted, 2);
    assert_eq!(written.indicators_changed.get("learner_weekly"), Some(&1));
    let held: Vec<(String, f64)> = pairs(
        &db,
        "SELECT event_id, score_scaled FROM events ORDER BY event_id",
    )
    .await;
    let held: Vec<(&str, f64)> = held.iter().map(|(id, s)| (id.as_str(), *s)).collect();
    assert_eq!(held, [("e1", 0.5), ("e2", 0.75), ("e3", 0.25)]);
    assert_eq!(db.count("learner_weekly").await, 1);
}

async fn score(db: &Db) -> (i64, f64) {
    let r = db
        .client
        .query_one(
            "SELECT revision, (indicators->>'mean_score')::float8 FROM learner_weekly",
            &[],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_highest_revision_wins_in_any_order() {
    let Some(db) = Db::new().await else { return };
    let mut store = db.store();
    let write = |rev: i64, s: f64| rows(vec![indicator_row("p1", 0, rev, s)], vec![]);

    store.write(&write(5, 0.5)).await.unwrap();
    let stale = store.write(&write(3, 0.3)).await.unwrap();
    assert_eq!(stale.indicators_changed.get("learner_weekly"), Some(&0));
    assert_eq!(score(&db).await, (5, 0.5));
    let same = store.write(&write(5, 0.9)).await.unwrap();
    assert_eq!(
        same.indicators_changed.get("learner_weekly"),
        Some(&0),
        "equal revision is not newer"
    );
    assert_eq!(score(&db).await, (5, 0.5));
    store.write(&write(7, 0.7)).await.unwrap();
    assert_eq!(score(&db).await, (7, 0.7));
    assert_eq!(db.count("learner_weekly").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_without_a_class_have_their_own_key() {
    let Some(db) = Db::new().await else { return };
    let mut store = db.store();
    let mut no_class = indicator_row("p1", 0, 1, 0.1);
    no_class.class_id = None;
    let batch = rows(
        vec![no_class.clone(), indicator_row("p1", 0, 1, 0.9)],
        vec![],
    );
    store.write(&batch).await.unwrap();
    no_class.revision = 2;
    no_class.indicators.insert("mean_score".into(), Some(0.2));
    store.write(&rows(vec![no_class], vec![])).await.unwrap();
    let got: Vec<(Option<String>, i64)> = pairs(
        &db,
        "SELECT class_id, revision FROM learner_weekly ORDER BY class_id NULLS FIRST",
    )
    .await;
    assert_eq!(got, [(None, 2), (Some("class-1".into()), 1)]);
}

/// Every column read back holds what the record says, for an event with
/// every optional field set (distinct values, so two columns swapped in
/// the write show) and one with none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_column_holds_what_the_record_says() {
    let Some(db) = Db::new().await else { return };
    let full = EnrichedEvent {
        source: SourceStandard::Caliper,
        spec_version: "1.2".into(),
        role: Role::Teacher,
        course_id: Some("course-\"7\"".into()),
        term_id: Some("term-1".into()),
        subject_codes: vec!["MATH".into(), "SCI".into()],
        grades: vec!["07".into()],
        action: Action::Submitted,
        object_type: Some("AssignableDigitalResource".into()),
        object_name: Some("Brüche, Übung 3".into()),
        score_raw: Some(7.5),
        score_min: Some(1.5),
        score_max: Some(9.5),
        success: Some(false),
        response_value: Some(3.25),
        response_text: Some("it's 'quoted'".into()),
        registration: Some("reg-1".into()),
        session_id: Some("session-1".into()),
        due_time: Some(MONDAY + 5 * DAY + 1),
        voids: Some("e-voided".into()),
        ..event("e-full", "p1", 0.25)
    };
    let bare = EnrichedEvent {
        school_id: None,
        class_id: None,
        subject_codes: vec![],
        objective_ids: vec![],
        score_scaled: None,
        completion: None,
        duration_ms: None,
        ..event("e-bare", "p2", 0.0)
    };
    let batch = rows(vec![], vec![full.clone(), bare.clone()]);
    assert_eq!(db.store().write(&batch).await.unwrap().events_inserted, 2);
    for e in [full, bare] {
        let times = ["event_time", "stored_time", "due_time"];
        let stored = stored_json(&db, "events", "event_id", &e.event_id, &times).await;
        assert_eq!(stored, serde_json::to_value(&e).unwrap(), "{}", e.event_id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_indicator_column_holds_what_the_row_says() {
    let Some(db) = Db::new().await else { return };
    let learner = IndicatorRow {
        table_name: "learner_daily".into(),
        window_kind: WindowKind::Daily,
        window_end: MONDAY + DAY,
        time_zone: "Europe/Berlin".into(),
        school_id: Some("school-\"7\"".into()),
        is_final: true,
        emitted_time: MONDAY + 2 * DAY + 17,
        ..flagged(indicator_row("p-ü", 0, 3, 0.25), "low_engagement")
    };
    let class = IndicatorRow {
        suppressed: true,
        contributors: 4,
        school_id: None,
        ..class_row("class-'9'", 1, 5, None)
    };
    let batch = rows(vec![learner.clone(), class.clone()], vec![]);
    let written = db.store().write(&batch).await.unwrap();
    assert_eq!(written.indicators_changed.get("learner_daily"), Some(&1));
    assert_eq!(written.indicators_changed.get("class_weekly"), Some(&1));
    for row in [learner, class] {
        let mut expected = serde_json::to_value(&row).unwrap();
        expected.as_object_mut().unwrap().remove("table_name");
        let times = ["window_start", "window_end", "emitted_time"];
        let stored = stored_json(&db, &row.table_name, "entity_id", &row.entity_id, &times).await;
        assert_eq!(stored, expected, "{}", row.table_name);
    }
}

/// The two columns of every row `sql` returns.
async fn pairs<A, B>(db: &Db, sql: &str) -> Vec<(A, B)>
where
    A: for<'a> FromSql<'a>,
    B: for<'a> FromSql<'a>,
{
    let rows = db.client.query(sql, &[]).await.unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// The row of `table` whose `key_column` is `key`, as JSON, with the
/// timestamp columns `times` as µs since the epoch, as the records carry
/// them.
async fn stored_json(
    db: &Db,
    table: &str,
    key_column: &str,
    key: &str,
    times: &[&str],
) -> serde_json::Value {
    let micros: Vec<String> = times
        .iter()
        .map(|c| format!("'{c}', (extract(epoch FROM {c}) * 1000000)::bigint"))
        .collect();
    let sql = format!(
        "SELECT (to_jsonb(r) || jsonb_build_object({}))::text FROM {table} r WHERE {key_column} = $1",
        micros.join(", ")
    );
    let text: String = db.client.query_one(&sql, &[&key]).await.unwrap().get(0);
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_and_refuse_an_edited_history() {
    let Some(db) = Db::new().await else { return };
    db.store().write(&Rows::default()).await.unwrap();
    db.store().write(&Rows::default()).await.unwrap();
    let applied: Vec<i32> = db
        .client
        .query("SELECT version FROM lap_migrations ORDER BY version", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let expected: Vec<i32> = lap_sink::postgres::MIGRATIONS
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(applied, expected);

    db.client
        .execute(
            "UPDATE lap_migrations SET sql = sql || ' ' WHERE version = 1",
            &[],
        )
        .await
        .unwrap();
    let err = db.store().write(&Rows::default()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Migration { version: 1, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("never edit an applied migration"),
        "{err}"
    );

    db.client
        .batch_execute(
            "UPDATE lap_migrations SET sql = trim(trailing ' ' from sql) WHERE version = 1;
             INSERT INTO lap_migrations (version, name, sql) VALUES (999, 'future.sql', '')",
        )
        .await
        .unwrap();
    let err = db.store().write(&Rows::default()).await.unwrap_err();
    assert!(err.to_string().contains("newer lap-sink"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyst_views_show_latest_weeks_and_open_flags() {
    let Some(db) = Db::new().await else { return };
    let batch = rows(
        vec![
            flagged(indicator_row("p1", 0, 1, 0.2), "falling_scores"),
            flagged(indicator_row("p1", 1, 1, 0.1), "low_wellbeing"),
            indicator_row("p2", 1, 1, 0.8),
            class_row("class-1", 0, 1, Some(0.4)),
            class_row("class-1", 1, 1, None),
        ],
        vec![],
    );
    db.store().write(&batch).await.unwrap();

    // Only week 1's flag is open: week 0 is no longer the class's latest.
    let flags: Vec<(String, String, String)> = db
        .client
        .query("SELECT person_key, code, window_kind FROM open_flags", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        flags,
        [("p1".into(), "low_wellbeing".into(), "weekly".into())]
    );

    let latest = db
        .client
        .query_one(
            "SELECT window_start = timestamptz '2026-09-14 00:00:00+00', indicators->'mean_score' = 'null'::jsonb
             FROM class_weekly_latest WHERE entity_id = 'class-1'",
            &[],
        )
        .await
        .unwrap();
    assert!(latest.get::<_, bool>(0) && latest.get::<_, bool>(1));

    let values: Vec<(String, String, Option<f64>)> = db
        .client
        .query(
            "SELECT entity_id, indicator, value FROM indicator_values
             WHERE table_name = 'learner_weekly' AND window_start > $1::text::timestamptz
             ORDER BY entity_id, indicator",
            &[&"2026-09-08T00:00:00Z"],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        values,
        [
            ("p1".into(), "attendance_rate".into(), None),
            ("p1".into(), "mean_score".into(), Some(0.1)),
            ("p2".into(), "attendance_rate".into(), None),
            ("p2".into(), "mean_score".into(), Some(0.8)),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_configuration_says_what_to_fix() {
    let Some(db) = Db::new().await else { return };
    let mut cfg = db.config.clone();
    cfg.schema = "Lap-Prod".into();
    let err = lap_sink::postgres::PgStore::new(&cfg, None).err().unwrap();
    assert!(err.to_string().contains("sink.postgres.schema"), "{err}");
    cfg.schema = "lap".into();
    cfg.url = "postgres://lap:hunter2@db/lap".into();
    let err = lap_sink::postgres::PgStore::new(&cfg, None).err().unwrap();
    assert!(err.to_string().contains("LAP_POSTGRES_PASSWORD"), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

/// The DNS name the server's certificate is issued to (`openssl x509`),
/// or why the TLS test cannot run.
fn certificate_name(pem: &str) -> Result<String, String> {
    let out = std::process::Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-ext",
            "subjectAltName",
            "-subject",
            "-in",
            pem,
        ])
        .output()
        .map_err(|e| format!("no openssl command ({e})"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split([',', '\n'])
        .find_map(|p| p.trim().strip_prefix("DNS:"))
        .or_else(|| text.lines().find_map(|l| l.split("CN = ").nth(1)))
        .map(|n| n.trim().to_string())
        .ok_or_else(|| format!("no name in {pem}: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_encrypts_and_verifies_the_server() {
    let Some(db) = Db::new().await else { return };
    let show = |setting: &'static str| async {
        let row = db.client.query_one(setting, &[]).await.unwrap();
        row.get::<_, String>(0)
    };
    if show("SHOW ssl").await != "on" {
        eprintln!("skipped: the test server runs with ssl = off");
        return;
    }
    let pem = show("SHOW ssl_cert_file").await;
    let name = match std::fs::File::open(&pem)
        .map_err(|e| e.to_string())
        .and_then(|_| certificate_name(&pem))
    {
        Ok(n) => n,
        Err(why) => {
            eprintln!("skipped: cannot read the server certificate {pem}: {why}");
            return;
        }
    };
    let url: tokio_postgres::Config = db.config.url.parse().unwrap();
    let (user, dbname) = (url.get_user().unwrap(), url.get_dbname().unwrap());
    let port = url.get_ports()[0];
    let with = |host: &str, root: &str| {
        let mut cfg = db.config.clone();
        cfg.url = format!(
            "host={host} hostaddr=127.0.0.1 port={port} user={user} dbname={dbname} sslmode=require"
        );
        cfg.ssl_root_cert = root.to_string();
        lap_sink::postgres::PgStore::new(&cfg, None).unwrap()
    };

    // Trusted and named for its host: connected, migrated, encrypted.
    let mut store = with(&name, &pem);
    store.write(&Rows::default()).await.unwrap();
    let encrypted: i64 = db
        .client
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = 'lap-sink' AND s.ssl",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(encrypted >= 1, "no TLS connection of lap-sink");

    // Signed by another CA, or not issued to the host: refused, saying why.
    let other = tempfile::tempdir().unwrap();
    let other_ca = other.path().join("ca.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=another CA",
        ])
        .arg("-keyout")
        .arg(other.path().join("ca.key"))
        .arg("-out")
        .arg(&other_ca)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let other_ca = other_ca.to_str().unwrap();
    for (host, root, why) in [
        (name.as_str(), other_ca, "UnknownIssuer"),
        ("127.0.0.1", pem.as_str(), "not valid for name"),
    ] {
        let err = with(host, root).write(&Rows::default()).await.unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, StoreError::Connect { .. }) && text.contains("TLS") && text.contains(why),
            "{host} with root {root:?}: {text}"
        );
    }
    let mut cfg = db.config.clone();
    cfg.url.push_str("?sslmode=require");
    cfg.ssl_root_cert = "/nonexistent/ca.pem".into();
    let err = lap_sink::postgres::PgStore::new(&cfg, None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("sink.postgres.ssl_root_cert /nonexistent/ca.pem"),
        "{err}"
    );
}
