//! `lap catalog`: the Markdown and JSON catalogue of every topic and table,
//! each column described and classified; checked here against what the
//! pipeline writes (the lake schema and the PostgreSQL migrations).

mod common;

use std::collections::BTreeSet;

use common::lap;
use lap_runtime::testkit::{POSTGRES_ENV, service, unique};
use lap_sink::postgres::PgStore;
use lap_sink::rows::Rows;
use lap_sink::store::Store;
use serde_json::Value;

/// Runs `lap catalog` with `toml` as the config; returns the JSON
/// catalogue, the Markdown, and the config path (in `dir`).
fn catalog(dir: &std::path::Path, toml: &str) -> (Value, String, std::path::PathBuf) {
    let config = dir.join("lap.toml");
    std::fs::write(&config, toml).unwrap();
    let out = dir.join("catalog");
    let (ok, text) = lap(&config, &["catalog", "--out", out.to_str().unwrap()]);
    assert!(ok, "{text}");
    let json =
        serde_json::from_str(&std::fs::read_to_string(out.join("catalog.json")).unwrap()).unwrap();
    (
        json,
        std::fs::read_to_string(out.join("catalog.md")).unwrap(),
        config,
    )
}

#[test]
fn the_catalogue_describes_and_classifies_every_column_of_every_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let (catalog, md, _) = catalog(
        dir.path(),
        "[sink.postgres]\nenabled = true\nschema = \"analytics\"\n",
    );
    let datasets = catalog["datasets"].as_array().unwrap();
    let names: BTreeSet<&str> = datasets
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    for expected in [
        "lap.raw.xapi",
        "lap.events",
        "lap.enriched",
        "lap.indicators",
        "lap.dlq",
        "lap.roster",
        "lap.aggregate.state",
        "learner_weekly",
        "events",
        "analytics.class_daily",
        "analytics.events",
        "analytics.erasures",
        "erasures",
        "analytics.views_access",
        "analytics.views_flag_actions",
        "views_access",
        "analytics.views_groups",
        "views_groups",
        "analytics.views_digest_flags",
        "views_digests",
    ] {
        assert!(names.contains(expected), "{expected} missing: {names:?}");
    }
    for d in datasets {
        for key in ["description", "retention", "lineage", "location", "format"] {
            assert!(
                !d[key].as_str().unwrap().is_empty(),
                "{}: no {key}",
                d["name"]
            );
        }
        let columns = d["columns"].as_array().unwrap();
        assert!(!columns.is_empty(), "{}", d["name"]);
        for c in columns {
            assert!(
                c["description"].as_str().is_some_and(|s| s.len() > 5),
                "{}: {c}",
                d["name"]
            );
            assert!(
                ["personal", "pseudonymous", "none"].contains(&c["privacy"].as_str().unwrap()),
                "{c}"
            );
        }
    }
    let column = |dataset: &str, name: &str| -> Value {
        let d = datasets.iter().find(|d| d["name"] == dataset).unwrap();
        d["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{dataset}.{name}"))
            .clone()
    };
    // Where identifiers may be: only in raw topics,
    // dead letters and the roster; pseudonyms downstream.
    assert_eq!(column("lap.raw.xapi", "value")["privacy"], "personal");
    assert_eq!(column("lap.events", "actor.id")["privacy"], "personal");
    assert_eq!(column("lap.dlq", "payload")["privacy"], "personal");
    assert_eq!(column("events", "person_key")["privacy"], "pseudonymous");
    assert_eq!(
        column("learner_weekly", "entity_id")["privacy"],
        "pseudonymous"
    );
    assert_eq!(column("learner_weekly", "flags.reason")["privacy"], "none");
    assert_eq!(
        column("analytics.views_access", "person_key")["privacy"],
        "pseudonymous"
    );
    assert_eq!(
        column("analytics.views_flag_actions", "note")["privacy"],
        "personal"
    );
    assert_eq!(
        column("analytics.learner_weekly", "window_start")["data_type"],
        "timestamptz"
    );
    assert_eq!(
        column("analytics.events", "subject_codes")["data_type"],
        "text[]"
    );
    assert!(
        md.contains("## Topics")
            && md.contains("## Lake tables")
            && md.contains("## PostgreSQL tables"),
        "{md}"
    );
    assert!(md.contains("| `person_key` | "), "{md}");
}

/// The PostgreSQL tables as the migrations create them have exactly the
/// columns the catalogue lists (names and types).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_columns_match_the_migrations() {
    let Some(url) = service(POSTGRES_ENV) else {
        return;
    };
    let schema = unique("catalog").replace('-', "_");
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[sink.lake]\nenabled = false\n[sink.postgres]\nenabled = true\nurl = \"{url}\"\nschema = \"{schema}\"\n"
    );
    let (catalog, _, config) = catalog(dir.path(), &toml);

    let mut cfg = lap_runtime::config::load(Some(&config)).unwrap();
    cfg.sink.postgres.connect_timeout_ms = 10_000;
    let mut store = PgStore::new(&cfg.sink.postgres, None).unwrap();
    store
        .write(&Rows::default())
        .await
        .expect("migrations apply");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    for d in catalog["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "PostgreSQL table")
    {
        let table = d["name"].as_str().unwrap().split('.').nth(1).unwrap();
        let rows = client
            .query(
                "SELECT column_name, CASE WHEN data_type = 'ARRAY' THEN ltrim(udt_name, '_') || '[]' \
                 WHEN data_type = 'timestamp with time zone' THEN 'timestamptz' ELSE data_type END \
                 FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2",
                &[&schema, &table],
            )
            .await
            .unwrap();
        let in_db: BTreeSet<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let listed: BTreeSet<(String, String)> = d["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["data_type"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(listed, in_db, "{table}");
    }
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}
