//! The distributed pipeline of a test: fresh topics on the real broker, a
//! PostgreSQL schema and a lake directory of its own, the four service
//! binaries as processes, and a generated school fed to them through the
//! raw topics and the ingest HTTP front door.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lap_gen::{Options, Summary, write_dir};
use lap_runtime::testkit;
use lap_runtime::transport::kafka::KafkaSink;
use lap_runtime::transport::{OutRecord, RecordSink};
use serde_json::Value;

use crate::common::{Killed, spawn_service, wait_ready};

/// The services, in pipeline order; indexes into [`Pipeline`]'s arrays.
pub const SERVICES: [&str; 4] = ["lap-ingest", "lap-enrich", "lap-aggregate", "lap-sink"];

/// HTTP client secrets; config holds only their SHA-256.
const XAPI_SECRET: &str = "e2e-xapi-secret";
const XAPI_SECRET_SHA256: &str = "7cea94e92a884eedd42b11ac15d15825998246690538d2459ee6ab1cc7f3cccd";
const CALIPER_SECRET: &str = "e2e-caliper-secret";
const CALIPER_SECRET_SHA256: &str =
    "262b1828bf40b313499547bda84672a8c22cae9db58d61080ea00165fb06825f";

/// How a pipeline's services are configured.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Each replica joins its groups with a static member id (a
    /// restarted one gets its partitions back without a rebalance), or
    /// dynamically.
    pub static_members: bool,
    /// TOML of the `[enrich]` and `[aggregate]` sections, shared with the
    /// `lap run` and `lap backfill` the results are compared with.
    pub stages: &'static str,
    /// Whether the sink writes the lake.
    pub lake: bool,
    /// Whether the sink writes PostgreSQL.
    pub postgres: bool,
    /// How often consumers commit offsets: the longer, the more a SIGKILL
    /// makes a restarted service replay.
    pub commit_interval_ms: u64,
}

/// The tests' settings. Allowed lateness 6 days: gen's offline devices
/// sync up to 5 days late, and none of them may be late here (the
/// reference run has no lateness); quick provisional rows and idle
/// partitions so an open window shows its values within seconds.
pub const TEST_SETTINGS: Settings = Settings {
    static_members: true,
    stages: "[enrich]\nunmatched_grace_s = 2\n\
        [aggregate]\nallowed_lateness_s = 518400\nidle_partition_s = 2\nprovisional_interval_s = 1\n",
    lake: true,
    postgres: true,
    commit_interval_ms: 200,
};

/// Topic roles and their partitions (several where keys spread the load).
const TOPICS: [(&str, i32); 10] = [
    ("raw_xapi", 2),
    ("raw_caliper", 2),
    ("events", 3),
    ("dlq", 1),
    ("roster", 1),
    ("enriched", 4),
    ("unmatched", 1),
    ("late", 1),
    ("indicators", 3),
    ("aggregate_state", 4),
];

/// Something that happens to the services while data flows; `i` is the
/// index of a service in [`SERVICES`], `r` the number of its copy.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    /// SIGKILL the first copy of service `i` and start it again.
    KillAndRestart(usize),
    /// Start another copy of service `i` (its consumer group rebalances).
    Add(usize),
    /// SIGTERM copy `r` of service `i` (a scale-down).
    Stop(usize, usize),
    /// SIGKILL copy `r` of service `i`, for good.
    Kill(usize, usize),
    /// SIGTERM copy `r` of service `i` and start it again (a rolling
    /// restart's step).
    Restart(usize, usize),
}

/// One running copy of a service: its endpoint port, config and log.
struct Replica {
    port: u16,
    config: PathBuf,
    log: tempfile::NamedTempFile,
    process: Option<Killed>,
}

/// One test's pipeline; every service it started is killed when dropped.
pub struct Pipeline {
    /// Broker address.
    pub bootstrap: String,
    /// PostgreSQL URL.
    pub pg_url: String,
    /// The sink's PostgreSQL schema, unique to the test.
    pub schema: String,
    /// Topic names by role (`raw_xapi`, `enriched`, …).
    pub topics: BTreeMap<&'static str, String>,
    /// Working directory: generated data, configs, lakes, logs.
    pub dir: tempfile::TempDir,
    /// What `lap gen` wrote.
    pub summary: Summary,
    /// The sink's lake.
    pub lake: PathBuf,
    http_port: u16,
    /// The copies of each service, by the index of [`SERVICES`].
    replicas: [Vec<Replica>; 4],
    /// Consumer group prefix and static member id prefix.
    group: String,
    instance: String,
    settings: Settings,
}

