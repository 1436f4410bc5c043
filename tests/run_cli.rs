//! `lap gen` → `lap run` → `lap query`, the embedded pipeline end to end on
//! a generated school: the books balance (every record accepted, dead-
//! lettered, counted once, dropped for consent or unmatched, as generated),
//! every learner built to raise a flag raises it, nothing of an opted-out
//! learner is stored; and `lap demo` shows its three views.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::lap;
use lap_enrich::pseudonym::Pseudonymiser;
use lap_gen::plan::Plan;
use lap_gen::{Archetype, Options, write_dir};
use lap_runtime::config::Secret;
use serde_json::Value;

const KEY: &str = "a-test-key-of-32-characters-----";

fn query(config: &Path, lake: &Path, sql: &str) -> Vec<Value> {
    let (ok, out) = lap(
        config,
        &[
            "query",
            "--lake",
            lake.to_str().unwrap(),
            "--format",
            "json",
            sql,
        ],
    );
    assert!(ok, "{sql}\n{out}");
    out.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn count(config: &Path, lake: &Path, sql: &str) -> u64 {
    query(config, lake, sql)[0]["n"].as_u64().unwrap()
}

#[test]
fn a_generated_school_runs_through_the_embedded_pipeline_with_its_books_balanced() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let opts = Options {
        seed: 5,
        cohorts_per_school: 4,
        learners_per_cohort: 15,
        subjects: 2,
        days: 35,
        invalid_share: 0.01,
        ..Options::default()
    };
    let summary = write_dir(&opts, &data).unwrap();
    let config = dir.path().join("lap.toml");
    std::fs::write(&config, "").unwrap();
    let lake = dir.path().join("lake");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lap"))
        .args(["--config", config.to_str().unwrap(), "run", "--roster"])
        .arg(data.join("roster"))
        .arg("--input")
        .arg(data.join("activity"))
        .arg("--lake")
        .arg(&lake)
        .env("LAP_ENRICH_KEY", KEY)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}");

    // Every spoiled record is a dead letter; nobody else's.
    assert_eq!(
        reported(&report, "dead letters"),
        summary.invalid,
        "{summary:?}"
    );
    assert_eq!(
        reported(&report, "unmatched (lap.unmatched)"),
        summary.unknown_actor,
        "{summary:?}"
    );
    assert_eq!(
        reported(&report, "opted out (dropped)"),
        summary.opted_out,
        "{summary:?}"
    );

    // The event table holds each valid record of a rostered, consenting
    // learner exactly once (voiding statements included).
    let stored = summary.records
        - summary.invalid
        - summary.duplicates
        - summary.unknown_actor
        - summary.opted_out;
    assert_eq!(
        count(&config, &lake, "SELECT COUNT(*) AS n FROM events"),
        stored,
        "{summary:?}"
    );
    assert_eq!(
        count(
            &config,
            &lake,
            "SELECT COUNT(DISTINCT event_id) AS n FROM events"
        ),
        stored
    );

    // Pseudonyms as enrich computes them, to find the generated learners.
    let keys = Pseudonymiser::new(&Secret::new(KEY)).unwrap();
    let plan = Plan::deal(&opts);
    let pseudonym = |id: &str| keys.key("default", id);

    let rows = query(
        &config,
        &lake,
        "SELECT entity_id, f['code'] AS code FROM (SELECT entity_id, unnest(flags) AS f FROM learner_daily WHERE is_final \
         UNION ALL SELECT entity_id, unnest(flags) AS f FROM learner_weekly WHERE is_final)",
    );
    let mut flagged: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in rows {
        flagged
            .entry(r["entity_id"].as_str().unwrap().to_string())
            .or_default()
            .insert(r["code"].as_str().unwrap().to_string());
    }
    let mut checked = BTreeSet::new();
    for l in &plan.learners {
        let Some(flag) = l.archetype.flag() else {
            continue;
        };
        let got = flagged.get(&pseudonym(&l.id)).cloned().unwrap_or_default();
        assert!(
            got.contains(flag),
            "{} ({:?}) should raise {flag}; has {got:?}",
            l.id,
            l.archetype
        );
        checked.insert(flag);
    }
    assert!(
        checked.len() >= 5,
        "most flag archetypes dealt in this school: {checked:?}"
    );

    // Nothing of an opted-out learner is anywhere.
    let opted: Vec<String> = plan
        .learners
        .iter()
        .filter(|l| l.archetype == Archetype::OptedOut)
        .map(|l| format!("'{}'", pseudonym(&l.id)))
        .collect();
    assert!(!opted.is_empty(), "the seed deals opted-out learners");
    let list = opted.join(",");
    for sql in [
        format!("SELECT COUNT(*) AS n FROM events WHERE person_key IN ({list})"),
        format!("SELECT COUNT(*) AS n FROM learner_weekly WHERE entity_id IN ({list})"),
        format!("SELECT COUNT(*) AS n FROM learner_daily WHERE entity_id IN ({list})"),
    ] {
        assert_eq!(count(&config, &lake, &sql), 0, "{sql}");
    }

    // The elective's class rows are suppressed (4 learners < k = 5).
    let latin = query(
        &config,
        &lake,
        "SELECT suppressed, indicators['wellbeing_index'] AS w, contributors FROM class_weekly WHERE entity_id = 'cls-0-latin'",
    );
    assert!(!latin.is_empty());
    for r in latin {
        assert_eq!(r["suppressed"], Value::Bool(true), "{r}");
        assert!(r["w"].is_null(), "{r}");
    }
}

/// The number the report prints after `label` (thousands separators removed).
fn reported(report: &str, label: &str) -> u64 {
    let at = report
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in\n{report}"))
        + label.len();
    let digits: String = report[at..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {label:?} in\n{report}"))
}

#[test]
fn lap_demo_shows_progress_wellbeing_with_suppression_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lap.toml");
    std::fs::write(&config, "").unwrap();
    let demo = dir.path().join("demo");
    let (ok, out) = lap(&config, &["demo", "--dir", demo.to_str().unwrap()]);
    assert!(ok, "{out}");
    for expected in [
        "Weekly progress of class cls-0-0-math",
        "Well-being by class",
        "cls-0-latin",
        "Open flags",
        "lap run finished",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }
    let latin = out.lines().find(|l| l.starts_with("cls-0-latin")).unwrap();
    assert!(
        latin.contains("true") && latin.contains("NULL"),
        "suppressed row: {latin}"
    );
    // A rerun replaces its own folder; another folder is left alone.
    let (ok, out) = lap(&config, &["demo", "--dir", demo.to_str().unwrap()]);
    assert!(ok, "{out}");
    let (ok, out) = lap(&config, &["demo", "--dir", dir.path().to_str().unwrap()]);
    assert!(!ok && out.contains("is not an earlier demo"), "{out}");
}
