//! The Delta Lake store on real files: idempotent replays, highest
//! revision wins, date partitions in the school's time zone, and the tables
//! read back by an independent reader (the `deltalake` Python package, a
//! different delta-rs release, with pyarrow) exactly as DataFusion sees them.

mod common;

use std::path::Path;

use common::{DAY, MONDAY, class_row, event, flagged, indicator_row, rows};
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
use lap_runtime::testkit::{DELTA_PYTHON_ENV, service};
use lap_sink::delta::{DeltaStore, Lake, query_context};

use lap_sink::select::Selection;
use lap_sink::store::Store;

/// `sql` over the lake, one `|`-joined line per row.
async fn query(root: &Path, sql: &str) -> Vec<String> {
    let ctx = query_context(&Lake::local(root)).await.unwrap();
    let batches: Vec<RecordBatch> = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let opts = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in &batches {
        let cols: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            let cells: Vec<String> = cols.iter().map(|c| c.value(i).to_string()).collect();
            out.push(cells.join("|"));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_batch_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = DeltaStore::new(dir.path());
    let batch = rows(
        vec![
            flagged(indicator_row("p1", 0, 10, 0.5), "low_wellbeing"),
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
    let all = "SELECT * FROM learner_weekly ORDER BY entity_id";
    let events = "SELECT * FROM events ORDER BY event_id";
    let (before, before_events) = (
        query(dir.path(), all).await,
        query(dir.path(), events).await,
    );
    assert_eq!(before.len(), 2);

    let again = store.write(&batch).await.unwrap();
    assert_eq!(again.indicators_changed.get("learner_weekly"), Some(&0));
    assert_eq!(again.events_inserted, 0);
    // A restarted sink (a fresh store on the same directory) replays too.
    DeltaStore::new(dir.path()).write(&batch).await.unwrap();
    assert_eq!(query(dir.path(), all).await, before);
    assert_eq!(query(dir.path(), events).await, before_events);

    // Maps, lists of structs, timestamps and arrays read back as written.
    let got = query(
        dir.path(),
        "SELECT entity_id, indicators['mean_score'], indicators['attendance_rate'], flags[1]['code'],
                window_start, revision FROM learner_weekly ORDER BY entity_id",
    )
    .await;
    assert_eq!(
        got,
        [
            "p1|0.5|NULL|low_wellbeing|2026-09-07T00:00:00Z|10",
            "p2|0.75|NULL|NULL|2026-09-07T00:00:00Z|10"
        ]
    );
    let e = query(
        dir.path(),
        "SELECT event_id, objective_ids, duration_ms, action, event_time FROM events ORDER BY event_id",
    )
    .await;
    assert_eq!(e[0], "e1|[obj-1, obj-2]|61000|scored|2026-09-07T01:00:00Z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_highest_revision_wins_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = DeltaStore::new(dir.path());
    let write = |rev: i64, s: f64| rows(vec![indicator_row("p1", 0, rev, s)], vec![]);
    let sql = "SELECT revision, indicators['mean_score'] FROM learner_weekly";
    store.write(&write(5, 0.5)).await.unwrap();
    let stale = store.write(&write(3, 0.3)).await.unwrap();
    assert_eq!(stale.indicators_changed.get("learner_weekly"), Some(&0));
    assert_eq!(query(dir.path(), sql).await, ["5|0.5"]);
    store.write(&write(5, 0.9)).await.unwrap();
    assert_eq!(
        query(dir.path(), sql).await,
        ["5|0.5"],
        "an equal revision is not newer"
    );
    let newer = store.write(&write(7, 0.7)).await.unwrap();
    assert_eq!(newer.indicators_changed.get("learner_weekly"), Some(&1));
    assert_eq!(query(dir.path(), sql).await, ["7|0.7"]);

    // A row without a class is its own key.
    let mut no_class = indicator_row("p1", 0, 1, 0.1);
    no_class.class_id = None;
    store.write(&rows(vec![no_class], vec![])).await.unwrap();
    assert_eq!(
        query(
            dir.path(),
            "SELECT class_id, revision FROM learner_weekly ORDER BY class_id NULLS FIRST"
        )
        .await,
        ["NULL|1", "class-1|7"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_are_partitioned_by_their_local_date() {
    let dir = tempfile::tempdir().unwrap();
    // Monday 2026-09-07 00:00 in Berlin is Sunday 22:00 UTC.
    let mut berlin = indicator_row("p1", 0, 1, 0.5);
    berlin.time_zone = "Europe/Berlin".into();
    berlin.window_start = MONDAY - 2 * 3_600_000_000;
    berlin.window_end = berlin.window_start + 7 * DAY;
    DeltaStore::new(dir.path())
        .write(&rows(vec![berlin], vec![event("e1", "p1", 0.5)]))
        .await
        .unwrap();
    assert!(
        dir.path()
            .join("learner_weekly/window_date=2026-09-07")
            .is_dir()
    );
    assert!(dir.path().join("events/event_date=2026-09-07").is_dir());
    assert_eq!(
        query(
            dir.path(),
            "SELECT window_date, window_start FROM learner_weekly"
        )
        .await,
        ["2026-09-07|2026-09-06T22:00:00Z"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_reader_sees_the_same_rows() {
    let Some(python) = service(DELTA_PYTHON_ENV) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut store = DeltaStore::new(dir.path());
    // Several commits, with replaced revisions, so the reader must apply the log.
    for rev in [1, 3, 2] {
        let batch = rows(
            (0..20)
                .map(|i| {
                    indicator_row(
                        &format!("p{i:02}"),
                        i % 2,
                        rev,
                        rev as f64 / 10.0 + i as f64,
                    )
                })
                .collect(),
            (0..5)
                .map(|i| event(&format!("e{rev}-{i}"), "p1", 0.5))
                .collect(),
        );
        store.write(&batch).await.unwrap();
    }
    let ours = query(
        dir.path(),
        "SELECT entity_id, window_date, revision, indicators['mean_score'] FROM learner_weekly ORDER BY entity_id",
    )
    .await;
    assert_eq!(ours.len(), 20);
    assert!(ours.iter().all(|r| r.contains("|3|")), "{ours:?}");
    let script = r#"
import os, sys
from deltalake import DeltaTable
rows = DeltaTable(sys.argv[1] + "/learner_weekly").to_pyarrow_table().to_pylist()
for r in sorted(rows, key=lambda r: r["entity_id"]):
    score = dict(r["indicators"])["mean_score"]
    print(f'{r["entity_id"]}|{r["window_date"]}|{r["revision"]}|{score}')
events = DeltaTable(sys.argv[1] + "/events").to_pyarrow_table().to_pylist()
print(len(events), ",".join(sorted(e["event_id"] for e in events)))
# deltalake 1.6's runtime aborts during interpreter teardown ("terminate
# called without an active exception"); the reading is done, skip teardown.
sys.stdout.flush()
os._exit(0)
"#;
    let out = std::process::Command::new(&python)
        .args(["-c", script, dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let events = lines.pop().unwrap();
    assert_eq!(lines, ours);
    let ids: Vec<String> = [1, 3, 2]
        .iter()
        .flat_map(|r| (0..5).map(move |i| format!("e{r}-{i}")))
        .collect();
    let mut ids = ids;
    ids.sort();
    assert_eq!(events, format!("15 {}", ids.join(",")));
}

/// Two sinks on one lake (a zombie after a rebalance): an event the other
/// one appended to the same date after this one last read the table makes
/// this one's commit fail instead of storing the event twice; the retry
/// finds it stored. An append to another date does not conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_append_to_the_same_date_is_a_conflict_not_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = (DeltaStore::new(dir.path()), DeltaStore::new(dir.path()));
    let first = a
        .write(&rows(vec![], vec![event("e1", "p1", 0.5)]))
        .await
        .unwrap();
    assert_eq!(first.events_inserted, 1);
    let copied = b
        .write(&rows(vec![], vec![event("e2", "p2", 0.7)]))
        .await
        .unwrap();
    assert_eq!(copied.events_inserted, 1);

    let copy = rows(vec![], vec![event("e2", "p2", 0.7)]);
    let err = a.write(&copy).await.unwrap_err().to_string();
    assert!(err.contains("insert into events"), "{err}");
    let retried = a.write(&copy).await.unwrap();
    assert_eq!(
        retried.events_inserted, 0,
        "the retry sees the other sink's row"
    );

    let mut later = event("e3", "p3", 0.9);
    later.event_time += DAY;
    let other_date = b.write(&rows(vec![], vec![later])).await.unwrap();
    assert_eq!(other_date.events_inserted, 1);
    let mut elsewhere = event("e4", "p4", 0.1);
    elsewhere.event_time += 2 * DAY;
    let no_conflict = a.write(&rows(vec![], vec![elsewhere])).await.unwrap();
    assert_eq!(no_conflict.events_inserted, 1);

    let ids = query(dir.path(), "SELECT event_id FROM events ORDER BY event_id").await;
    assert_eq!(ids, ["e1", "e2", "e3", "e4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_and_events_read_back_as_they_were_written() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let mut store = DeltaStore::new(lake.clone());
    let mut flagged_row = flagged(indicator_row("p1", 0, 10, 0.5), "low_wellbeing");
    flagged_row.is_final = true;
    flagged_row.newest_event_time = Some(MONDAY + 3_600_000_000);
    flagged_row.cleared_flags = flagged(indicator_row("p1", 0, 10, 0.5), "inactive").flags;
    let written = vec![flagged_row, indicator_row("p2", 1, 11, 0.75)];
    let events = vec![event("e1", "p1", 0.5), event("e2", "p2", 0.75)];
    store
        .write(&rows(written.clone(), events.clone()))
        .await
        .unwrap();
    let mut back = lap_sink::delta::read::indicator_rows(
        &lake,
        "learner_weekly",
        &Selection::windows(MONDAY, MONDAY + 14 * DAY),
    )
    .await
    .unwrap();
    back.sort_by(|a, b| a.entity_id.cmp(&b.entity_id));
    // A null indicator is not spelled out in the lake's map: it reads back
    // missing, which is the same for every reader.
    let mut expected = written.clone();
    expected
        .iter_mut()
        .for_each(|r| r.indicators.retain(|_, v| v.is_some()));
    assert_eq!(back, expected);
    let only_first = lap_sink::delta::read::indicator_rows(
        &lake,
        "learner_weekly",
        &Selection::windows(MONDAY, MONDAY + DAY),
    )
    .await
    .unwrap();
    assert_eq!(
        only_first.len(),
        1,
        "windows outside the range are left out"
    );
    let second = written[1].entity_id.clone();
    let one_learner = lap_sink::delta::read::indicator_rows(
        &lake,
        "learner_weekly",
        &Selection::windows(MONDAY, MONDAY + 14 * DAY).of_entities(vec![second.clone()]),
    )
    .await
    .unwrap();
    assert_eq!(
        one_learner.iter().map(|r| &r.entity_id).collect::<Vec<_>>(),
        [&second],
        "a selection of entities reads only theirs"
    );
    let mut back = lap_sink::delta::read::events(&lake, MONDAY + DAY)
        .await
        .unwrap();
    back.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    assert_eq!(back, events);
    assert!(
        lap_sink::delta::read::events(&lake, MONDAY)
            .await
            .unwrap()
            .is_empty()
    );
}
