//! The `lap-sink` service through the real broker into the real
//! PostgreSQL and a Delta Lake directory: revisions arrive out of order across partitions, a junk
//! record is dead-lettered, the service is SIGKILLed and restarted, and the
//! tables end up holding exactly the highest revision of every key and
//! every event once.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Killed, lap, spawn_service, wait_ready};
use lap_runtime::testkit;
use lap_runtime::transport::kafka::KafkaSink;
use lap_runtime::transport::{OutRecord, RecordSink};
use lap_schemas::{DeadLetter, EntityKind, IndicatorRow, WindowKind, decode, encode};
use tokio_postgres::NoTls;

/// Monday 2026-03-02 00:00 UTC in µs.
const MONDAY: i64 = 1_772_409_600_000_000;

fn row(learner: usize, revision: i64) -> IndicatorRow {
    IndicatorRow {
        table_name: "learner_daily".into(),
        window_kind: WindowKind::Daily,
        window_start: MONDAY,
        window_end: MONDAY + 86_400_000_000,
        time_zone: "UTC".into(),
        entity_kind: EntityKind::Learner,
        entity_id: format!("p{learner}"),
        class_id: Some(format!("c{}", learner % 4)),
        school_id: Some("s1".into()),
        revision,
        is_final: revision == 3,
        emitted_time: MONDAY + revision,
        contributors: 1,
        suppressed: false,
        indicators: BTreeMap::from([("events".to_string(), Some(revision as f64))]),
        flags: vec![],
        cleared_flags: vec![],
        newest_event_time: None,
    }
}

async fn send(sink: &KafkaSink, topic: &str, key: &str, payload: Vec<u8>) {
    let record = OutRecord::new(
        topic.into(),
        Some(Bytes::from(key.to_string())),
        Bytes::from(payload),
    );
    sink.send(record).await.unwrap().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_service_keeps_the_highest_revision_across_a_sigkill() {
    let Some(bootstrap) = testkit::service(testkit::KAFKA_ENV) else {
        return;
    };
    let Some(pg_url) = testkit::service(testkit::POSTGRES_ENV) else {
        return;
    };
    let kafka = testkit::kafka_config(&bootstrap);
    let [indicators, enriched, dlq] = ["indicators", "enriched", "dlq"].map(testkit::unique);
    testkit::create_topic(&kafka, &indicators, 3).await;
    testkit::create_topic(&kafka, &enriched, 1).await;
    testkit::create_topic(&kafka, &dlq, 1).await;
    let schema = testkit::unique("sinksvc").replace('-', "_");
    let lake_dir = tempfile::tempdir().unwrap();
    let lake = lake_dir.path().display();
    let group = testkit::unique("grp");
    let instance = testkit::unique("sink");
    let port = testkit::free_port();
    let config = format!(
        r#"
[kafka]
bootstrap_servers = "{bootstrap}"
[kafka.consumer]
group_prefix = "{group}"
group_instance_id = "{instance}"
session_timeout_ms = 6000
commit_interval_ms = 200
[topics.indicators]
name = "{indicators}"
[topics.enriched]
name = "{enriched}"
[topics.dlq]
name = "{dlq}"
[service]
metrics_addr = "127.0.0.1:{port}"
[sink]
retry_initial_ms = 50
[sink.lake]
path = "{lake}"
[sink.postgres]
enabled = true
url = "{pg_url}"
schema = "{schema}"
"#,
    );
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(config.as_bytes()).unwrap();
    let (client, conn) = tokio_postgres::connect(&pg_url, NoTls).await.unwrap();
    tokio::spawn(conn);

    // Revisions 2 before 1 for half of the learners; keys spread the rows
    // over three partitions, so arrival order differs from revision order.
    let producer = KafkaSink::new(&kafka, "test").unwrap();
    for learner in 0..60 {
        let revs: &[i64] = if learner % 2 == 0 { &[2, 1] } else { &[1, 2] };
        for &rev in revs {
            let key = format!("k{}", (learner + rev as usize) % 7);
            send(
                &producer,
                &indicators,
                &key,
                encode(&row(learner, rev)).unwrap(),
            )
            .await;
        }
    }
    send(
        &producer,
        &indicators,
        "junk",
        b"not an indicator row".to_vec(),
    )
    .await;

    let log = tempfile::NamedTempFile::new().unwrap();
    let mut first = spawn_service("lap-sink", file.path(), &log);
    wait_ready(port, &log).await;
    let table = format!("{schema}.learner_daily");
    let count_at = |rev: i64| {
        let (client, table) = (&client, table.clone());
        async move {
            client
                .query_one(
                    &format!("SELECT count(*) FROM {table} WHERE revision = $1"),
                    &[&rev],
                )
                .await
                .map(|r| r.get::<_, i64>(0))
                .unwrap_or(-1)
        }
    };
    wait_for(&log, "60 rows at revision 2", || async {
        count_at(2).await == 60
    })
    .await;
    assert_eq!(
        count_at(1).await,
        0,
        "a lower revision overwrote a higher one"
    );

    first.0.kill().unwrap(); // SIGKILL: no drain, no final commit
    first.0.wait().unwrap();
    for learner in 0..60 {
        send(
            &producer,
            &indicators,
            "k",
            encode(&row(learner, 3)).unwrap(),
        )
        .await;
    }
    for learner in 0..60 {
        send(
            &producer,
            &indicators,
            "k",
            encode(&row(learner, 1)).unwrap(),
        )
        .await;
    }
    let _second: Killed = spawn_service("lap-sink", file.path(), &log);
    wait_for(&log, "60 rows at revision 3", || async {
        count_at(3).await == 60
    })
    .await;
    // The stale revision-1 rows after them must be read, committed and ignored.
    let mut ends = vec![None; 3];
    for m in testkit::read_topic(&bootstrap, &indicators).await {
        ends[m.partition as usize] = Some(m.offset + 1);
    }
    let group = format!("{group}.sink");
    wait_for(&log, "every record committed", || async {
        testkit::committed(&bootstrap, &group, &indicators, 3).await == ends
    })
    .await;
    let total: i64 = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(total, 60);
    assert_eq!(count_at(3).await, 60);

    // The lake holds the same rows (lap query reads sink.lake.path).
    let (ok, out) = lap(
        file.path(),
        &[
            "query",
            "SELECT revision, count(*) AS n FROM learner_daily GROUP BY revision",
            "--format",
            "csv",
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(out, "revision,n\n3,60\n");

    let letters: Vec<DeadLetter> = testkit::read_topic(&bootstrap, &dlq)
        .await
        .iter()
        .map(|m| decode(m.payload.as_deref().unwrap()).unwrap())
        .collect();
    assert!(!letters.is_empty(), "the junk record was not dead-lettered");
    assert!(letters.iter().all(|l| l.error_code == "sink.decode"
        && l.payload == b"not an indicator row"
        && l.origin.topic.as_deref() == Some(indicators.as_str())));
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}

async fn wait_for<F, Fut>(log: &tempfile::NamedTempFile, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; log:\n{}",
            std::fs::read_to_string(log.path()).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
