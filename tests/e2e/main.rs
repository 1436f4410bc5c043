//! The whole pipeline as it is deployed: `lap-ingest`, `lap-enrich`,
//! `lap-aggregate` and `lap-sink` as separate processes on a real broker,
//! writing PostgreSQL and a Delta lake, fed a generated school through the
//! raw topics and the HTTP front door. What they store must be what the
//! embedded `lap run` computes from the same files, and `lap backfill`
//! over the topics must give the same rows; once uninterrupted (then
//! `lap backfill` recomputes into the stores after late events, see
//! [`backfill`]), once with every service SIGKILLed at a random point
//! while data flows; and the views over what the services stored, in a
//! real browser ([`views`]).

mod backfill;
#[path = "../common/mod.rs"]
mod common;
mod compare;
mod harness;
mod scale;
mod views;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use compare::{
    Key, Row, check_equal, check_stream, from_indicator_row, lake_rows, postgres_rows, query,
};
use harness::{Pipeline, SERVICES, Settings, Step, TEST_SETTINGS};
use lap_gen::Options;
use lap_runtime::testkit;

/// A small school: 2 forms of 10, 2 subjects, 4 weeks, with every kind of
/// mess gen makes (invalid, duplicate, voided, unknown, synced late).
fn school(seed: u64) -> Options {
    Options {
        seed,
        cohorts_per_school: 2,
        learners_per_cohort: 10,
        subjects: 2,
        days: 28,
        invalid_share: 0.01,
        ..Options::default()
    }
}

