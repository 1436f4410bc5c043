//! `lap backfill` into the stores the stream writes: run over the same
//! topics it changes nothing; after late events (on the late topic, as
//! the aggregate puts them there) it gives exactly the rows whose content
//! changed a revision above every stream revision, in PostgreSQL and the
//! lake, and leaves every other row as the stream wrote it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use bytes::Bytes;
use lap_runtime::testkit;
use lap_runtime::transport::kafka::KafkaSink;
use lap_runtime::transport::{OutRecord, RecordSink};
use lap_schemas::{Action, EnrichedEvent, decode, encode};

use crate::compare::{Key, Row, lake_rows, postgres_rows};
use crate::harness::{Pipeline, TEST_SETTINGS};

/// The lowest revision `lap backfill` writes.
const BACKFILL: i64 = 1 << 62;

/// Runs `lap backfill` into the stores; returns how many rows it wrote,
/// and its report.
fn backfill(config: &Path) -> (usize, String) {
    let (ok, text) = crate::common::lap(config, &["backfill", "--from", "topics"]);
    assert!(ok, "{text}");
    let written = text
        .lines()
        .filter_map(|l| l.split(" unchanged, ").nth(1))
        .map(|rest| rest.split(' ').next().unwrap().parse::<usize>().unwrap())
        .sum();
    (written, text)
}

/// Late copies of three learners' events of the first week, with new ids:
/// what a device that synced a week late would have sent.
async fn publish_late_events(p: &Pipeline) {
    let events: Vec<EnrichedEvent> = testkit::read_topic(&p.bootstrap, &p.topics["enriched"])
        .await
        .iter()
        .filter_map(|m| decode(m.payload.as_deref()?).ok())
        .collect();
    let first = events.iter().map(|e| e.event_time).min().unwrap();
    let mut learners = BTreeSet::new();
    let late: Vec<EnrichedEvent> = events
        .into_iter()
        .filter(|e| e.event_time < first + 86_400_000_000 && e.action == Action::Viewed)
        .filter(|e| learners.insert(e.person_key.clone()))
        .take(3)
        .map(|mut e| {
            e.event_id = format!("late-{}", e.event_id);
            e.event_time += 60_000_000;
            e
        })
        .collect();
    assert_eq!(
        late.len(),
        3,
        "three learners viewed something on the first day"
    );
    let sink = KafkaSink::new(&testkit::kafka_config(&p.bootstrap), "late").unwrap();
    for e in &late {
        let key = Some(Bytes::from(e.school_id.clone().unwrap()));
        let record = OutRecord::new(
            p.topics["late"].as_str().into(),
            key,
            Bytes::from(encode(e).unwrap()),
        );
        sink.send(record).await.unwrap().await.unwrap();
    }
}

/// The keys whose stored row is final and differs from the recomputed one.
fn changed(stored: &BTreeMap<Key, Row>, recomputed: &BTreeMap<Key, Row>) -> BTreeSet<Key> {
    recomputed
        .iter()
        .filter(|(k, r)| {
            stored
                .get(*k)
                .is_some_and(|s| s.is_final && s.content() != r.content())
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// The keys a backfill wrote, and their rows.
fn backfilled(rows: &BTreeMap<Key, Row>) -> BTreeMap<&Key, &Row> {
    rows.iter()
        .filter(|(_, r)| r.revision >= BACKFILL)
        .collect()
}

pub async fn into_the_stores(p: &Pipeline, client: &tokio_postgres::Client, config: &Path) {
    let (written, report) = backfill(config);
    assert_eq!(written, 0, "the same events change nothing:\n{report}");
    let before = postgres_rows(client, &p.schema).await;
    assert!(backfilled(&before).is_empty());
    publish_late_events(p).await;
    let out = p.dir.path().join("backfill-late.ndjson");
    let recomputed = crate::backfill_rows(config, &out);
    let affected = changed(&before, &recomputed);
    assert!(
        affected.iter().any(|k| k.0 == "learner_daily")
            && affected.iter().any(|k| k.0 == "class_weekly"),
        "the late events change learner and class rows: {affected:?}"
    );
    // Twice: the second run finds the first one's rows and writes nothing.
    let (written, report) = backfill(config);
    assert_eq!(written, 2 * affected.len(), "{affected:?}\n{report}");
    let (written, report) = backfill(config);
    assert_eq!(written, 0, "{report}");
    let embedded = p.embedded_config(TEST_SETTINGS);
    let stores = [
        ("postgres", postgres_rows(client, &p.schema).await),
        ("lake", lake_rows(&embedded, &p.lake)),
    ];
    for (store, after) in &stores {
        let written = backfilled(after);
        let keys: BTreeSet<&Key> = written.keys().copied().collect();
        assert_eq!(
            keys,
            affected.iter().collect(),
            "{store}: the rows backfilled are those that changed"
        );
        for (k, r) in written {
            assert_eq!(r.content(), recomputed[k].content(), "{store} {k:?}");
        }
        for (k, r) in after.iter().filter(|(k, _)| !affected.contains(*k)) {
            assert_eq!(
                before.get(k).map(|b| b.revision),
                Some(r.revision),
                "{store} {k:?} changed"
            );
        }
    }
    println!(
        "lap backfill after 3 late events rewrote the {} rows they change",
        affected.len()
    );
}
