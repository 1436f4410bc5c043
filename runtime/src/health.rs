//! Liveness and readiness, as the Kubernetes probes see them.
//!
//! *Alive* means the poll loop is moving: it beats at least every few hundred
//! milliseconds, and a beat older than the stall timeout means the process is
//! stuck and should be restarted. *Ready* means every registered check passes
//! (broker reachable, partitions assigned, and stage-specific ones such as
//! "roster caught up"), i.e. the pod is doing useful work.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Named readiness checks with their details, as `/readyz` reports them.
pub type Checks = Vec<(String, String)>;

/// Shared health state of one service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Health {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    started: Instant,
    last_beat_ms: AtomicU64,
    checks: Mutex<BTreeMap<&'static str, (bool, String)>>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            inner: Arc::new(Inner {
                started: Instant::now(),
                last_beat_ms: AtomicU64::new(0),
                checks: Mutex::new(BTreeMap::new()),
            }),
        }
    }
}

impl Health {
    /// Records that the loop is making progress.
    pub fn beat(&self) {
        let ms = self.inner.started.elapsed().as_millis() as u64;
        self.inner.last_beat_ms.store(ms, Ordering::Relaxed);
    }

    /// Sets a readiness check; `detail` explains the state to an operator.
    pub fn set_check(&self, name: &'static str, ok: bool, detail: impl Into<String>) {
        self.inner.checks.lock().insert(name, (ok, detail.into()));
    }

    /// `Ok` while the last beat is younger than `stall`; otherwise how long ago it was.
    pub fn liveness(&self, stall: Duration) -> Result<(), String> {
        let now = self.inner.started.elapsed().as_millis() as u64;
        let age = now.saturating_sub(self.inner.last_beat_ms.load(Ordering::Relaxed));
        if age <= stall.as_millis() as u64 {
            Ok(())
        } else {
            Err(format!(
                "poll loop has not moved for {age} ms (limit {} ms)",
                stall.as_millis()
            ))
        }
    }

    /// `Ok` when at least one check is registered and all pass; otherwise the
    /// failing checks with their details.
    pub fn readiness(&self) -> Result<Checks, Checks> {
        let checks = self.inner.checks.lock();
        let all: Checks = checks
            .iter()
            .map(|(k, (_, d))| (k.to_string(), d.clone()))
            .collect();
        let failing: Checks = checks
            .iter()
            .filter(|(_, (ok, _))| !ok)
            .map(|(k, (_, d))| (k.to_string(), d.clone()))
            .collect();
        if checks.is_empty() {
            return Err(vec![(
                "startup".into(),
                "no readiness check has reported yet".into(),
            )]);
        }
        if failing.is_empty() {
            Ok(all)
        } else {
            Err(failing)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_all_checks_pass() {
        let h = Health::default();
        assert!(h.readiness().is_err(), "not ready before any check");
        h.set_check("kafka", true, "reachable");
        h.set_check("partitions", false, "0 assigned");
        assert_eq!(h.readiness().unwrap_err()[0].0, "partitions");
        h.set_check("partitions", true, "4 assigned");
        assert_eq!(h.readiness().unwrap().len(), 2);
    }

    #[test]
    fn stalls_are_detected() {
        let h = Health::default();
        h.beat();
        assert!(h.liveness(Duration::from_secs(5)).is_ok());
        std::thread::sleep(Duration::from_millis(30));
        assert!(h.liveness(Duration::from_millis(1)).is_err());
    }
}
