//! `lap roster load` and the `lap-enrich` service through the real broker:
//! the load publishes the export, a second load publishes nothing, the
//! service is ready only after catching up with the roster, joins events
//! into the enriched topic, drops an opted-out learner's event, and routes
//! an unknown actor to the unmatched topic after the grace period. A
//! second test SIGKILLs the service mid-stream and restarts it: every event
//! reaches the enriched topic, and any event written twice is written
//! byte-for-byte the same, so consumers deduplicating by `event_id` (as
//! aggregate does) see each event once.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Killed, export_dir, lap, roster_load, spawn_service, wait_ready};
use lap_runtime::testkit;
use lap_runtime::transport::kafka::KafkaSink;
use lap_runtime::transport::{OutRecord, RecordSink};
use lap_schemas::{
    Action, Actor, ActorKind, DeadLetter, EnrichedEvent, EventContext, EventObject, LearningEvent,
    Role, SourceStandard, decode, encode,
};

fn event(id: &str, account: &str) -> LearningEvent {
    LearningEvent {
        event_id: id.into(),
        source: SourceStandard::Xapi,
        spec_version: "1.0.3".into(),
        event_time: 1_727_773_200_000_000,
        stored_time: 1_727_773_200_000_000,
        actor: Actor {
            kind: ActorKind::Account,
            id: account.into(),
            home_page: Some("https://lms.hillside.example".into()),
            actor_type: Some("Agent".into()),
        },
        action: Action::Completed,
        verb: "http://adlnet.gov/expapi/verbs/completed".into(),
        object: EventObject {
            id: "https://lms.hillside.example/lesson/3".into(),
            object_type: None,
            name: None,
        },
        result: None,
        context: EventContext {
            class_refs: vec!["7A-MATH".into()],
            ..Default::default()
        },
        due_time: None,
        voids: None,
        extensions: None,
    }
}

/// A config file naming `topics` (roster, events, enriched, unmatched,
/// dlq), a fresh consumer group, the metrics port and more `[kafka.consumer]`
/// lines.
fn write_config(
    bootstrap: &str,
    topics: &[&str; 5],
    metrics_port: u16,
    consumer: &str,
) -> tempfile::NamedTempFile {
    let [roster, events, enriched, unmatched, dlq] = topics;
    let config = format!(
        r#"
[kafka]
bootstrap_servers = "{bootstrap}"
[kafka.consumer]
group_prefix = "{}"
session_timeout_ms = 6000
{consumer}
[topics.roster]
name = "{roster}"
[topics.events]
name = "{events}"
[topics.enriched]
name = "{enriched}"
[topics.unmatched]
name = "{unmatched}"
[topics.dlq]
name = "{dlq}"
[service]
metrics_addr = "127.0.0.1:{metrics_port}"
[enrich]
tenant = "t1"
unmatched_grace_s = 2
"#,
        testkit::unique("grp")
    );
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(config.as_bytes()).unwrap();
    file
}

