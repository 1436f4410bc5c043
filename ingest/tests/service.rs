//! The `lap-ingest` binary as operators run it: against the real broker,
//! with `/metrics` checked by `promtool`, probes answering, and SIGTERM
//! draining, committing and exiting 0.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lap_runtime::testkit;
use lap_runtime::transport::kafka::KafkaSink;
use lap_runtime::transport::{OutRecord, RecordSink};
use lap_schemas::{LearningEvent, decode};
use serde_json::json;

struct Service {
    child: Child,
    metrics: String,
    bootstrap: String,
    raw: String,
    events: String,
    group: String,
    _config: tempfile::NamedTempFile,
    _log: tempfile::NamedTempFile,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(grace_ms: u64) -> Option<Service> {
    let bootstrap = testkit::service(testkit::KAFKA_ENV)?;
    let kafka = testkit::kafka_config(&bootstrap);
    let (raw, caliper, events, dlq) = (
        testkit::unique("raw"),
        testkit::unique("rawc"),
        testkit::unique("events"),
        testkit::unique("dlq"),
    );
    testkit::create_topic(&kafka, &raw, 2).await;
    for t in [&caliper, &events, &dlq] {
        testkit::create_topic(&kafka, t, 1).await;
    }
    let prefix = testkit::unique("svc");
    let metrics_port = testkit::free_port();
    let config = format!(
        r#"
[kafka]
bootstrap_servers = "{bootstrap}"
[kafka.consumer]
group_prefix = "{prefix}"
session_timeout_ms = 6000
batch_max = 50
[topics.raw_xapi]
name = "{raw}"
[topics.raw_caliper]
name = "{caliper}"
[topics.events]
name = "{events}"
[topics.dlq]
name = "{dlq}"
[service]
metrics_addr = "127.0.0.1:{metrics_port}"
shutdown_grace_ms = {grace_ms}
[ingest.http]
addr = "127.0.0.1:{}"
[log]
format = "json"
"#,
        testkit::free_port()
    );
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(config.as_bytes()).unwrap();
    let log = tempfile::NamedTempFile::new().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_lap-ingest"))
        .arg("--config")
        .arg(file.path())
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .expect("start lap-ingest");
    Some(Service {
        child,
        metrics: format!("http://127.0.0.1:{metrics_port}"),
        bootstrap,
        raw,
        events,
        group: format!("{prefix}.ingest"),
        _config: file,
        _log: log,
    })
}

impl Service {
    fn log_text(&self) -> String {
        std::fs::read_to_string(self._log.path()).unwrap_or_default()
    }

    async fn produce(&self, from: usize, to: usize) {
        let sink = KafkaSink::new(&testkit::kafka_config(&self.bootstrap), "svc-test").unwrap();
        let topic: std::sync::Arc<str> = self.raw.as_str().into();
        let mut pending = Vec::new();
        for i in from..to {
            let stmt = json!({"id": id_of(i), "actor": {"mbox": format!("mailto:learner{}@example.org", i % 13)},
                "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"}, "object": {"id": format!("https://lms.example.org/a/{i}")}});
            let key = Bytes::from(format!("k{}", i % 7));
            pending.push(
                sink.send(OutRecord::new(
                    topic.clone(),
                    Some(key),
                    Bytes::from(stmt.to_string()),
                ))
                .await
                .unwrap(),
            );
        }
        for p in pending {
            p.await.unwrap();
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        match reqwest::get(format!("{}{path}", self.metrics)).await {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(_) => (0, String::new()),
        }
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = self.get("/readyz").await;
            if status == 200 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never ready: {status} {body}\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn events(&self) -> Vec<LearningEvent> {
        testkit::read_topic(&self.bootstrap, &self.events)
            .await
            .iter()
            .map(|m| decode(m.payload.as_ref().unwrap()).unwrap())
            .collect()
    }
}

fn id_of(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_and_probes_answer() {
    let Some(promtool) = testkit::service("LAP_TEST_PROMTOOL") else {
        return;
    };
    let Some(svc) = start(10_000).await else {
        return;
    };
    svc.wait_ready().await;
    svc.produce(0, 20).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while svc.events().await.len() < 20 {
        assert!(
            Instant::now() < deadline,
            "events never arrived\n{}",
            svc.log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(svc.get("/healthz").await.0, 200);
    let (status, metrics) = svc.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("lap_ingest_accepted_total{source=\"xapi\",version=\"1.0.3\"} 20"),
        "{metrics}"
    );
    assert!(
        metrics.contains("lap_records_in_total{stage=\"ingest\""),
        "{metrics}"
    );
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics:\n{report}\n{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_commits_and_exits_zero() {
    let grace = 10_000;
    let Some(mut svc) = start(grace).await else {
        return;
    };
    svc.wait_ready().await;
    svc.produce(0, 300).await;
    // Keep data flowing while the signal arrives.
    let feeder = {
        let (bootstrap, raw) = (svc.bootstrap.clone(), svc.raw.clone());
        tokio::spawn(async move {
            let sink = KafkaSink::new(&testkit::kafka_config(&bootstrap), "feeder").unwrap();
            for i in 300..1300 {
                let stmt = json!({"id": id_of(i), "actor": {"mbox": "mailto:x@example.org"},
                    "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"}, "object": {"id": "https://lms.example.org/a"}});
                let rec = OutRecord::new(
                    raw.as_str().into(),
                    Some(Bytes::from(format!("k{}", i % 7))),
                    Bytes::from(stmt.to_string()),
                );
                let _ = sink.send(rec).await.unwrap().await;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while svc.events().await.len() < 100 {
        assert!(Instant::now() < deadline, "no progress\n{}", svc.log_text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let signalled = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &svc.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = loop {
        if let Some(s) = svc.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            signalled.elapsed() < Duration::from_millis(grace + 5_000),
            "did not exit within the grace period"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    feeder.abort();
    assert_eq!(exit.code(), Some(0), "exit status\n{}", svc.log_text());
    assert!(
        svc.log_text()
            .contains("offsets of acknowledged messages committed"),
        "{}",
        svc.log_text()
    );

    // Every raw record below the committed offset has its event: committing
    // happened only after the events were durable.
    let committed = testkit::committed(&svc.bootstrap, &svc.group, &svc.raw, 2).await;
    let raw = testkit::read_topic(&svc.bootstrap, &svc.raw).await;
    let events: std::collections::HashSet<String> =
        svc.events().await.into_iter().map(|e| e.event_id).collect();
    let mut covered = 0;
    for m in &raw {
        let Some(c) = committed[m.partition as usize] else {
            continue;
        };
        if m.offset < c {
            let v: serde_json::Value = serde_json::from_slice(m.payload.as_ref().unwrap()).unwrap();
            assert!(
                events.contains(v["id"].as_str().unwrap()),
                "committed past an unprocessed record at {}:{}",
                m.partition,
                m.offset
            );
            covered += 1;
        }
    }
    assert!(
        covered >= 100,
        "offsets of processed records were committed ({covered}; {committed:?})"
    );
}
