//! `lap query` over a lake written by the sink's Delta store: the three
//! output formats, and errors that name the tables and columns.

mod common;

use common::{class_week, lap};
use lap_sink::delta::DeltaStore;
use lap_sink::rows::Rows;
use lap_sink::store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lap_query_prints_tables_csv_and_json_and_explains_mistakes() {
    let lake = tempfile::tempdir().unwrap();
    let config = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    let lake_arg = lake.path().to_str().unwrap();

    let (ok, out) = lap(config.path(), &["query", "SELECT 1", "--lake", lake_arg]);
    assert!(!ok && out.contains("no lake tables"), "{out}");

    let mut rows = Rows::default();
    rows.indicators.insert(
        "class_weekly",
        vec![
            class_week("7a", Some(0.625), false),
            class_week("7b, \"east\"", None, true),
        ],
    );
    DeltaStore::new(lake.path()).write(&rows).await.unwrap();
    let sql = "SELECT entity_id, indicators['mean_score'] AS mean_score, suppressed \
               FROM class_weekly ORDER BY entity_id";

    let (ok, out) = lap(config.path(), &["query", sql, "--lake", lake_arg]);
    assert!(ok, "{out}");
    assert_eq!(
        out,
        [
            "entity_id  | mean_score | suppressed",
            "-----------+------------+-----------",
            "7a         | 0.625      | false",
            "7b, \"east\" | NULL       | true",
            "(2 rows)\n",
        ]
        .join("\n")
    );

    let (ok, out) = lap(
        config.path(),
        &["query", sql, "--lake", lake_arg, "--format", "csv"],
    );
    assert!(ok, "{out}");
    assert_eq!(
        out,
        "entity_id,mean_score,suppressed\n7a,0.625,false\n\"7b, \"\"east\"\"\",,true\n"
    );

    let (ok, out) = lap(
        config.path(),
        &["query", sql, "--lake", lake_arg, "--format", "json"],
    );
    assert!(ok, "{out}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["mean_score"], 0.625);
    assert_eq!(lines[1]["entity_id"], "7b, \"east\"");
    assert!(lines[1].get("mean_score").is_none_or(|v| v.is_null()));

    let (ok, out) = lap(
        config.path(),
        &["query", "SELECT * FROM class_monthly", "--lake", lake_arg],
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("class_monthly") && out.contains("tables in") && out.contains("class_weekly"),
        "{out}"
    );

    let (ok, out) = lap(
        config.path(),
        &["query", "SELECT mean FROM class_weekly", "--lake", lake_arg],
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("mean") && out.contains("entity_id"),
        "unknown column lists the valid ones: {out}"
    );
}
