//! `lap lake compact`: many small sink commits become one file per
//! partition, the replaced files are deleted, and the rows stay the same.

mod common;

use std::path::Path;

use common::{class_week, lap};
use lap_sink::delta::DeltaStore;
use lap_sink::rows::Rows;
use lap_sink::store::Store;

fn parquet_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            if p.is_dir() {
                parquet_files(&p)
            } else {
                usize::from(p.extension().is_some_and(|x| x == "parquet"))
            }
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_merges_small_files_and_keeps_every_row() {
    let lake = tempfile::tempdir().unwrap();
    let config = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    let lake_arg = lake.path().to_str().unwrap();
    let mut store = DeltaStore::new(lake.path());
    // Twelve sink batches: twelve commits, each a file in the same partition.
    for i in 0..12 {
        let mut rows = Rows::default();
        rows.indicators.insert(
            "class_weekly",
            vec![class_week(
                &format!("class-{i:02}"),
                Some(i as f64 / 12.0),
                false,
            )],
        );
        store.write(&rows).await.unwrap();
    }
    let table = lake.path().join("class_weekly");
    assert_eq!(parquet_files(&table), 12);
    let sql =
        "SELECT entity_id, indicators['mean_score'] AS s FROM class_weekly ORDER BY entity_id";
    let (ok, before) = lap(
        config.path(),
        &["query", sql, "--lake", lake_arg, "--format", "csv"],
    );
    assert!(ok, "{before}");
    assert_eq!(before.lines().count(), 13, "{before}");

    let (ok, out) = lap(
        config.path(),
        &["lake", "compact", "--lake", lake_arg, "--keep-hours", "0"],
    );
    assert!(ok, "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("class_weekly"))
        .unwrap_or_else(|| panic!("{out}"));
    let numbers: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(numbers, vec![12, 1, 12], "merged, new, deleted: {out}");
    assert_eq!(parquet_files(&table), 1);

    let (ok, after) = lap(
        config.path(),
        &["query", sql, "--lake", lake_arg, "--format", "csv"],
    );
    assert!(ok, "{after}");
    assert_eq!(after, before);
    // The store keeps writing into the compacted table.
    let mut rows = Rows::default();
    rows.indicators
        .insert("class_weekly", vec![class_week("class-99", None, true)]);
    DeltaStore::new(lake.path()).write(&rows).await.unwrap();
    let (ok, out) = lap(
        config.path(),
        &[
            "query",
            "SELECT COUNT(*) AS n FROM class_weekly",
            "--lake",
            lake_arg,
            "--format",
            "csv",
        ],
    );
    assert!(ok && out == "n\n13\n", "{out}");

    let (ok, out) = lap(
        config.path(),
        &[
            "lake",
            "compact",
            "--lake",
            lake.path().join("nothing").to_str().unwrap(),
        ],
    );
    assert!(!ok && out.contains("no lake tables"), "{out}");
}
