//! Helpers shared by the runtime's integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::sync::atomic::{AtomicU32, Ordering};

/// Environment variable naming the broker the test script started.
pub const KAFKA_ENV: &str = "LAP_TEST_KAFKA";

/// Bootstrap address of a real broker from `var`, or `None` (with a printed
/// reason) when the suite runs without one. `LAP_REQUIRE_SERVICES=1`, set by
/// the test script, turns a missing broker into a failure so CI cannot skip.
pub fn broker(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var("LAP_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("{var} is not set but LAP_REQUIRE_SERVICES=1: the test script must start the broker");
            }
            eprintln!("SKIPPED: {var} is not set; run the suite with `bash tests/run.sh` to start a broker");
            None
        }
    }
}

/// A name unique to this process and call, for topics and groups.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{}-{nanos}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}
