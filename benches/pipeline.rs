//! End-to-end benchmark harness (not a test): the four service binaries as
//! separate processes on the real broker, as `tests/e2e` runs them, with
//! the production defaults of every stage setting.
//!
//! - **Throughput**: a generated school's activity (`LAP_BENCH_COHORTS`
//!   forms of 25, default 16, 6 subjects, 8 weeks) is loaded into the raw
//!   topics first; then the services start and drain it. The figures are
//!   event rows committed (with both stores: held by both) per second from
//!   the services being ready to the last row, and between 10 % and 90 %
//!   of the final count, beside the whole run from the first service's
//!   start, and when ingest's reads and each store's event rows last
//!   changed (which part finished last). Once into the lake alone, once
//!   into the lake and PostgreSQL (into PostgreSQL alone with
//!   `LAP_BENCH_LAKE=off`). The services start
//!   one after another, so ingest and enrich drain the raw topics while
//!   the later ones start; with `LAP_BENCH_LOAD=live` the services start
//!   first and the activity is loaded once they are ready, so all four
//!   stages work at once and the figure from ready includes the loading.
//! - **Latency**: activity produced at `LAP_BENCH_RATE` events/s (default
//!   5,000) for `LAP_BENCH_SECONDS` (default 60); every 20th xAPI
//!   statement whose id is sent once is timed from the moment it is handed
//!   to the producer to the moment its row can be selected from
//!   PostgreSQL's `events` table (polled every 20 ms). The activity
//!   (`LAP_BENCH_LATENCY`): `day` (default), one school day of as many
//!   forms as the run needs (about 17 events per learner that day), as a
//!   district sends it live: windows stay open and are emitted
//!   provisionally, as on any real day; or `weeks`, the throughput
//!   school's 8 weeks replayed at the rate, a stress case in which some 26
//!   school days pass per minute and each day's windows are finalised
//!   (a real day passes once per 24 hours).
//!
//! `LAP_BENCH_PHASES` picks phases (default `lake,postgres,latency`).
//!
//! Needs the broker and PostgreSQL the tests use and release binaries:
//! `cargo build --release --workspace && bash -c 'source tests/services.sh
//! && lap_start_services && cargo bench --workspace --bench pipeline'`.

#[path = "../tests/common/mod.rs"]
mod common;
#[allow(dead_code)] // the tests' harness; the benchmark uses part of it
#[path = "../tests/e2e/harness.rs"]
mod harness;
#[allow(dead_code)] // env_usize only
#[path = "support/measure.rs"]
mod measure;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use harness::{Pipeline, SERVICES, Settings};
use lap_gen::Options;
use lap_runtime::testkit;
use lap_runtime::transport::kafka::KafkaSink;
use lap_runtime::transport::{OutRecord, RecordSink};
use measure::env_usize;
use serde_json::Value;
use tokio::sync::mpsc;

/// Production settings: every stage default, commits once a second.
const BENCH_SETTINGS: Settings = Settings {
    static_members: true,
    stages: "",
    lake: true,
    postgres: true,
    commit_interval_ms: 1_000,
};

/// One generated raw message, in arrival order.
struct Line {
    caliper: bool,
    text: String,
    /// Statements or events it holds.
    events: usize,
    /// The statement id of a single xAPI statement.
    id: Option<String>,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let (Some(_), Some(_)) = (
            testkit::service(testkit::KAFKA_ENV),
            testkit::service(testkit::POSTGRES_ENV),
        ) else {
            return;
        };
        let school = Options {
            cohorts_per_school: env_usize("LAP_BENCH_COHORTS", 16),
            subjects: 6,
            ..Options::default()
        };
        let phases = std::env::var("LAP_BENCH_PHASES").unwrap_or("lake,postgres,latency".into());
        let wanted = |phase: &str| phases.split(',').any(|p| p.trim() == phase);
        if wanted("lake") {
            throughput(&school, false).await;
        }
        if wanted("postgres") {
            throughput(&school, true).await;
        }
        if wanted("latency") {
            latency(&latency_school(&school)).await;
        }
    });
}

/// The school the latency phase sends (`LAP_BENCH_LATENCY`, see above).
fn latency_school(weeks: &Options) -> Options {
    match std::env::var("LAP_BENCH_LATENCY").as_deref() {
        Ok("weeks") => weeks.clone(),
        Ok("day") | Err(_) => {
            let events = env_usize("LAP_BENCH_RATE", 5_000) * env_usize("LAP_BENCH_SECONDS", 60);
            // About 17 events per learner on the generator's Monday, 25
            // learners a form; 10 % spare so the data lasts the run.
            let cohorts = (events * 11 / 10).div_ceil(17 * 25);
            Options {
                cohorts_per_school: cohorts,
                days: 1,
                ..weeks.clone()
            }
        }
        Ok(other) => panic!("LAP_BENCH_LATENCY is `day` or `weeks`, not `{other}`"),
    }
}