impl Pipeline {
    /// [`Pipeline::prepare`], then starts the four services.
    pub async fn start(opts: &Options, settings: Settings) -> Option<Pipeline> {
        let mut p = Pipeline::prepare(opts, settings).await?;
        p.launch_all().await;
        Some(p)
    }

    /// Generates a school per `opts`, creates the topics, writes each
    /// service's config per `settings` and loads the roster. `None` when
    /// broker or PostgreSQL is not configured for the tests.
    pub async fn prepare(opts: &Options, settings: Settings) -> Option<Pipeline> {
        Pipeline::prepare_on(testkit::KAFKA_ENV, opts, settings).await
    }

    /// [`Pipeline::prepare`] on the broker named by the environment
    /// variable `broker` (e.g. one that reassigns a killed consumer's
    /// partitions).
    pub async fn prepare_on(broker: &str, opts: &Options, settings: Settings) -> Option<Pipeline> {
        let bootstrap = testkit::service(broker)?;
        let pg_url = testkit::service(testkit::POSTGRES_ENV)?;
        let kafka = testkit::kafka_config(&bootstrap);
        let mut topics = BTreeMap::new();
        for (role, partitions) in TOPICS {
            let name = testkit::unique(role);
            testkit::create_topic(&kafka, &name, partitions).await;
            topics.insert(role, name);
        }
        let dir = tempfile::tempdir().unwrap();
        let summary = write_dir(opts, &dir.path().join("data")).unwrap();
        let mut p = Pipeline {
            bootstrap,
            pg_url,
            schema: testkit::unique("e2e").replace('-', "_"),
            topics,
            lake: dir.path().join("lake"),
            summary,
            http_port: testkit::free_port(),
            replicas: [(); 4].map(|_| Vec::new()),
            group: testkit::unique("grp"),
            instance: testkit::unique("e2e"),
            settings,
            dir,
        };
        for i in 0..SERVICES.len() {
            p.new_replica(i);
        }
        let roster = p.data("roster");
        let (ok, out) = crate::common::roster_load(p.config_of(0), &roster);
        assert!(ok, "{out}");
        Some(p)
    }

    /// Adds a copy of service `i` (not started): its own endpoint port,
    /// member id and log; returns its number.
    fn new_replica(&mut self, i: usize) -> usize {
        let r = self.replicas[i].len();
        let port = testkit::free_port();
        let config = self.dir.path().join(format!("{}-{r}.toml", SERVICES[i]));
        let text = self.config(i, r, port) + self.settings.stages;
        std::fs::write(&config, text).unwrap();
        self.replicas[i].push(Replica {
            port,
            config,
            log: tempfile::NamedTempFile::new().unwrap(),
            process: None,
        });
        r
    }

    /// The config file of service `i` (its first copy): the stores, the
    /// topics and the stage settings every command of the test shares.
    pub fn config_of(&self, i: usize) -> &Path {
        &self.replicas[i][0].config
    }

    /// Starts the four services, each ready before the next starts.
    pub async fn launch_all(&mut self) {
        for i in 0..SERVICES.len() {
            self.launch(i).await;
        }
    }

    /// A path under the generated data.
    pub fn data(&self, name: &str) -> PathBuf {
        self.dir.path().join("data").join(name)
    }

    /// The config of copy `r` of service `i`: shared topics and stores,
    /// its own metrics port and member id.
    fn config(&self, i: usize, r: usize, port: u16) -> String {
        let member = match self.settings.static_members {
            true => format!("{}-{}-{r}", self.instance, SERVICES[i]),
            false => String::new(),
        };
        let mut text = format!(
            "[kafka]\nbootstrap_servers = \"{}\"\n[kafka.consumer]\ngroup_prefix = \"{}\"\n\
             group_instance_id = \"{member}\"\nsession_timeout_ms = 6000\ncommit_interval_ms = {}\n",
            self.bootstrap, self.group, self.settings.commit_interval_ms
        );
        for (role, name) in &self.topics {
            text += &format!("[topics.{role}]\nname = \"{name}\"\n");
        }
        text += &format!(
            r#"[service]
metrics_addr = "127.0.0.1:{port}"
[ingest.http]
addr = "127.0.0.1:{http}"
[ingest.http.clients.lms-x]
secret_sha256 = "{XAPI_SECRET_SHA256}"
scopes = ["xapi"]
[ingest.http.clients.lms-c]
secret_sha256 = "{CALIPER_SECRET_SHA256}"
scopes = ["caliper"]
[sink]
retry_initial_ms = 50
[sink.lake]
enabled = {lake_on}
path = "{lake}"
[sink.postgres]
enabled = {postgres}
url = "{pg}"
schema = "{schema}"
"#,
            http = self.http_port,
            lake = self.lake.display(),
            lake_on = self.settings.lake,
            postgres = self.settings.postgres,
            pg = self.pg_url,
            schema = self.schema,
        );
        text
    }

