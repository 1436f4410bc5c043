//! The generator against lap's own validator: every record it means to be
//! valid passes ingest, every record it spoils is rejected (with the code
//! of the rule it breaks), and the same seed gives the same bytes.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use lap_gen::{Archetype, Options, Output, Standard, generate};
use lap_ingest::caliper::Item;
use lap_ingest::read::{caliper_message, xapi_message};
use lap_runtime::config::IngestConfig;

#[derive(Default)]
struct Collect {
    roster: Vec<(&'static str, String)>,
    messages: Vec<(Standard, NaiveDate, String)>,
}

impl Output for Collect {
    fn roster(&mut self, files: &[(&'static str, String)]) -> std::io::Result<()> {
        self.roster = files.to_vec();
        Ok(())
    }
    fn message(
        &mut self,
        standard: Standard,
        arrived: NaiveDate,
        json: &str,
    ) -> std::io::Result<()> {
        self.messages.push((standard, arrived, json.to_string()));
        Ok(())
    }
}

fn small(seed: u64) -> Options {
    Options {
        seed,
        cohorts_per_school: 2,
        learners_per_cohort: 12,
        days: 21,
        invalid_share: 0.02,
        ..Options::default()
    }
}

#[test]
fn valid_records_pass_ingest_and_spoiled_ones_fail_with_their_rule() {
    let mut out = Collect::default();
    let summary = generate(&small(3), &mut out).unwrap();
    let cfg = IngestConfig::default();
    let (mut accepted, mut rejected) = (0u64, 0u64);
    let mut codes: BTreeMap<String, u64> = BTreeMap::new();
    let mut reject = |code: &str| {
        *codes.entry(code.to_string()).or_default() += 1;
    };
    let mut caliper_versions = BTreeMap::new();
    for (standard, _, json) in &out.messages {
        match standard {
            Standard::Xapi => {
                let records = xapi_message(json.as_bytes(), None, &cfg, 0, &|_| String::new())
                    .unwrap_or_else(|p| panic!("whole message rejected: {p:?}\n{json}"));
                for r in records {
                    match r.outcome {
                        Ok(_) => accepted += 1,
                        Err(p) => {
                            rejected += 1;
                            reject(p.first().unwrap().code);
                        }
                    }
                }
            }
            Standard::Caliper => {
                let env = caliper_message(json.as_bytes(), &cfg, 0)
                    .unwrap_or_else(|p| panic!("envelope rejected: {p:?}\n{json}"));
                *caliper_versions.entry(env_version(json)).or_insert(0) += 1;
                for item in env.items {
                    match item {
                        Item::Event(_) => accepted += 1,
                        Item::Entity => panic!("the generator sends no entities"),
                        Item::Rejected { problems, .. } => {
                            rejected += 1;
                            reject(problems.first().unwrap().code);
                        }
                    }
                }
            }
        }
    }
    assert!(summary.invalid > 10, "{summary:?}");
    assert_eq!(rejected, summary.invalid, "rejections by code: {codes:?}");
    assert_eq!(accepted + rejected, summary.records);
    assert!(
        codes.len() >= 5,
        "several different rules broken: {codes:?}"
    );
    assert_eq!(
        caliper_versions.len(),
        2,
        "Caliper 1.1 and 1.2 both sent: {caliper_versions:?}"
    );
    for v in ["\"1.0.3\"", "\"2.0.0\""] {
        assert!(
            out.messages
                .iter()
                .any(|(_, _, j)| j.contains(&format!("\"version\":{v}"))),
            "{v}"
        );
    }
    assert!(
        summary.duplicates > 0 && summary.voiding > 0 && summary.synced_late > 0,
        "{summary:?}"
    );
    // Arrival order: files are appended in date order.
    assert!(out.messages.windows(2).all(|w| w[0].1 <= w[1].1));
}

fn env_version(json: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["dataVersion"].as_str().unwrap().to_string()
}

#[test]
fn same_seed_same_bytes_other_seed_other_school() {
    let run = |seed| {
        let mut out = Collect::default();
        let summary = generate(&small(seed), &mut out).unwrap();
        (summary, out.roster, out.messages)
    };
    let (a, b, c) = (run(9), run(9), run(10));
    assert_eq!(a, b);
    assert_ne!(a.2, c.2);
}

#[test]
fn every_flag_archetype_is_dealt_and_roster_files_are_complete() {
    let opts = Options {
        cohorts_per_school: 8,
        ..Options::default()
    };
    let mut out = Collect::default();
    let summary = generate(&opts, &mut out).unwrap();
    for a in [
        Archetype::ChronicAbsence,
        Archetype::LowWellbeing,
        Archetype::WellbeingDrop,
        Archetype::FallingScores,
        Archetype::MissingSubmissions,
        Archetype::Inactive,
        Archetype::OptedOut,
    ] {
        assert!(
            summary.archetypes.iter().any(|(x, n)| *x == a && *n > 0),
            "{a:?}: {summary:?}"
        );
    }
    let names: Vec<&str> = out.roster.iter().map(|(n, _)| *n).collect();
    for f in [
        "manifest.csv",
        "orgs.csv",
        "users.csv",
        "classes.csv",
        "enrollments.csv",
        "lap-consent.csv",
    ] {
        assert!(names.contains(&f), "{f} missing: {names:?}");
    }
    let (_, users) = out.roster.iter().find(|(n, _)| *n == "users.csv").unwrap();
    assert_eq!(
        users.lines().count() - 1,
        2 * summary.learners + 8 + 1 + 1,
        "learners, a guardian each, form teachers, one elective teacher, a school leader"
    );
}

#[test]
fn nonsense_options_are_refused_with_the_option_named() {
    let mut out = Collect::default();
    let err = generate(
        &Options {
            days: 0,
            ..Options::default()
        },
        &mut out,
    )
    .unwrap_err();
    assert!(err.to_string().contains("days must be at least 1"), "{err}");
    let err = generate(
        &Options {
            invalid_share: 2.0,
            ..Options::default()
        },
        &mut out,
    )
    .unwrap_err();
    assert!(err.to_string().contains("invalid share is 2"), "{err}");
}
