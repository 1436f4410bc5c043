//! Memory of enrich's in-memory roster: builds a synthetic roster (default
//! 1,000,000 learners in 6 classes each, plus their teachers, classes and
//! enrollments), applies it to `Roster` the way the roster feed does, builds
//! the join indexes, and prints the process's resident memory.
//! Run: `cargo bench --bench roster_memory` (size: `LAP_BENCH_LEARNERS`,
//! `LAP_BENCH_CLASSES`).

#[path = "support/measure.rs"]
mod measure;
#[path = "support/roster.rs"]
mod synthetic;

use std::time::Instant;

// The allocator the service binaries use.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use lap_enrich::state::Roster;
use lap_runtime::config::IdentityConfig;
use measure::{env_usize, status_mib};

fn main() {
    let learners = env_usize("LAP_BENCH_LEARNERS", 1_000_000);
    let classes = env_usize("LAP_BENCH_CLASSES", 6);
    let before = status_mib("VmRSS");
    let mut roster = Roster::new(synthetic::TENANT, IdentityConfig::default());
    let started = Instant::now();
    for (n, record) in synthetic::records(learners, classes).enumerate() {
        roster.apply(record);
        if n % 1_000_000 == 0 && n > 0 {
            eprintln!(
                "applied {n} records, {:.0} MiB resident",
                status_mib("VmRSS")
            );
        }
    }
    let applied = started.elapsed();
    let after = status_mib("VmRSS");
    println!(
        "roster of {learners} learners x {classes} classes: {} records applied and indexed \
         in {:.1} s; resident {:.0} MiB (roster {:.0} MiB), peak {:.0} MiB",
        roster.len(),
        applied.as_secs_f64(),
        after,
        after - before,
        status_mib("VmHWM"),
    );
}
