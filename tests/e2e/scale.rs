//! Scale-out through a broker that reassigns a lost member's partitions
//! (tansu): enrich and aggregate run as several replicas of their groups,
//! replicas join, leave, crash in the middle of a rebalance and restart one
//! after another while data flows, and the stores still hold exactly the
//! rows `lap run` computes from the same files.

use std::collections::BTreeMap;
use std::time::Duration;

use lap_gen::Options;
use lap_runtime::testkit;

use crate::harness::{Pipeline, Settings, Step, TEST_SETTINGS};

const ENRICH: usize = 1;
const AGGREGATE: usize = 2;

/// Four schools, so the aggregate's tasks spread over the partitions of
/// `lap.enriched` (keyed by school).
fn district(seed: u64) -> Options {
    Options {
        seed,
        schools: 4,
        cohorts_per_school: 2,
        learners_per_cohort: 6,
        subjects: 2,
        days: 21,
        invalid_share: 0.01,
        ..Options::default()
    }
}

/// Dynamic group members, as replicas of a Kubernetes Deployment join.
const REPLICAS: Settings = Settings {
    static_members: false,
    commit_interval_ms: 1_000,
    ..TEST_SETTINGS
};

/// The pipeline on the broker that reassigns partitions, with two enrich
/// replicas; `None` (the test skips) without it.
async fn pipeline(seed: u64) -> Option<(Pipeline, usize)> {
    let mut p = Pipeline::prepare_on(testkit::KAFKA_TANSU_ENV, &district(seed), REPLICAS).await?;
    p.launch_all().await;
    p.add_replica(ENRICH).await;
    let files = std::fs::read_dir(p.data("activity")).unwrap().count();
    Some((p, files))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregate_scaled_1_3_2_with_a_replica_killed_mid_rebalance_changes_nothing() {
    let Some((mut p, files)) = pipeline(21).await else {
        return;
    };
    let date = crate::http_date(&p);
    let steps = BTreeMap::from([
        (files / 5, vec![Step::Add(AGGREGATE), Step::Add(AGGREGATE)]),
        // 3 → 2: one replica leaves, and while the group rebalances another
        // dies without handing anything over; a new one takes its place.
        (
            files / 2,
            vec![
                Step::Stop(AGGREGATE, 2),
                Step::Kill(AGGREGATE, 1),
                Step::Add(AGGREGATE),
            ],
        ),
    ]);
    p.feed(&date, &steps, Duration::from_millis(400)).await;
    crate::verify(&p, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_every_aggregate_replica_changes_nothing() {
    let Some((mut p, files)) = pipeline(22).await else {
        return;
    };
    p.add_replica(AGGREGATE).await;
    let date = crate::http_date(&p);
    let steps = BTreeMap::from([
        (files / 3, vec![Step::Restart(AGGREGATE, 0)]),
        (2 * files / 3, vec![Step::Restart(AGGREGATE, 1)]),
    ]);
    p.feed(&date, &steps, Duration::from_millis(400)).await;
    crate::verify(&p, true).await;
}