/// The generated activity files' messages in arrival order.
fn lines(p: &Pipeline) -> Vec<Line> {
    let mut files: Vec<_> = std::fs::read_dir(p.data("activity"))
        .expect("activity folder")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let caliper = file.to_string_lossy().contains("caliper");
        for text in std::fs::read_to_string(&file)
            .expect("activity file")
            .lines()
        {
            let json: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            let (events, id) = match (&json, caliper) {
                (_, true) => (json["data"].as_array().map_or(1, Vec::len), None),
                (Value::Array(statements), false) => (statements.len(), None),
                (_, false) => (1, json["id"].as_str().map(str::to_string)),
            };
            out.push(Line {
                caliper,
                text: text.to_string(),
                events,
                id,
            });
        }
    }
    out
}

/// Hands `line` to the producer; the returned delivery resolves once the
/// broker has it.
async fn send(p: &Pipeline, producer: &KafkaSink, line: &Line) -> lap_runtime::transport::Pending {
    let topic = &p.topics[if line.caliper {
        "raw_caliper"
    } else {
        "raw_xapi"
    }];
    let record = OutRecord::new(topic.as_str().into(), None, Bytes::from(line.text.clone()));
    producer.send(record).await.expect("produce")
}

/// The sum of the samples of metric `name` whose labels include every
/// pair of `labels`; `None` when there is no such sample.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut sum = None;
    for line in text.lines().filter(|l| l.starts_with(name)) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name_ends = series.len() == name.len() || series[name.len()..].starts_with('{');
        if name_ends
            && labels
                .iter()
                .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
        {
            *sum.get_or_insert(0.0) += value.parse::<f64>().unwrap_or(0.0);
        }
    }
    sum
}

/// Produces every line to the raw topics and waits until the broker has
/// them all.
async fn load(p: &Pipeline, lines: &[Line]) {
    let producer = KafkaSink::new(&testkit::kafka_config(&p.bootstrap), "bench").expect("producer");
    let loading = Instant::now();
    let mut acks = Vec::new();
    for line in lines {
        acks.push(send(p, &producer, line).await);
    }
    for ack in acks {
        ack.await.expect("delivered");
    }
    let events: usize = lines.iter().map(|l| l.events).sum();
    println!(
        "loaded {} messages ({events} statements and events) into the raw topics in {:.1} s",
        lines.len(),
        loading.elapsed().as_secs_f64()
    );
}