    /// A config for `lap run` and `lap backfill` with the services' stage
    /// settings (no broker, no PostgreSQL).
    pub fn embedded_config(&self, settings: Settings) -> PathBuf {
        let path = self.dir.path().join("embedded.toml");
        std::fs::write(&path, settings.stages).unwrap();
        path
    }

    /// Starts service `i` and waits until it reports ready.
    async fn launch(&mut self, i: usize) {
        self.start_replica(i, 0).await;
    }

    /// Starts copy `r` of service `i` and waits until it reports ready.
    pub async fn start_replica(&mut self, i: usize, r: usize) {
        let replica = &mut self.replicas[i][r];
        replica.process = Some(spawn_service(SERVICES[i], &replica.config, &replica.log));
        wait_ready(replica.port, &replica.log).await;
    }

    /// Adds and starts a copy of service `i`; returns its number.
    pub async fn add_replica(&mut self, i: usize) -> usize {
        let r = self.new_replica(i);
        self.start_replica(i, r).await;
        r
    }

    /// Stops copy `r` of service `i` as Kubernetes does (SIGTERM: drain,
    /// commit, leave) and waits until it has exited.
    pub fn stop_replica(&mut self, i: usize, r: usize) {
        if let Some(mut process) = self.replicas[i][r].process.take() {
            let pid = process.0.id().to_string();
            let sent = std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap();
            assert!(sent.success(), "kill -TERM {pid}");
            let exit = process.0.wait().unwrap();
            assert!(
                exit.success(),
                "{} {r} exited with {exit} after SIGTERM",
                SERVICES[i]
            );
        }
    }

    /// SIGKILLs copy `r` of service `i` (no drain, no commit).
    pub fn kill_replica(&mut self, i: usize, r: usize) {
        if let Some(mut process) = self.replicas[i][r].process.take() {
            process.0.kill().unwrap();
            process.0.wait().unwrap();
        }
    }

    /// The Prometheus text of service `i`: the benchmark follows the
    /// pipeline's progress through the services' own counters.
    #[allow(dead_code)] // used by benches/pipeline.rs only
    pub async fn metrics(&self, i: usize) -> String {
        let url = format!("http://127.0.0.1:{}/metrics", self.replicas[i][0].port);
        match reqwest::get(url).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// CPU seconds (user + system) the running copies of service `i` have
    /// used so far, from `/proc/PID/stat`, whose clock ticks are USER_HZ =
    /// 100 on Linux.
    #[allow(dead_code)] // used by benches/pipeline.rs only
    pub fn cpu_seconds(&self, i: usize) -> f64 {
        let ticks = |child: &Killed| {
            let stat =
                std::fs::read_to_string(format!("/proc/{}/stat", child.0.id())).unwrap_or_default();
            // Fields after the parenthesised command name; utime and stime
            // are the 14th and 15th of the whole line.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let field = |n: usize| {
                fields
                    .get(n)
                    .and_then(|f| f.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            field(11) + field(12)
        };
        let all: f64 = self.replicas[i]
            .iter()
            .filter_map(|r| r.process.as_ref())
            .map(ticks)
            .sum();
        all / 100.0
    }

    /// Does `step` to the services.
    pub async fn apply(&mut self, step: Step) {
        match step {
            Step::KillAndRestart(i) => self.kill_and_restart(i).await,
            Step::Add(i) => {
                self.add_replica(i).await;
            }
            Step::Stop(i, r) => self.stop_replica(i, r),
            Step::Kill(i, r) => self.kill_replica(i, r),
            Step::Restart(i, r) => {
                self.stop_replica(i, r);
                self.start_replica(i, r).await;
            }
        }
    }

    /// SIGKILLs service `i` (its first copy) and starts it again.
    pub async fn kill_and_restart(&mut self, i: usize) {
        self.kill_replica(i, 0);
        self.launch(i).await;
    }

    /// The services' logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for (name, replicas) in SERVICES.iter().zip(&self.replicas) {
            for (r, replica) in replicas.iter().enumerate() {
                let text = std::fs::read_to_string(replica.log.path()).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                out += &format!("--- {name} {r} (last lines)\n");
                for line in tail.into_iter().rev() {
                    out += line;
                    out.push('\n');
                }
            }
        }
        out
    }

