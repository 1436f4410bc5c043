//! The `lap-aggregate` service through the real broker: enriched events
//! spread over four weeks stream in while the service runs; it is
//! SIGKILLed once the first week is final, restarted, and the final rows it
//! writes (highest revision per key) must equal `lap backfill` over the
//! same events: nothing lost, nothing counted twice. Provisional rows come
//! first, and every re-emitted final row says the same.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{export_dir, roster_load, spawn_service, wait_ready};
use lap_aggregate::backfill::backfill;
use lap_aggregate::reference::Reference;
use lap_runtime::config::AggregateConfig;
use lap_runtime::testkit;
use lap_runtime::transport::kafka::KafkaSink;
use lap_runtime::transport::{OutRecord, RecordSink};
use lap_schemas::{Action, EnrichedEvent, IndicatorRow, Role, SourceStandard, decode, encode};
use tokio::sync::Notify;

const DAY: i64 = 86_400_000_000;
/// Monday 2026-03-02 00:00 UTC.
const MONDAY: i64 = 1_772_409_600_000_000;

fn event(i: usize, time: i64) -> EnrichedEvent {
    let class = format!("c{}", i % 3);
    let action = [
        Action::Viewed,
        Action::Scored,
        Action::Completed,
        Action::Answered,
    ][i % 4];
    EnrichedEvent {
        event_id: format!("e{i}"),
        source: SourceStandard::Xapi,
        spec_version: "1.0.3".into(),
        event_time: time,
        stored_time: time,
        tenant: "t1".into(),
        person_key: format!("{class}-p{}", (i / 3) % 7),
        role: Role::Learner,
        school_id: Some(format!("s{}", i % 3)),
        class_id: Some(class),
        course_id: Some("math7".into()),
        term_id: None,
        subject_codes: vec![],
        grades: vec![],
        action,
        verb: format!("https://lap.example/verbs/{}", action.as_str()),
        object_id: if action == Action::Answered {
            "https://survey.example/items/q1".into()
        } else {
            format!("obj{}", i % 5)
        },
        object_type: None,
        object_name: None,
        score_scaled: (action == Action::Scored).then(|| (i % 10) as f64 / 10.0),
        score_raw: None,
        score_min: None,
        score_max: None,
        success: None,
        completion: None,
        duration_ms: i.is_multiple_of(3).then_some(60_000),
        response_value: (action == Action::Answered).then(|| (1 + i % 5) as f64),
        response_text: None,
        registration: None,
        session_id: None,
        objective_ids: vec![],
        due_time: None,
        voids: None,
    }
}

/// Comparable content of a final row: everything but revision and time.
fn content(r: &IndicatorRow) -> String {
    let values: Vec<String> = r
        .indicators
        .iter()
        .map(|(k, v)| format!("{k}={:?}", v.map(|x| (x * 1e9).round() / 1e9)))
        .collect();
    let flags: Vec<&str> = r.flags.iter().map(|f| f.code.as_str()).collect();
    format!("{} {} {values:?} {flags:?}", r.contributors, r.suppressed)
}

type Key = (String, i64, String, Option<String>);

