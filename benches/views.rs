//! The views' server time for the pages a teacher opens most, over
//! PostgreSQL holding a district: `LAP_BENCH_VIEWS_LEARNERS` learners
//! (default 20,000) in forms of 30, each form taking 4 subject classes
//! (a teacher each), a school year of 40 weekly rows per learner and
//! class and per class, and 200 daily rows for the measured class's
//! learners. Then, signed in as that class's teacher, a class page (30
//! learners, a term of rows, charts) and a learner page are each fetched
//! `LAP_BENCH_VIEWS_REQUESTS` times (default 200) over loopback HTTP,
//! one after the other; printed: p50, p95 and the slowest, in ms, and
//! the process's resident memory.
//!
//! PostgreSQL: `LAP_BENCH_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); a schema of its own,
//! dropped at the end. Run: `cargo bench --bench views`.

#[path = "support/measure.rs"]
mod measure;
#[path = "support/postgres.rs"]
mod postgres;

use std::time::Instant;

use lap_enrich::pseudonym::Pseudonymiser;
use lap_runtime::config::{PostgresConfig, Secret};
use lap_schemas::{EntityKind, IndicatorRow, RosterEntity, RosterRecord, WindowKind};
use lap_sink::postgres::PgStore;
use lap_sink::rows::Rows;
use lap_sink::store::Store;
use lap_views::{Backend, Directory, Options, SignIn, Views};
use measure::{env_usize, status_mib};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Monday 2025-09-01 00:00 UTC, µs.
const MONDAY: i64 = 1_756_684_800_000_000;
const DAY: i64 = 86_400_000_000;
const WEEKS: i64 = 40;
const FORM: usize = 30;
const SUBJECTS: usize = 4;
const TENANT: &str = "district";

fn record(entity: RosterEntity, id: &str, fields: &[(&str, &str)]) -> RosterRecord {
    RosterRecord::active(TENANT, entity, id, fields)
}

/// The district's roster: schools of 1,000 learners, forms, classes,
/// teachers, enrollments.
fn roster(learners: usize) -> Vec<RosterRecord> {
    let mut out = vec![record(
        RosterEntity::Org,
        "d",
        &[("name", "District"), ("type", "district")],
    )];
    for s in 0..learners.div_ceil(1000) {
        let id = format!("s{s}");
        out.push(record(
            RosterEntity::Org,
            &id,
            &[("name", &id), ("type", "school"), ("parentSourcedId", "d")],
        ));
    }
    for l in 0..learners {
        let (id, school) = (format!("l{l}"), format!("s{}", l / 1000));
        let name = format!("Learner{l}");
        out.push(record(
            RosterEntity::User,
            &id,
            &[
                ("role", "student"),
                ("givenName", &name),
                ("familyName", "X"),
                ("orgSourcedIds", &school),
            ],
        ));
        for subject in 0..SUBJECTS {
            let class = format!("c{}-{subject}", l / FORM);
            out.push(record(
                RosterEntity::Enrollment,
                &format!("e{l}-{subject}"),
                &[
                    ("classSourcedId", &class),
                    ("userSourcedId", &id),
                    ("role", "student"),
                ],
            ));
        }
    }
    for form in 0..learners.div_ceil(FORM) {
        for subject in 0..SUBJECTS {
            let (class, teacher) = (format!("c{form}-{subject}"), format!("t{form}-{subject}"));
            let school = format!("s{}", form * FORM / 1000);
            out.push(record(
                RosterEntity::Class,
                &class,
                &[("title", &class), ("schoolSourcedId", &school)],
            ));
            out.push(record(
                RosterEntity::User,
                &teacher,
                &[
                    ("role", "teacher"),
                    ("givenName", "Teacher"),
                    ("familyName", &teacher),
                ],
            ));
            out.push(record(
                RosterEntity::Enrollment,
                &format!("e{teacher}"),
                &[
                    ("classSourcedId", &class),
                    ("userSourcedId", &teacher),
                    ("role", "teacher"),
                ],
            ));
        }
    }
    out
}

/// A row as the aggregate writes it, with a dozen indicators.
fn row(
    kind: EntityKind,
    window: WindowKind,
    entity: &str,
    class: &str,
    start: i64,
    seed: usize,
) -> IndicatorRow {
    let names = [
        "activity_events",
        "active_minutes",
        "resources_used",
        "attempts",
        "mean_score",
        "pass_rate",
        "objectives_completed",
        "curriculum_coverage",
        "submissions_on_time",
        "submissions_missing",
        "attendance_rate",
        "wellbeing_index",
    ];
    let length = if window == WindowKind::Weekly {
        7 * DAY
    } else {
        DAY
    };
    IndicatorRow {
        table_name: format!("{}_{}", kind.as_str(), window.as_str()),
        window_kind: window,
        window_start: start,
        window_end: start + length,
        time_zone: "UTC".into(),
        entity_kind: kind,
        entity_id: entity.into(),
        class_id: Some(class.into()),
        school_id: Some("s0".into()),
        revision: 1,
        is_final: true,
        emitted_time: start + length,
        contributors: if kind == EntityKind::Learner {
            1
        } else {
            FORM as i32
        },
        suppressed: false,
        indicators: names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), Some(((seed * 7 + i) % 13) as f64 / 13.0)))
            .collect(),
        flags: vec![],
        cleared_flags: vec![],
        newest_event_time: Some(start + DAY),
    }
}