    /// Feeds the generated activity in arrival order: the files of
    /// `http_date` through the HTTP front door, every other file's lines
    /// to the raw topics. `steps` maps a file index to what happens to
    /// the services right after that file is sent (a SIGKILL, a scale-up,
    /// ...); `pace` is slept between files so they happen while data flows.
    pub async fn feed(
        &mut self,
        http_date: &str,
        steps: &BTreeMap<usize, Vec<Step>>,
        pace: Duration,
    ) {
        let kafka = testkit::kafka_config(&self.bootstrap);
        let producer = KafkaSink::new(&kafka, "e2e-test").unwrap();
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.data("activity"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(
            files.iter().any(|f| name_of(f).starts_with(http_date)),
            "no activity file of {http_date}"
        );
        let http = reqwest::Client::new();
        for (index, file) in files.iter().enumerate() {
            let caliper = name_of(file).contains("caliper");
            let text = std::fs::read_to_string(file).unwrap();
            if name_of(file).starts_with(http_date) {
                for line in text.lines() {
                    self.post(&http, line, caliper).await;
                }
            } else {
                let topic = &self.topics[if caliper { "raw_caliper" } else { "raw_xapi" }];
                let mut acks = Vec::new();
                for line in text.lines() {
                    let payload = Bytes::from(line.to_string());
                    let record = OutRecord::new(topic.as_str().into(), None, payload);
                    acks.push(producer.send(record).await.unwrap());
                }
                for ack in acks {
                    ack.await.unwrap();
                }
            }
            // Right after a file is out, its records are in flight.
            for step in steps.get(&index).into_iter().flatten() {
                println!("{step:?} after file {index} of {}", files.len());
                self.apply(*step).await;
            }
            tokio::time::sleep(pace).await;
        }
    }

    /// Sends one xAPI statement through the HTTP front door.
    #[allow(dead_code)] // benches/pipeline.rs shares this file without it
    pub async fn send_xapi(&self, statement: &Value) {
        self.post(&reqwest::Client::new(), &statement.to_string(), false)
            .await;
    }

    /// Sends one generated line over HTTP as an LMS would: each xAPI
    /// statement on its own (so one invalid statement rejects only
    /// itself, as on the raw topic), each Caliper event in an envelope of
    /// its own. Retries while ingest is down (it may have been killed).
    async fn post(&self, http: &reqwest::Client, line: &str, caliper: bool) {
        let message: Value = serde_json::from_str(line).unwrap();
        let bodies: Vec<Value> = if caliper {
            let events = message["data"].as_array().cloned().unwrap_or_default();
            events
                .into_iter()
                .map(|e| {
                    let mut one = message.clone();
                    one["data"] = Value::Array(vec![e]);
                    one
                })
                .collect()
        } else {
            match message {
                Value::Array(statements) => statements,
                one => vec![one],
            }
        };
        for body in bodies {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let request = if caliper {
                    http.post(format!("http://127.0.0.1:{}/caliper", self.http_port))
                        .bearer_auth(CALIPER_SECRET)
                } else {
                    let version = if body["version"].as_str().is_some_and(|v| v.starts_with('2')) {
                        "2.0.0"
                    } else {
                        "1.0.3"
                    };
                    http.post(format!(
                        "http://127.0.0.1:{}/xapi/statements",
                        self.http_port
                    ))
                    .basic_auth("lms-x", Some(XAPI_SECRET))
                    .header("X-Experience-API-Version", version)
                };
                let sent = request
                    .header("Content-Type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await;
                match sent.map(|r| r.status().as_u16()) {
                    // Stored, or rejected as invalid (a dead letter).
                    Ok(200 | 204 | 400) => break,
                    other => {
                        assert!(
                            Instant::now() < deadline,
                            "HTTP front door unavailable: {other:?}\n{}",
                            self.logs()
                        );
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        }
    }
}

fn name_of(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}