fn key(r: &IndicatorRow) -> Key {
    (
        r.table_name.clone(),
        r.window_start,
        r.entity_id.clone(),
        r.class_id.clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_aggregate_restarts_and_its_final_rows_equal_backfill() {
    let Some(bootstrap) = testkit::service(testkit::KAFKA_ENV) else {
        return;
    };
    let kafka = testkit::kafka_config(&bootstrap);
    let names = ["roster", "enriched", "indicators", "late", "dlq", "state"].map(testkit::unique);
    let [roster, enriched, indicators, late, dlq, state] = &names;
    // The changelog has as many partitions as its input.
    for t in [enriched, state] {
        testkit::create_topic(&kafka, t, 3).await;
    }
    for t in [roster, indicators, late, dlq] {
        testkit::create_topic(&kafka, t, 1).await;
    }
    let port = testkit::free_port();
    let config = format!(
        r#"
[kafka]
bootstrap_servers = "{bootstrap}"
[kafka.consumer]
group_prefix = "{group}"
group_instance_id = "{instance}"
session_timeout_ms = 6000
[topics.roster]
name = "{roster}"
[topics.enriched]
name = "{enriched}"
[topics.indicators]
name = "{indicators}"
[topics.late]
name = "{late}"
[topics.dlq]
name = "{dlq}"
[topics.aggregate_state]
name = "{state}"
[service]
metrics_addr = "127.0.0.1:{port}"
[enrich]
tenant = "t1"
[aggregate]
allowed_lateness_s = 86400
max_out_of_orderness_s = 0
idle_partition_s = 3
provisional_interval_s = 1
min_group_size = 3
"#,
        group = testkit::unique("grp"),
        instance = testkit::unique("aggregate"),
    );
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(config.as_bytes()).unwrap();
    // Curriculum and questionnaire (q1: social, 1–5) come from the roster topic.
    let (ok, out) = roster_load(file.path(), &export_dir());
    assert!(ok, "{out}");

    // 1,800 events over four weeks in time order, then one per class on
    // Wednesday of week six, so every partition's watermark passes week 4's
    // end + 1 day of lateness.
    const N: usize = 1800;
    let span = 28 * DAY;
    let mut events: Vec<EnrichedEvent> = (0..N)
        .map(|i| event(i, MONDAY + span * i as i64 / N as i64))
        .collect();
    events.extend((N..N + 3).map(|i| event(i, MONDAY + 37 * DAY)));
    // The producer waits at three quarters of the stream until the kill has
    // happened, so the kill lands mid-stream however slowly a busy machine
    // runs the service; usually it has happened long before.
    let killed = Arc::new(Notify::new());
    let producer = {
        let (kafka, enriched, events) = (kafka.clone(), enriched.clone(), events.clone());
        let killed = killed.clone();
        tokio::spawn(async move {
            let sink = KafkaSink::new(&kafka, "test").unwrap();
            let gate = events.len() / 20 * 3 / 4;
            for (n, chunk) in events.chunks(20).enumerate() {
                if n == gate {
                    killed.notified().await;
                }
                let mut acks = Vec::new();
                for e in chunk {
                    let payload = Bytes::from(encode(e).unwrap());
                    // As enrich keys them: by school.
                    let key = Some(Bytes::from(e.school_id.clone().unwrap()));
                    acks.push(
                        sink.send(OutRecord::new(enriched.as_str().into(), key, payload))
                            .await
                            .unwrap(),
                    );
                }
                for a in acks {
                    a.await.unwrap();
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    let log = tempfile::NamedTempFile::new().unwrap();
    let mut first = spawn_service("lap-aggregate", file.path(), &log);
    wait_ready(port, &log).await;
    // Kill once a final row is out (the first week closed), mid-stream.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let rows = testkit::read_topic(&bootstrap, indicators).await;
        if rows.iter().any(|m| {
            decode::<IndicatorRow>(m.payload.as_ref().unwrap())
                .unwrap()
                .is_final
        }) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no final row in 90 s:\n{}",
            std::fs::read_to_string(log.path()).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    first.0.kill().unwrap(); // SIGKILL: no drain, no commit
    first.0.wait().unwrap();
    killed.notify_one();
    let _second = spawn_service("lap-aggregate", file.path(), &log);
    producer.await.unwrap();

    // Expected: backfill over the same events with the same reference data.
    let mut reference = Reference::default();
    for r in lap_enrich::roster::load(&export_dir(), "t1", &mut |_| {})
        .unwrap()
        .records
    {
        reference.apply("t1", &r);
    }
    let cfg = AggregateConfig {
        min_group_size: 3,
        ..AggregateConfig::default()
    };
    let expected: BTreeMap<Key, String> = backfill(&cfg, &reference, &events[..N], 0)
        .unwrap()
        .iter()
        .map(|r| (key(r), content(r)))
        .collect();

    let deadline = Instant::now() + Duration::from_secs(120);
    let (finals, provisional) = loop {
        let mut finals: BTreeMap<Key, (i64, String)> = BTreeMap::new();
        let mut provisional = 0;
        for m in testkit::read_topic(&bootstrap, indicators).await {
            let r: IndicatorRow = decode(m.payload.as_ref().unwrap()).unwrap();
            if !r.is_final {
                provisional += 1;
                continue;
            }
            let c = content(&r);
            if let Some((_, seen)) = finals.get(&key(&r)) {
                assert_eq!(
                    seen, &c,
                    "a final row re-emitted after the restart must say the same"
                );
            }
            let slot = finals.entry(key(&r)).or_insert((r.revision, c.clone()));
            if r.revision >= slot.0 {
                *slot = (r.revision, c);
            }
        }
        if finals.len() >= expected.len() || Instant::now() > deadline {
            break (finals, provisional);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let got: BTreeMap<Key, String> = finals.into_iter().map(|(k, (_, c))| (k, c)).collect();
    assert_eq!(
        got.len(),
        expected.len(),
        "log:\n{}",
        std::fs::read_to_string(log.path()).unwrap()
    );
    assert_eq!(got, expected);
    assert!(provisional > 0, "open windows are emitted provisionally");
    assert!(testkit::read_topic(&bootstrap, late).await.is_empty());
    assert!(testkit::read_topic(&bootstrap, dlq).await.is_empty());
    println!(
        "{} final rows equal backfill after a SIGKILL; {provisional} provisional rows",
        got.len()
    );
}