/// Loads the whole activity into the raw topics and starts the services
/// (or the other way round with `LAP_BENCH_LOAD=live`), then follows the
/// stored event rows until the pipeline has drained.
async fn throughput(school: &Options, postgres: bool) {
    // `LAP_BENCH_LAKE=off` leaves the lake out only where PostgreSQL is on.
    let lake = !postgres || lake_on();
    let stores = match (lake, postgres) {
        (true, true) => "lake + PostgreSQL",
        (true, false) => "lake",
        (false, _) => "PostgreSQL",
    };
    println!("\n== throughput into the {stores}");
    let settings = Settings {
        lake,
        postgres,
        ..BENCH_SETTINGS
    };
    let mut p = Pipeline::prepare(school, settings)
        .await
        .expect("services checked above");
    let lines = lines(&p);
    let live = match std::env::var("LAP_BENCH_LOAD").as_deref() {
        Ok("first") | Err(_) => false,
        Ok("live") => true,
        Ok(other) => panic!("LAP_BENCH_LOAD is `first` or `live`, not `{other}`"),
    };
    if !live {
        load(&p, &lines).await;
    }
    let started = Instant::now();
    p.launch_all().await;
    let ready = started.elapsed().as_secs_f64();
    println!("services ready after {ready:.1} s");
    // The machine's busy core-seconds and the services' CPU at ready and
    // at the last new row: whose CPU the drain took.
    let cpu_now = |p: &Pipeline| (busy_core_seconds(), services_cpu(p));
    let at_ready = cpu_now(&p);
    if live {
        load(&p, &lines).await;
    }
    // Event rows stored: with both stores, those both hold (the lesser
    // count), so the drain ends when the slower store has them all.
    let rows_of = |text: &str| {
        let stored = |store: &str| {
            metric(
                text,
                "lap_sink_rows_total",
                &[("store", store), ("table", "events")],
            )
        };
        [("delta", lake), ("postgres", postgres)]
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(store, _)| stored(store))
            .reduce(|a, b| a.zip(b).map(|(a, b)| a.min(b)))
            .flatten()
    };
    let mut samples: Vec<(f64, f64)> = Vec::new();
    let mut last_change = (0.0, 0.0);
    let mut at_last_change = at_ready;
    // When each store's event rows and ingest's reads last changed: which
    // part of the pipeline finished last.
    let mut finished: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    let mut next_report = 0.0;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = started.elapsed().as_secs_f64();
        let sink = p.metrics(3).await;
        let rows = rows_of(&sink).unwrap_or(0.0);
        samples.push((now, rows));
        if rows != last_change.1 {
            last_change = (now, rows);
            at_last_change = cpu_now(&p);
        }
        for (part, store) in [("the lake", "delta"), ("PostgreSQL", "postgres")] {
            let labels = [("store", store), ("table", "events")];
            if let Some(n) = metric(&sink, "lap_sink_rows_total", &labels) {
                note_change(&mut finished, part, now, n);
            }
        }
        if now >= next_report {
            println!("  {now:5.1} s: {rows:>9.0} event rows in the {stores}");
            next_report += 5.0;
        }
        // Drained: ingest has read every message and no row came for 5 s
        // (gen's unknown learners wait in enrich for their grace period).
        let ingest = p.metrics(0).await;
        let read = metric(&ingest, "lap_records_in_total", &[("stage", "ingest")]);
        if let Some(n) = read {
            note_change(&mut finished, "ingest's reads", now, n);
        }
        if now - last_change.0 > 5.0 && rows > 0.0 && read == Some(lines.len() as f64) {
            break;
        }
        assert!(now < 1_800.0, "not drained in 30 minutes:\n{}", p.logs());
    }
    let (end, total) = last_change;
    let at = |share: f64| {
        samples
            .iter()
            .find(|(_, r)| *r >= share * total)
            .map_or(end, |(t, _)| *t)
    };
    let sustained = 0.8 * total / (at(0.9) - at(0.1));
    let cpu = cpu_line(&p);
    // With a sink that catches up in few large commits, the 10-90 % window
    // can fall between two commits; the drain from ready to the last row
    // does not depend on how the rows were committed.
    println!(
        "{total:.0} event rows into the {stores}: {:.0} events/s from the services being ready \
         to the last row ({:.1} s), sustained {sustained:.0} events/s (10-90 %), {:.0} events/s \
         over the whole run of {end:.1} s from the first start",
        total / (end - ready),
        end - ready,
        total / end
    );
    println!("CPU used: {cpu}");
    println!("{}", cpu_shares(at_ready, at_last_change, total));
    let ends: Vec<String> = finished
        .iter()
        .map(|(part, (at, n))| format!("{part} {:.1} s ({n:.0})", at - ready))
        .collect();
    println!("last change after ready: {}", ends.join(", "));
    let sink = p.metrics(3).await;
    if lake {
        let delta = [("store", "delta")];
        let sum = |name: &str, labels: &[(&str, &str)]| metric(&sink, name, labels).unwrap_or(0.0);
        let rows_written = sum(
            "lap_sink_rows_total",
            &[("store", "delta"), ("outcome", "written")],
        );
        let (commits, seconds) = (
            sum("lap_sink_write_duration_seconds_count", &delta),
            sum("lap_sink_write_duration_seconds_sum", &delta),
        );
        println!(
            "sink: {commits:.0} lake writes taking {seconds:.1} s in all ({:.0} ms each), \
             {:.0} indicator rows written besides the events",
            1000.0 * seconds / commits.max(1.0),
            rows_written - total
        );
        println!("lake write time by table: {}", write_times(&sink, "delta"));
    }
    let client = connect(&p.pg_url).await;
    if postgres {
        println!(
            "PostgreSQL write time by table: {}",
            write_times(&sink, "postgres")
        );
        let sql = format!("SELECT count(*) FROM {}.events", p.schema);
        let pg: i64 = client.query_one(&sql, &[]).await.expect("count").get(0);
        println!("PostgreSQL events table: {pg} rows (counted by the sink: {total:.0})");
    }
    drop_schema(&client, &p).await;
}

/// Keeps in `finished` when the count of `part` last changed (and to what).
fn note_change<'a>(finished: &mut BTreeMap<&'a str, (f64, f64)>, part: &'a str, now: f64, n: f64) {
    let seen = finished.entry(part).or_insert((now, n));
    if seen.1 != n {
        *seen = (now, n);
    }
}

