//! `lap erase` and `lap retention apply` against the real PostgreSQL, a
//! Delta lake directory and the real broker: after an erasure no table of
//! either store — and no Parquet file left in the lake, referenced or not —
//! holds the learner; their roster records and aggregate history get
//! tombstones; the audit records hold no personal data; a second run
//! changes nothing. Retention deletes exactly the rows past each table's
//! retention in both stores.

mod common;
#[path = "../sink/tests/common/mod.rs"]
mod store;

use std::io::Write;
use std::path::Path;

use bytes::Bytes;
use common::{export_dir, lap};
use lap_enrich::pseudonym::Pseudonymiser;
use lap_runtime::config::Secret;
use lap_runtime::testkit;
use lap_runtime::transport::kafka::KafkaSink;
use lap_runtime::transport::{OutRecord, RecordSink};
use lap_sink::delta::DeltaStore;
use lap_sink::deltalake::arrow::util::pretty::pretty_format_batches;
use lap_sink::deltalake::datafusion::prelude::{ParquetReadOptions, SessionContext};
use lap_sink::store::Store;
use store::{DAY, Db, MONDAY, class_row, event, flagged, indicator_row, rows};

const KEY: &str = "a-test-key-of-32-characters-----";

/// A config for the stores (and the broker's roster and state topics).
fn config(db: &Db, lake: &Path, extra: &str) -> (tempfile::NamedTempFile, tempfile::NamedTempFile) {
    let mut key = tempfile::NamedTempFile::new().unwrap();
    key.write_all(KEY.as_bytes()).unwrap();
    let text = format!(
        r#"{extra}
[enrich]
tenant = "t1"
key_file = "{}"
[sink.lake]
path = "{}"
[sink.postgres]
enabled = true
url = "{}"
schema = "{}"
"#,
        key.path().display(),
        lake.display(),
        db.config.url,
        db.config.schema
    );
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    (file, key)
}

/// Every row of every base table of the test schema as text, per table.
async fn pg_tables(db: &Db) -> Vec<(String, String)> {
    let names = db
        .client
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
            &[&db.config.schema],
        )
        .await
        .unwrap();
    let mut out = Vec::new();
    for n in names {
        let table: String = n.get(0);
        let mut text: Vec<String> = db
            .client
            .query(&format!("SELECT to_jsonb(t)::text FROM {table} t"), &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        text.sort();
        out.push((table, text.join("\n")));
    }
    out
}

/// Access records and a flag action of the views service in the lake,
/// about the learners `gone` and `kept`.
fn write_views_records(lake: &Path, gone: &str, kept: &str) {
    let dir = lake.join("_lap_views");
    std::fs::create_dir_all(&dir).unwrap();
    let access = |key: &str| {
        format!(
            r#"{{"at":1,"viewer":"t1","role":"teacher","person_key":"{key}","view":"learner"}}"#
        )
    };
    std::fs::write(
        dir.join("access.jsonl"),
        format!("{}\n{}\n", access(gone), access(kept)),
    )
    .unwrap();
    std::fs::write(
        dir.join("groups.jsonl"),
        format!(
            r#"{{"id":"g1","created_at":1,"owner":"t1","class_id":"c1","name":"readers","members":["{gone}","{kept}"],"shared_with":[]}}"#
        ) + "\n",
    )
    .unwrap();
    let noted = |key: &str| {
        format!(
            r#"{{"person":"t1","period":"2026-W50","person_key":"{key}","class_id":"c1","code":"inactive","window_kind":"daily","value":5.0}}"#
        )
    };
    std::fs::write(
        dir.join("digest-flags.jsonl"),
        format!("{}\n{}\n", noted(gone), noted(kept)),
    )
    .unwrap();
    std::fs::write(
        dir.join("flag-actions.jsonl"),
        format!(
            r#"{{"at":1,"viewer":"t1","person_key":"{gone}","class_id":"c1","code":"inactive","action":"resolved","window_start":0,"note":"called home"}}"#
        ) + "\n",
    )
    .unwrap();
}

