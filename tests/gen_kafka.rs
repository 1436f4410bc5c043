//! `lap gen --to-kafka`: the generated activity lands in the raw topics of a
//! real broker exactly as `lap gen` writes it to files (same messages, in
//! arrival order per topic), and the roster export is written for
//! `lap roster load`, with the archetypes' answer key.

mod common;

use std::collections::BTreeMap;

use common::lap;
use lap_runtime::testkit;

const ARGS: [&str; 8] = [
    "--cohorts",
    "1",
    "--learners",
    "6",
    "--subjects",
    "2",
    "--days",
    "5",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_activity_is_produced_to_the_raw_topics_as_written_to_files() {
    let Some(bootstrap) = testkit::service(testkit::KAFKA_ENV) else {
        return;
    };
    let kafka = testkit::kafka_config(&bootstrap);
    let (xapi, caliper) = (testkit::unique("raw-xapi"), testkit::unique("raw-caliper"));
    // One partition each, so the topic's order is the order produced.
    testkit::create_topic(&kafka, &xapi, 1).await;
    testkit::create_topic(&kafka, &caliper, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lap.toml");
    std::fs::write(
        &config,
        format!("[kafka]\nbootstrap_servers = \"{bootstrap}\"\n[topics.raw_xapi]\nname = \"{xapi}\"\n[topics.raw_caliper]\nname = \"{caliper}\"\n"),
    )
    .unwrap();

    let files = dir.path().join("files");
    let mut args = vec!["gen", "--out", files.to_str().unwrap()];
    args.extend(ARGS);
    let (ok, out) = lap(&config, &args);
    assert!(ok, "{out}");
    let sent = dir.path().join("sent");
    let mut args = vec![
        "gen",
        "--out",
        sent.to_str().unwrap(),
        "--to-kafka",
        "--rate",
        "3000",
    ];
    args.extend(ARGS);
    let (ok, out) = lap(&config, &args);
    assert!(ok, "{out}");
    assert!(out.contains("produced "), "{out}");

    // The same roster export either way.
    for f in ["users.csv", "enrollments.csv", "lap-consent.csv"] {
        let a = std::fs::read(files.join("roster").join(f)).unwrap();
        assert_eq!(
            a,
            std::fs::read(sent.join("roster").join(f)).unwrap(),
            "{f}"
        );
    }
    assert!(
        !sent.join("activity").exists(),
        "no activity files with --to-kafka"
    );

    // Files in name order = arrival order; topics hold the same lines.
    let mut written: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut names: Vec<_> = std::fs::read_dir(files.join("activity"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for path in names {
        let kind = if path.to_string_lossy().contains("caliper") {
            "caliper"
        } else {
            "xapi"
        };
        let text = std::fs::read_to_string(&path).unwrap();
        written
            .entry(kind)
            .or_default()
            .extend(text.lines().map(String::from));
    }
    for (kind, topic) in [("xapi", &xapi), ("caliper", &caliper)] {
        let produced: Vec<String> = testkit::read_topic(&bootstrap, topic)
            .await
            .into_iter()
            .map(|m| String::from_utf8(m.payload.unwrap().to_vec()).unwrap())
            .collect();
        assert!(!produced.is_empty(), "{kind}");
        assert_eq!(&produced, &written[kind], "{kind}");
    }
}