/// p50, p95 and the slowest of `samples`, in ms.
fn percentiles(mut samples: Vec<f64>) -> (f64, f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95), samples[samples.len() - 1])
}

#[tokio::main]
async fn main() {
    let learners = env_usize("LAP_BENCH_VIEWS_LEARNERS", 20_000);
    let requests = env_usize("LAP_BENCH_VIEWS_REQUESTS", 200);
    let url = std::env::var("LAP_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let schema = format!("bench_views_{}", std::process::id());
    let cfg = PostgresConfig {
        enabled: true,
        url: url.clone(),
        schema: schema.clone(),
        ..PostgresConfig::default()
    };
    let keys = Pseudonymiser::new(&Secret::new("a-bench-key-of-32-characters----")).unwrap();

    let started = Instant::now();
    let mut store = PgStore::new(&cfg, None).expect("LAP_BENCH_POSTGRES is a PostgreSQL URL");
    let forms = learners.div_ceil(FORM);
    let mut written = 0;
    for form in 0..forms {
        let mut rows = Rows::default();
        for subject in 0..SUBJECTS {
            let class = format!("c{form}-{subject}");
            for week in 0..WEEKS {
                let start = MONDAY + week * 7 * DAY;
                rows.indicators.entry("class_weekly").or_default().push(row(
                    EntityKind::Class,
                    WindowKind::Weekly,
                    &class,
                    &class,
                    start,
                    form + week as usize,
                ));
                for l in form * FORM..((form + 1) * FORM).min(learners) {
                    let p = keys.key(TENANT, &format!("l{l}"));
                    rows.indicators
                        .entry("learner_weekly")
                        .or_default()
                        .push(row(
                            EntityKind::Learner,
                            WindowKind::Weekly,
                            &p,
                            &class,
                            start,
                            l + week as usize,
                        ));
                }
            }
            if form == 0 && subject == 0 {
                for day in 0..200 {
                    for l in 0..FORM.min(learners) {
                        let p = keys.key(TENANT, &format!("l{l}"));
                        rows.indicators
                            .entry("learner_daily")
                            .or_default()
                            .push(row(
                                EntityKind::Learner,
                                WindowKind::Daily,
                                &p,
                                &class,
                                MONDAY + day * DAY,
                                l + day as usize,
                            ));
                    }
                }
            }
        }
        written += rows.len();
        store.write(&rows).await.expect("the district is written");
        if form % 100 == 0 {
            eprintln!(
                "writing the district: {form}/{forms} forms, {written} rows, {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    println!(
        "district: {learners} learners, {} classes, {written} rows written in {:.0} s",
        forms * SUBJECTS,
        started.elapsed().as_secs_f64()
    );

    // As autovacuum would soon after a load: the planner needs the tables'
    // statistics to pick the entity and class indexes.
    postgres::execute(&url, &format!("SET search_path = {schema}; ANALYZE")).await;
    let directory = Directory::build(TENANT, roster(learners), &keys);
    let views = Views::new(
        directory,
        Backend::postgres(PgStore::new(&cfg, None).unwrap()),
        Options {
            min_group_size: 5,
            sign_in: SignIn::Demo,
            digest_default: lap_views::digest::Frequency::None,
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(lap_views::serve(views, listener, std::future::pending()));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed = http
        .post(format!("{base}/signin"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("person=t0-0")
        .send()
        .await
        .unwrap();
    let cookie = signed.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let learner = keys.key(TENANT, "l0");
    for (page, path) in [
        (
            "class page (30 learners, 40 weeks)",
            "/classes/c0-0".to_string(),
        ),
        (
            "learner page (40 weeks, 200 days)",
            format!("/learners/{learner}"),
        ),
    ] {
        let mut samples = Vec::with_capacity(requests);
        for _ in 0..requests {
            let t = Instant::now();
            let res = http
                .get(format!("{base}{path}"))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{path}");
            res.bytes().await.unwrap();
            samples.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let (p50, p95, max) = percentiles(samples);
        println!(
            "{page}: p50 {p50:.1} ms, p95 {p95:.1} ms, slowest {max:.1} ms over {requests} requests"
        );
    }

    println!(
        "the views' process (roster directory of the district included): {:.0} MiB resident",
        status_mib("VmRSS")
    );
    postgres::execute(&url, &format!("DROP SCHEMA {schema} CASCADE")).await;
}