/// The views service's lake records keep `kept`'s lines and lose `gone`'s.
fn assert_views_records_erased(lake: &Path, gone: &str, kept: &str) {
    let access = std::fs::read_to_string(lake.join("_lap_views/access.jsonl")).unwrap();
    assert!(!access.contains(gone) && access.contains(kept), "{access}");
    let actions = std::fs::read_to_string(lake.join("_lap_views/flag-actions.jsonl")).unwrap();
    assert!(actions.is_empty(), "{actions}");
    let noted = std::fs::read_to_string(lake.join("_lap_views/digest-flags.jsonl")).unwrap();
    assert!(!noted.contains(gone) && noted.contains(kept), "{noted}");
    let groups = std::fs::read_to_string(lake.join("_lap_views/groups.jsonl")).unwrap();
    assert!(
        !groups.contains(gone) && groups.contains(kept) && groups.contains("readers"),
        "the group keeps its other members: {groups}"
    );
}

/// The text of every Parquet file under `dir`, referenced by a table
/// version or not: what is still on disk.
async fn parquet_text(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            Box::pin(parquet_text(&path, out)).await;
        } else if path.extension().is_some_and(|x| x == "parquet") {
            let batches = SessionContext::new()
                .read_parquet(path.to_str().unwrap(), ParquetReadOptions::default())
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            let text = pretty_format_batches(&batches).unwrap().to_string();
            out.push((path.display().to_string(), text));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erase_removes_a_learner_from_both_stores_and_the_topics() {
    let Some(bootstrap) = testkit::service(testkit::KAFKA_ENV) else {
        return;
    };
    let Some(db) = Db::new().await else {
        return;
    };
    let kafka = testkit::kafka_config(&bootstrap);
    let [roster, state] = ["roster", "state"].map(testkit::unique);
    testkit::create_topic(&kafka, &roster, 2).await;
    testkit::create_topic(&kafka, &state, 1).await;
    let lake = tempfile::tempdir().unwrap();
    let topics = format!(
        "[kafka]\nbootstrap_servers = \"{bootstrap}\"\n[topics.roster]\nname = \"{roster}\"\n\
         [topics.aggregate_state]\nname = \"{state}\""
    );
    let (file, _key) = config(&db, lake.path(), &topics);
    let (ok, out) = lap(
        file.path(),
        &["roster", "load", export_dir().to_str().unwrap()],
    );
    assert!(ok, "{out}");

    // u1 is amara.okafor; u2 stays. Someone's event has u1 as its object,
    // keyed (as enrich keys person objects) by the identifier it used.
    let keys = Pseudonymiser::new(&Secret::new(KEY)).unwrap();
    let (gone, kept) = (keys.key("t1", "u1"), keys.key("t1", "u2"));
    let as_object = format!("person:{}", keys.key("t1", "amara.okafor"));
    let sink = KafkaSink::new(&kafka, "test").unwrap();
    for learner in [&gone, &kept] {
        let key = format!(r#"learner:{{"kind":"weekly","class":"c7a","learner":"{learner}"}}"#);
        let rec = OutRecord::new(
            state.as_str().into(),
            Some(Bytes::from(key)),
            Bytes::from("{}"),
        );
        sink.send(rec).await.unwrap().await.unwrap();
    }
    // The class's history names both learners under one key; the newest
    // owner's epoch (9) is on the task record.
    let class_key = r#"class:"c7a""#;
    let class_history = format!(
        r#"7 {{"active_days":[0],"last_active":{{"{gone}":0,"{kept}":0}},"attendance":{{"{gone}":{{"0":true}},"{kept}":{{"0":false}}}},"assignments":{{"a1":[0,5]}},"submitted":{{"{gone}":{{"a1":1}}}}}}"#
    );
    for (key, value) in [
        (class_key, class_history),
        (
            "task",
            r#"9 {"final_watermark":0,"read_below":3}"#.to_string(),
        ),
    ] {
        let rec = OutRecord::new(
            state.as_str().into(),
            Some(Bytes::from(key.to_string())),
            Bytes::from(value),
        );
        sink.send(rec).await.unwrap().await.unwrap();
    }
    // Junk on the roster topic must not block an erasure.
    let junk = OutRecord::new(
        roster.as_str().into(),
        Some(Bytes::from("t1/user/junk")),
        Bytes::from("not avro"),
    );
    sink.send(junk).await.unwrap().await.unwrap();
    let mut about = event("e3", &kept, 0.9);
    about.object_id = as_object.clone();
    let batch = rows(
        vec![
            indicator_row(&gone, 0, 1, 0.5),
            flagged(indicator_row(&gone, 1, 1, 0.2), "low_score"),
            indicator_row(&kept, 0, 1, 0.9),
            class_row("class-1", 0, 1, Some(0.7)),
        ],
        vec![event("e1", &gone, 0.5), event("e2", &kept, 0.9), about],
    );
    DeltaStore::new(lake.path()).write(&batch).await.unwrap();
    db.store().write(&batch).await.unwrap();
    // What the views service recorded about both learners.
    for key in [&gone, &kept] {
        db.client
            .execute(
                "INSERT INTO views_access (at, viewer, role, person_key, view) \
                 VALUES (now(), 't1', 'teacher', $1, 'learner')",
                &[key],
            )
            .await
            .unwrap();
        db.client
            .execute(
                "INSERT INTO views_digest_flags (person, period, person_key, class_id, code, window_kind, value) \
                 VALUES ('t1', '2026-W50', $1, 'c1', 'inactive', 'daily', 5)",
                &[key],
            )
            .await
            .unwrap();
    }
    db.client
        .execute(
            "INSERT INTO views_flag_actions (at, viewer, person_key, class_id, code, action, window_start, note) \
             VALUES (now(), 't1', $1, 'c1', 'inactive', 'resolved', now(), 'called home')",
            &[&gone],
        )
        .await
        .unwrap();
    db.client
        .execute(
            "INSERT INTO views_groups (id, created_at, owner, class_id, name, members) \
             VALUES ('g1', now(), 't1', 'c1', 'readers', ARRAY[$1, $2])",
            &[&gone, &kept],
        )
        .await
        .unwrap();
    write_views_records(lake.path(), &gone, &kept);

    let (ok, out) = lap(
        file.path(),
        &[
            "erase",
            "--learner",
            "amara.okafor",
            "--reference",
            "DPO-2026-17",
        ],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("learner found by roster identity; 4 roster records, 2 class memberships"),
        "{out}"
    );
    assert!(out.contains("skipped 1 records on"), "{out}");
    for line in [
        "lake      learner_weekly   deleted 2 rows",
        "lake      events           deleted 2 rows",
        "lake      class_weekly     deleted 0 rows",
        "postgres  learner_weekly   deleted 2 rows",
        "postgres  events           deleted 2 rows",
        "postgres  class_weekly     deleted 0 rows",
    ] {
        assert!(out.contains(line), "{line}:\n{out}");
    }
    assert!(
        out.contains(&format!("kafka     {roster} published 6 tombstones")),
        "{out}"
    );
    assert!(
        out.contains(&format!("kafka     {state} published 1 tombstones")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "kafka     {state} published 1 class histories without the learner"
        )),
        "{out}"
    );
    // The class's latest record keeps the other learner, with the
    // partition's highest epoch so a restoring owner takes it.
    let latest = testkit::read_topic(&bootstrap, &state)
        .await
        .into_iter()
        .filter(|m| m.key.as_deref() == Some(class_key.as_bytes()))
        .last()
        .and_then(|m| m.payload)
        .map(|v| String::from_utf8(v.to_vec()).unwrap())
        .unwrap();
    assert!(
        latest.starts_with("9 ") && !latest.contains(&gone) && latest.contains(&kept),
        "{latest}"
    );
    assert!(latest.contains(r#""assignments":{"a1":[0,5]}"#), "{latest}");

    let pg = pg_tables(&db).await;
    let mut files = Vec::new();
    parquet_text(lake.path(), &mut files).await;
    for (place, text) in pg.iter().chain(&files) {
        assert!(
            !text.contains(&gone) && !text.contains(&as_object),
            "{place} still holds the learner:\n{text}"
        );
    }
    let stays = |table: &str| {
        pg.iter()
            .any(|(t, text)| t == table && text.contains(&kept))
    };
    assert!(
        stays("learner_weekly")
            && stays("events")
            && stays("views_access")
            && stays("views_digest_flags")
            && stays("views_groups"),
        "other learners stay: {pg:?}"
    );
    assert_views_records_erased(lake.path(), &gone, &kept);
    assert!(files.iter().any(|(_, text)| text.contains(&kept)));
    assert_eq!(db.count("class_weekly").await, 1, "class rows stay");

    let audit_pg = &pg.iter().find(|(t, _)| t == "erasures").unwrap().1;
    let audit_lake =
        std::fs::read_to_string(lake.path().join("_lap_audit/erasures.ndjson")).unwrap();
    for audit in [audit_pg, &audit_lake] {
        assert!(
            audit.contains("DPO-2026-17") && audit.contains("roster identity"),
            "{audit}"
        );
        for personal in [gone.as_str(), "\"u1\"", "amara", as_object.as_str()] {
            assert!(!audit.contains(personal), "audit holds {personal}: {audit}");
        }
    }
    assert!(
        audit_lake.contains(r#""postgres":{"class_daily":0,"class_weekly":0,"events":2"#),
        "{audit_lake}"
    );

    // The tombstones reached the topics: the roster no longer knows u1,
    // the history has no record of theirs; erasing again changes nothing.
    let (ok, out) = lap(
        file.path(),
        &[
            "erase",
            "--learner",
            "u1",
            "--reference",
            "DPO-2026-17",
            "--dry-run",
        ],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains(
            "found by sourcedId (not in the roster); 0 roster records, 0 class memberships"
        ),
        "{out}"
    );
    assert!(
        out.contains(&format!("kafka     {state} would publish 0 tombstones"))
            && out.contains(&format!(
                "kafka     {state} would publish 0 class histories without the learner"
            )),
        "{out}"
    );
    assert!(
        !out.contains("would delete 1") && !out.contains("would delete 2"),
        "{out}"
    );
    let (ok, out) = lap(
        file.path(),
        &["erase", "--learner", "u1", "--reference", "DPO-2026-17"],
    );
    assert!(ok, "{out}");
    assert_eq!(db.count("erasures").await, 2);
    let without_audit = |tables: Vec<(String, String)>| {
        tables
            .into_iter()
            .filter(|(t, _)| t != "erasures")
            .collect::<Vec<_>>()
    };
    assert_eq!(without_audit(pg_tables(&db).await), without_audit(pg));
}

/// Rows of `table` in the lake, by `lap query`.
fn lake_count(config: &Path, table: &str) -> usize {
    let sql = format!("SELECT entity_id FROM {table}");
    let sql = if table == "events" {
        "SELECT event_id FROM events".to_string()
    } else {
        sql
    };
    let (ok, out) = lap(config, &["query", &sql, "--format", "csv"]);
    assert!(ok, "{out}");
    out.lines().count() - 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_rows_past_each_tables_retention_in_both_stores() {
    let Some(db) = Db::new().await else {
        return;
    };
    let lake = tempfile::tempdir().unwrap();
    // As of MONDAY + 28 days: learner_weekly keeps 14 days (windows ending
    // on or before MONDAY + 14 d go: weeks 0 and 1), events 27 (events up
    // to MONDAY + 1 d go), class_weekly forever.
    let retention =
        "[sink.retention]\nlearner_weekly_days = 14\nevents_days = 27\nclass_weekly_days = -1";
    let (file, _key) = config(&db, lake.path(), retention);
    let mut late = event("e-late", "p1", 0.4);
    late.event_time = MONDAY + DAY + 1;
    let batch = rows(
        (0..4)
            .flat_map(|w| {
                [
                    indicator_row("p1", w, 1, 0.5),
                    class_row("class-1", w, 1, Some(0.5)),
                ]
            })
            .collect(),
        vec![event("e-early", "p1", 0.5), late],
    );
    DeltaStore::new(lake.path()).write(&batch).await.unwrap();
    db.store().write(&batch).await.unwrap();
    let as_of = (chrono::DateTime::from_timestamp_micros(MONDAY + 28 * DAY).unwrap())
        .format("%Y-%m-%d")
        .to_string();
    let counts = || async {
        let mut c = Vec::new();
        for t in ["learner_weekly", "class_weekly", "events"] {
            c.push((t, db.count(t).await as usize, lake_count(file.path(), t)));
        }
        c
    };
    let before = counts().await;
    assert_eq!(
        before,
        [
            ("learner_weekly", 4, 4),
            ("class_weekly", 4, 4),
            ("events", 2, 2)
        ]
    );

    let (ok, out) = lap(
        file.path(),
        &["retention", "apply", "--as-of", &as_of, "--dry-run"],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("postgres  learner_weekly   would delete 2 rows"),
        "{out}"
    );
    assert!(
        out.contains("lake      events           would delete 1 rows"),
        "{out}"
    );
    assert!(
        out.contains("class_weekly     keeps rows until erased"),
        "{out}"
    );
    assert_eq!(counts().await, before, "a dry run deletes nothing");

    let (ok, out) = lap(
        file.path(),
        &["retention", "apply", "--as-of", &as_of, "--keep-hours", "0"],
    );
    assert!(ok, "{out}");
    let after = [
        ("learner_weekly", 2, 2),
        ("class_weekly", 4, 4),
        ("events", 1, 1),
    ];
    assert_eq!(counts().await, after, "{out}");
    let (_, weeks) = lap(
        file.path(),
        &[
            "query",
            "SELECT window_start FROM learner_weekly ORDER BY 1",
            "--format",
            "csv",
        ],
    );
    assert!(
        weeks.contains("2026-09-21")
            && weeks.contains("2026-09-28")
            && !weeks.contains("2026-09-14"),
        "{weeks}"
    );
    let (_, ids) = lap(
        file.path(),
        &["query", "SELECT event_id FROM events", "--format", "csv"],
    );
    assert!(ids.contains("e-late") && !ids.contains("e-early"), "{ids}");
    let (ok, out) = lap(file.path(), &["retention", "apply", "--as-of", &as_of]);
    assert!(
        ok && !out.contains("deleted 1") && !out.contains("deleted 2"),
        "a second run deletes nothing:\n{out}"
    );
    assert_eq!(counts().await, after);

    let (bad, _key) = config(&db, lake.path(), "[sink.retention]\nevents_days = -2");
    let (ok, out) = lap(bad.path(), &["retention", "apply", "--dry-run"]);
    assert!(!ok && out.contains("sink.retention.events_days"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_erase_resolves_from_an_export_and_clears_the_lake() {
    // Embedded mode: a lake, no broker, no PostgreSQL.
    let lake = tempfile::tempdir().unwrap();
    let mut key = tempfile::NamedTempFile::new().unwrap();
    key.write_all(KEY.as_bytes()).unwrap();
    let text = format!(
        "[enrich]\ntenant = \"t1\"\nkey_file = \"{}\"\n[sink.lake]\npath = \"{}\"\n",
        key.path().display(),
        lake.path().display()
    );
    let mut config = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    config.write_all(text.as_bytes()).unwrap();
    let keys = Pseudonymiser::new(&Secret::new(KEY)).unwrap();
    let (gone, kept) = (keys.key("t1", "u1"), keys.key("t1", "u2"));
    let batch = rows(
        vec![
            indicator_row(&gone, 0, 1, 0.5),
            indicator_row(&kept, 0, 1, 0.9),
        ],
        vec![event("e1", &gone, 0.5), event("e2", &kept, 0.9)],
    );
    DeltaStore::new(lake.path()).write(&batch).await.unwrap();
    write_views_records(lake.path(), &gone, &kept);

    let export = export_dir();
    let (ok, out) = lap(
        config.path(),
        &[
            "erase",
            "--offline",
            "--roster",
            export.to_str().unwrap(),
            "--learner",
            "mailto:Amara.Okafor@hillside.example",
            "--reference",
            "DPO-2026-18",
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("learner found by roster identity"), "{out}");
    assert!(
        out.contains("lake      learner_weekly   deleted 1 rows"),
        "{out}"
    );
    assert!(
        out.contains("lake      events           deleted 1 rows"),
        "{out}"
    );
    assert!(!out.contains("kafka"), "no tombstones offline:\n{out}");
    let mut files = Vec::new();
    parquet_text(lake.path(), &mut files).await;
    assert!(
        files.iter().all(|(_, text)| !text.contains(&gone)),
        "{files:?}"
    );
    assert!(files.iter().any(|(_, text)| text.contains(&kept)));
    assert_views_records_erased(lake.path(), &gone, &kept);
    let audit = std::fs::read_to_string(lake.path().join("_lap_audit/erasures.ndjson")).unwrap();
    assert_eq!(audit.lines().count(), 1);
    assert!(
        audit.contains("DPO-2026-18") && !audit.contains("mara") && !audit.contains(&gone),
        "{audit}"
    );
}