/// Starts `lap-enrich` with `config`, logging to `log`.
fn spawn_enrich(config: &std::path::Path, log: &tempfile::NamedTempFile) -> Killed {
    spawn_service("lap-enrich", config, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roster_load_then_enrich_through_the_broker() {
    let Some(bootstrap) = testkit::service(testkit::KAFKA_ENV) else {
        return;
    };
    let kafka = testkit::kafka_config(&bootstrap);
    let [roster, events, enriched, unmatched, dlq] =
        ["roster", "events", "enriched", "unmatched", "dlq"].map(testkit::unique);
    testkit::create_topic(&kafka, &roster, 2).await;
    for t in [&events, &enriched, &unmatched, &dlq] {
        testkit::create_topic(&kafka, t, 1).await;
    }
    let metrics_port = testkit::free_port();
    let file = write_config(
        &bootstrap,
        &[roster.as_str(), &events, &enriched, &unmatched, &dlq],
        metrics_port,
        "",
    );
    let (ok, out) = roster_load(file.path(), &export_dir());
    assert!(ok, "{out}");
    assert!(
        out.contains("31 new or changed, 0 deleted, 0 unchanged"),
        "{out}"
    );
    let (ok, out) = roster_load(file.path(), &export_dir());
    assert!(ok, "{out}");
    assert!(
        out.contains("0 new or changed, 0 deleted, 31 unchanged"),
        "re-load publishes nothing:\n{out}"
    );
    // 28 roster rows and the class lists: u1 in two classes, u2 in one
    // (u3 opted out).
    assert!(
        out.contains("class lists by pseudonym: 3 memberships"),
        "{out}"
    );
    assert_eq!(testkit::read_topic(&bootstrap, &roster).await.len(), 31);

    let broken = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(export_dir()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), broken.path().join(e.file_name())).unwrap();
    }
    let users = std::fs::read_to_string(broken.path().join("users.csv")).unwrap();
    std::fs::write(
        broken.path().join("users.csv"),
        users.replacen("u3,active,2024-08-01,true", "u3,active,2024-08-01,yes", 1),
    )
    .unwrap();
    let (ok, out) = lap(
        file.path(),
        &[
            "roster",
            "load",
            "--strict",
            "--dry-run",
            broken.path().to_str().unwrap(),
        ],
    );
    assert!(!ok, "--strict fails on a rejected row");
    assert!(
        out.contains("error: users.csv:4 column `enabledUser`: `yes` is not true or false"),
        "{out}"
    );

    let sink = KafkaSink::new(&kafka, "test").unwrap();
    let junk = OutRecord::new(
        roster.as_str().into(),
        Some(Bytes::from("t1/user/junk")),
        Bytes::from("not avro"),
    );
    sink.send(junk).await.unwrap().await.unwrap();
    let log = tempfile::NamedTempFile::new().unwrap();
    let _svc = spawn_enrich(file.path(), &log);
    wait_ready(metrics_port, &log).await;

    for (id, who) in [
        ("e-amara", "amara.okafor"),
        ("e-chen", "chen.wei"),
        ("e-nobody", "nobody"),
    ] {
        let rec = OutRecord::new(
            events.as_str().into(),
            None,
            Bytes::from(encode(&event(id, who)).unwrap()),
        );
        sink.send(rec).await.unwrap().await.unwrap();
    }
    let joined = testkit::wait_for_records(&bootstrap, &enriched, 1, Duration::from_secs(30)).await;
    let e: EnrichedEvent = decode(joined[0].payload.as_ref().unwrap()).unwrap();
    assert_eq!(
        (e.event_id.as_str(), e.class_id.as_deref(), e.role),
        ("e-amara", Some("c7a"), Role::Learner)
    );
    assert_eq!(e.person_key.len(), 64);
    let gone = testkit::wait_for_records(&bootstrap, &unmatched, 1, Duration::from_secs(30)).await;
    let d: DeadLetter = decode(gone[0].payload.as_ref().unwrap()).unwrap();
    assert_eq!(d.error_code, "enrich.unmatched.actor");
    assert_eq!(
        decode::<LearningEvent>(&d.payload).unwrap().event_id,
        "e-nobody"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        testkit::read_topic(&bootstrap, &enriched).await.len(),
        1,
        "the opted-out learner's event is dropped"
    );
    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("lap_enrich_opted_out_total{tenant=\"t1\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("lap_enrich_roster_skipped_total{reason=\"decode\"} 1"),
        "the junk roster record is counted:\n{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_enrich_restarts_without_losing_or_changing_events() {
    let Some(bootstrap) = testkit::service(testkit::KAFKA_ENV) else {
        return;
    };
    let kafka = testkit::kafka_config(&bootstrap);
    let topics = ["roster", "events", "enriched", "unmatched", "dlq"].map(testkit::unique);
    let [roster, events, enriched, unmatched, dlq] = &topics;
    testkit::create_topic(&kafka, roster, 1).await;
    testkit::create_topic(&kafka, events, 3).await;
    testkit::create_topic(&kafka, enriched, 3).await;
    testkit::create_topic(&kafka, unmatched, 1).await;
    testkit::create_topic(&kafka, dlq, 1).await;
    let port = testkit::free_port();
    // Static membership, as on Kubernetes (the pod name): the restarted
    // process takes its partitions back at once instead of waiting for the
    // dead member's session timeout to expire (which noida-db never does).
    let file = write_config(
        &bootstrap,
        &topics.each_ref().map(String::as_str),
        port,
        &format!("group_instance_id = \"{}\"", testkit::unique("enrich")),
    );
    let (ok, out) = roster_load(file.path(), &export_dir());
    assert!(ok, "{out}");

    const N: usize = 3000;
    let producer = {
        let (kafka, events) = (kafka.clone(), events.clone());
        tokio::spawn(async move {
            let sink = KafkaSink::new(&kafka, "test").unwrap();
            for chunk in (0..N).collect::<Vec<_>>().chunks(100) {
                let mut acks = Vec::new();
                for &i in chunk {
                    let who = ["amara.okafor", "bjorn.lindqvist"][i % 2];
                    let payload = Bytes::from(encode(&event(&format!("r-{i}"), who)).unwrap());
                    let key = Some(Bytes::from(format!("k{i}")));
                    acks.push(
                        sink.send(OutRecord::new(events.as_str().into(), key, payload))
                            .await
                            .unwrap(),
                    );
                }
                for a in acks {
                    a.await.unwrap();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let log = tempfile::NamedTempFile::new().unwrap();
    let mut first = spawn_enrich(file.path(), &log);
    wait_ready(port, &log).await;
    let seen = testkit::wait_for_records(&bootstrap, enriched, 300, Duration::from_secs(60)).await;
    first.0.kill().unwrap(); // SIGKILL: no drain, no final commit
    first.0.wait().unwrap();
    assert!(
        seen.len() < N,
        "the kill must land mid-stream, {} of {N} were through",
        seen.len()
    );
    let _second = spawn_enrich(file.path(), &log);
    producer.await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(90);
    let (ids, records) = loop {
        let records = testkit::read_topic(&bootstrap, enriched).await;
        let mut ids = std::collections::BTreeMap::new();
        for r in &records {
            let e: EnrichedEvent = decode(r.payload.as_ref().unwrap()).unwrap();
            let first = ids.entry(e.event_id).or_insert_with(|| r.payload.clone());
            assert_eq!(
                *first, r.payload,
                "a replayed event must be written identically"
            );
        }
        if ids.len() == N || Instant::now() > deadline {
            break (ids, records.len());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let expected: std::collections::BTreeSet<String> = (0..N).map(|i| format!("r-{i}")).collect();
    let got: std::collections::BTreeSet<String> = ids.into_keys().collect();
    assert_eq!(
        expected.difference(&got).count(),
        0,
        "lost events; log:\n{}",
        std::fs::read_to_string(log.path()).unwrap()
    );
    assert_eq!(got, expected, "nothing but the produced events");
    println!(
        "{records} records for {N} events: {} replayed after the SIGKILL",
        records - N
    );
    assert!(testkit::read_topic(&bootstrap, unmatched).await.is_empty());
    assert!(testkit::read_topic(&bootstrap, dlq).await.is_empty());
}