/// The arrival date whose files go through HTTP: the middle one.
fn http_date(p: &Pipeline) -> String {
    let mut names: Vec<String> = std::fs::read_dir(p.data("activity"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names[names.len() / 2][..10].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_services_store_what_lap_run_and_lap_backfill_compute() {
    let Some(mut p) = Pipeline::start(&school(11), TEST_SETTINGS).await else {
        return;
    };
    let date = http_date(&p);
    p.feed(&date, &BTreeMap::new(), Duration::from_millis(20))
        .await;
    verify(&p, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_sigkilled_once_while_data_flows_changes_nothing() {
    // Offsets committed every 3 s: each restart replays what its service
    // had done since, so the replay paths are exercised, not skipped.
    let settings = Settings {
        commit_interval_ms: 3_000,
        ..TEST_SETTINGS
    };
    let Some(mut p) = Pipeline::start(&school(12), settings).await else {
        return;
    };
    let files = std::fs::read_dir(p.data("activity")).unwrap().count();
    // A different order and point each run; the seed is printed, and
    // LAP_KILL_SEED replays it.
    let seed = match std::env::var("LAP_KILL_SEED") {
        Ok(s) => s.parse().expect("LAP_KILL_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64,
    };
    println!("kill seed {seed} (LAP_KILL_SEED={seed} replays it)");
    let mut rng = seed | 1;
    let mut next = |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    let mut order: Vec<usize> = (0..SERVICES.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, next(i + 1));
    }
    let mut points = BTreeSet::new();
    while points.len() < order.len() {
        points.insert(files / 6 + next(files * 2 / 3));
    }
    let kills: BTreeMap<usize, Vec<Step>> = points
        .into_iter()
        .zip(order)
        .map(|(at, service)| (at, vec![Step::KillAndRestart(service)]))
        .collect();
    let date = http_date(&p);
    p.feed(&date, &kills, Duration::from_millis(150)).await;
    verify(&p, true).await;
}

/// Everything the stored tables must agree with once the stream settles.
/// After `replayed` input, a dead letter, unmatched or late record may be
/// written twice (at least once, like every topic); they are counted by
/// what they are.
async fn verify(p: &Pipeline, replayed: bool) {
    let embedded = p.embedded_config(TEST_SETTINGS);
    let reference_lake = p.dir.path().join("reference-lake");
    run_embedded(p, &embedded, &reference_lake);
    let reference = lake_rows(&embedded, &reference_lake);
    assert!(reference.len() > 100, "{} reference rows", reference.len());
    let reference_events = event_ids_in_lake(&embedded, &reference_lake);

    let (client, conn) = tokio_postgres::connect(&p.pg_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    // Settled: the check passes twice in a row on the same rows.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut passed: Option<BTreeMap<Key, Row>> = None;
    let progress = loop {
        let stored = postgres_rows(&client, &p.schema).await;
        let events = pg_event_ids(&client, &p.schema).await;
        let verdict = check_stream(&stored, &reference).and_then(|progress| {
            if events != reference_events {
                return Err(format!(
                    "{} events in PostgreSQL, {} in the reference",
                    events.len(),
                    reference_events.len()
                ));
            }
            // The lake holds the same rows, revisions included.
            let lake = lake_rows(&embedded, &p.lake);
            if lake != stored {
                return Err(format!(
                    "lake {} rows, PostgreSQL {}",
                    lake.len(),
                    stored.len()
                ));
            }
            if event_ids_in_lake(&embedded, &p.lake) != events {
                return Err("the lake's events differ from PostgreSQL's".into());
            }
            Ok(progress)
        });
        match verdict {
            Ok(progress) if progress.finals > 0 && passed.as_ref() == Some(&stored) => {
                break progress;
            }
            Ok(_) => passed = Some(stored),
            Err(_) => passed = None,
        }
        assert!(
            Instant::now() < deadline,
            "not settled in 300 s: {verdict:?}\n{}",
            p.logs()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    println!(
        "{} final and {} provisional rows equal lap run's ({} rows), {} events",
        progress.finals,
        progress.provisional,
        reference.len(),
        reference_events.len()
    );

    // The books of the topics: each spoiled record one dead letter, each
    // unknown learner's record unmatched, nothing late.
    let records = |topic: &str| {
        let name = p.topics[topic].clone();
        async move { testkit::read_topic(&p.bootstrap, &name).await }
    };
    let (dead, distinct) = letters(&records("dlq").await, |d| {
        format!("{:?} {} {:?}", d.origin, d.error_code, d.payload)
    });
    assert_eq!(distinct, p.summary.invalid, "{:?}", p.summary);
    // A replay of ingest puts the same event on lap.events again, at a new
    // offset and with a new `stored` time: one unmatched record per event.
    let (unmatched, distinct_unmatched) = letters(&records("unmatched").await, |d| {
        let held: lap_schemas::LearningEvent = lap_schemas::decode(&d.payload).unwrap();
        held.event_id
    });
    assert_eq!(
        distinct_unmatched, p.summary.unknown_actor,
        "{:?}",
        p.summary
    );
    if !replayed {
        assert_eq!(dead, distinct, "no dead letter twice without a replay");
        assert_eq!(unmatched, distinct_unmatched);
    }
    // Nothing late, except after a replay upstream: enrich restarted
    // writes what it had written since its last commit again, and a copy
    // that comes after its week is final goes to lap.late (aggregate keeps
    // no ids of final weeks). Such a copy's event was counted: the final
    // rows equal lap run's, and it was written to lap.enriched twice.
    let late = records("late").await;
    if replayed && !late.is_empty() {
        let mut written: BTreeMap<String, usize> = BTreeMap::new();
        for m in records("enriched").await {
            let e: lap_schemas::EnrichedEvent =
                lap_schemas::decode(m.payload.as_deref().unwrap()).unwrap();
            *written.entry(e.event_id).or_default() += 1;
        }
        for m in &late {
            let e: lap_schemas::EnrichedEvent =
                lap_schemas::decode(m.payload.as_deref().unwrap()).unwrap();
            let copies = written.get(&e.event_id).copied().unwrap_or(0);
            assert!(
                copies >= 2,
                "{} went late and is on lap.enriched {copies} time(s): lost, not a replayed copy\n{}\n{}",
                e.event_id,
                describe_late(&late),
                p.logs()
            );
        }
        println!("{} replayed copies of counted events went late", late.len());
    } else {
        assert!(late.is_empty(), "{}\n{}", describe_late(&late), p.logs());
    }

    // lap backfill over the topics computes the reference's rows.
    let config = p.config_of(SERVICES.len() - 1);
    let out = p.dir.path().join("backfill.ndjson");
    let backfilled = backfill_rows(config, &out);
    check_equal(&backfilled, &reference).unwrap();
    if !replayed {
        backfill::into_the_stores(p, &client, config).await;
    }
}

/// `lap backfill --from topics --out OUT` with `config`, read back.
fn backfill_rows(config: &Path, out: &Path) -> BTreeMap<Key, Row> {
    let (ok, text) = common::lap(
        config,
        &[
            "backfill",
            "--from",
            "topics",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(ok, "{text}");
    std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(|l| from_indicator_row(&serde_json::from_str(l).unwrap()))
        .collect()
}

/// What a reader needs to see why events went late: each one's time and
/// where it came from.
fn describe_late(late: &[lap_runtime::transport::Message]) -> String {
    let mut text = format!("{} late events:\n", late.len());
    for m in late {
        let e: lap_schemas::EnrichedEvent =
            lap_schemas::decode(m.payload.as_deref().unwrap()).unwrap();
        text += &format!(
            "  {} event time {} µs, stored {} µs\n",
            e.event_id, e.event_time, e.stored_time
        );
    }
    text
}

/// Dead letters (or unmatched records) in `messages`, and how many
/// distinct inputs they are about, told apart by `key`.
fn letters(
    messages: &[lap_runtime::transport::Message],
    key: fn(&lap_schemas::DeadLetter) -> String,
) -> (u64, u64) {
    let distinct: BTreeSet<String> = messages
        .iter()
        .map(|m| key(&lap_schemas::decode(m.payload.as_ref().unwrap()).unwrap()))
        .collect();
    (messages.len() as u64, distinct.len() as u64)
}

/// `lap run` over the generated files into `lake`.
fn run_embedded(p: &Pipeline, config: &Path, lake: &Path) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lap"))
        .arg("--config")
        .arg(config)
        .arg("run")
        .arg("--roster")
        .arg(p.data("roster"))
        .arg("--input")
        .arg(p.data("activity"))
        .arg("--lake")
        .arg(lake)
        .env("LAP_ENRICH_KEY", common::TEST_KEY)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Event ids of a lake's event table, sorted, duplicates kept.
fn event_ids_in_lake(config: &Path, lake: &Path) -> Vec<String> {
    let mut ids: Vec<String> = query(config, lake, "SELECT event_id FROM events")
        .into_iter()
        .map(|r| r["event_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Event ids of the PostgreSQL event table, sorted.
async fn pg_event_ids(client: &tokio_postgres::Client, schema: &str) -> Vec<String> {
    let sql = format!("SELECT event_id FROM {schema}.events");
    let mut ids: Vec<String> = client
        .query(&sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    ids.sort();
    ids
}