/// False when `LAP_BENCH_LAKE=off` asks to leave the lake out.
fn lake_on() -> bool {
    std::env::var("LAP_BENCH_LAKE").as_deref() != Ok("off")
}

/// Removes the benchmark's PostgreSQL schema and what it holds.
async fn drop_schema(client: &tokio_postgres::Client, p: &Pipeline) {
    let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", p.schema);
    client.batch_execute(&sql).await.expect("drop schema");
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(conn);
    client
}

/// Produces at a fixed rate and times sampled statements from the
/// producer to a row in PostgreSQL.
async fn latency(school: &Options) {
    let rate = env_usize("LAP_BENCH_RATE", 5_000) as f64;
    let seconds = env_usize("LAP_BENCH_SECONDS", 60) as f64;
    println!(
        "\n== latency at {rate:.0} events/s for {seconds:.0} s, event to a row in PostgreSQL \
         ({} forms of 25 over {} days)",
        school.cohorts_per_school, school.days
    );
    let settings = Settings {
        lake: lake_on(),
        ..BENCH_SETTINGS
    };
    let p = Pipeline::start(school, settings)
        .await
        .expect("services checked above");
    let lines = lines(&p);
    let mut once: HashMap<&str, usize> = HashMap::new();
    for id in lines.iter().filter_map(|l| l.id.as_deref()) {
        *once.entry(id).or_default() += 1;
    }
    let producer = KafkaSink::new(&testkit::kafka_config(&p.bootstrap), "bench").expect("producer");
    let (tx, rx) = mpsc::unbounded_channel();
    let client = connect(&p.pg_url).await;
    let watcher = tokio::spawn(watch(connect(&p.pg_url).await, p.schema.clone(), rx));

    let started = Instant::now();
    let (mut sent, mut index, mut candidates, mut sampled) = (0.0, 0, 0, 0);
    let mut next_report = 5.0;
    while index < lines.len() && started.elapsed().as_secs_f64() < seconds {
        let due = rate * started.elapsed().as_secs_f64();
        let mut acks = Vec::new();
        while sent < due && index < lines.len() {
            let line = &lines[index];
            if let Some(id) = line.id.as_deref().filter(|id| once[id] == 1) {
                if candidates % 20 == 0 {
                    tx.send((id.to_string(), Instant::now()))
                        .expect("watcher runs");
                    sampled += 1;
                }
                candidates += 1;
            }
            acks.push(send(&p, &producer, line).await);
            sent += line.events as f64;
            index += 1;
        }
        tokio::spawn(async move {
            for ack in acks {
                ack.await.expect("delivered");
            }
        });
        if started.elapsed().as_secs_f64() >= next_report {
            println!("  {next_report:4.0} s: {sent:.0} events sent, {sampled} sampled");
            next_report += 5.0;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    drop(tx);
    let (timed, missing) = watcher.await.expect("watcher");
    print_windows(&timed, started);
    let mut found: Vec<u64> = timed.iter().map(|(_, ms)| *ms).collect();
    found.sort();
    assert!(
        !found.is_empty(),
        "no sampled statement reached PostgreSQL:\n{}",
        p.logs()
    );
    let pct = |q: f64| found[((found.len() - 1) as f64 * q).round() as usize];
    println!(
        "sent {sent:.0} events in {elapsed:.1} s ({:.0}/s); {} of {sampled} sampled statements stored \
         ({missing} never arrived: invalid or unknown learners, within 30 s of the end)",
        sent / elapsed,
        found.len()
    );
    println!(
        "latency to a PostgreSQL row: p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        found.last().copied().unwrap_or(0)
    );
    println!("CPU used: {}", cpu_line(&p));
    let aggregate = p.metrics(2).await;
    let rows = |emission: &str| {
        metric(
            &aggregate,
            "lap_aggregate_rows_total",
            &[("emission", emission)],
        )
        .unwrap_or(0.0)
    };
    println!(
        "indicator rows emitted: {:.0} provisional, {:.0} final; {:.0} provisional rows left out as unchanged",
        rows("provisional"),
        rows("final"),
        metric(&aggregate, "lap_aggregate_rows_unchanged_total", &[]).unwrap_or(0.0)
    );
    let sink = p.metrics(3).await;
    println!(
        "PostgreSQL write time by table: {}",
        write_times(&sink, "postgres")
    );
    if settings.lake {
        println!("lake write time by table: {}", write_times(&sink, "delta"));
    }
    drop_schema(&client, &p).await;
}

/// Time store `store` spent writing each table, and in how many writes,
/// from the sink's metrics text.
fn write_times(sink: &str, store: &str) -> String {
    let tables: Vec<String> = [
        "events",
        "learner_daily",
        "learner_weekly",
        "class_daily",
        "class_weekly",
    ]
    .iter()
    .map(|t| {
        let labels = [("store", store), ("table", *t)];
        let get = |name: &str| metric(sink, name, &labels).unwrap_or(0.0);
        format!(
            "{t} {:.1} s in {:.0}",
            get("lap_sink_table_write_duration_seconds_sum"),
            get("lap_sink_table_write_duration_seconds_count")
        )
    })
    .collect();
    tables.join(", ")
}

/// CPU seconds each service has used so far, for the report.
fn cpu_line(p: &Pipeline) -> String {
    let cpu: Vec<String> = (0..SERVICES.len())
        .map(|i| format!("{} {:.1} s", SERVICES[i], p.cpu_seconds(i)))
        .collect();
    cpu.join(", ")
}

/// Core-seconds the whole machine has spent busy since boot: user, nice,
/// system, irq and softirq of `/proc/stat` (not idle, iowait, steal, nor
/// guest, which user already counts; USER_HZ = 100 on Linux).
fn busy_core_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let busy: f64 = [0, 1, 2, 5, 6].iter().filter_map(|&i| ticks.get(i)).sum();
    busy / 100.0
}

/// CPU seconds the four services have used so far, together.
fn services_cpu(p: &Pipeline) -> f64 {
    (0..SERVICES.len()).map(|i| p.cpu_seconds(i)).sum()
}

/// Whose CPU a drain of `events` took between two (machine busy, services)
/// readings: lap's four services, per event and as the rate this
/// machine's cores would sustain if they ran nothing else, against what
/// everything else on the machine took meanwhile (PostgreSQL, the broker,
/// this loader), which in production runs on machines of its own.
fn cpu_shares(from: (f64, f64), to: (f64, f64), events: f64) -> String {
    let (busy, services) = (to.0 - from.0, to.1 - from.1);
    let micros = 1e6 * services / events.max(1.0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "CPU from ready to the last row: the machine busy {busy:.1} core-s; lap's services \
         {services:.1} ({micros:.1} µs per event, {:.0} events/s on {cores} cores of their own), \
         everything else (PostgreSQL, broker, loader) {:.1}",
        cores as f64 * 1e6 / micros.max(f64::MIN_POSITIVE),
        busy - services
    )
}

/// Prints the latencies of the statements sent in each 10 s window: a
/// high p99 from a few periodic stalls (a commit, an emission) looks
/// different from one that grows with the run.
fn print_windows(timed: &[(Instant, u64)], started: Instant) {
    let mut windows: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (sent, ms) in timed {
        let window = (*sent - started).as_secs() / 10 * 10;
        windows.entry(window).or_default().push(*ms);
    }
    for (start, mut ms) in windows {
        ms.sort();
        let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
        println!(
            "  sent at {start:3}-{:3} s: {:5} samples, p50 {:5} ms, p99 {:5} ms, max {:5} ms",
            start + 10,
            ms.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
}

/// Polls PostgreSQL every 20 ms for the statements sent so far; returns
/// when each found statement was sent and its latency in ms, and how many
/// never arrived (the watch ends 30 s after the last statement is sent).
async fn watch(
    client: tokio_postgres::Client,
    schema: String,
    mut rx: mpsc::UnboundedReceiver<(String, Instant)>,
) -> (Vec<(Instant, u64)>, usize) {
    let sql = format!("SELECT event_id FROM {schema}.events WHERE event_id = ANY($1)");
    let mut pending: BTreeMap<String, Instant> = BTreeMap::new();
    let mut found = Vec::new();
    let mut closed_at: Option<Instant> = None;
    loop {
        loop {
            match rx.try_recv() {
                Ok((id, at)) => {
                    pending.insert(id, at);
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    closed_at.get_or_insert_with(Instant::now);
                    break;
                }
            }
        }
        if !pending.is_empty() {
            let ids: Vec<&str> = pending.keys().map(String::as_str).collect();
            let rows = client.query(&sql, &[&ids]).await.expect("poll events");
            let now = Instant::now();
            for row in rows {
                let id: String = row.get(0);
                if let Some(at) = pending.remove(&id) {
                    found.push((at, (now - at).as_millis() as u64));
                }
            }
        }
        let done =
            closed_at.is_some_and(|c| pending.is_empty() || c.elapsed() > Duration::from_secs(30));
        if done {
            return (found, pending.len());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
