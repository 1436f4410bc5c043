//! Event-time progress of one input partition: the newest event time read
//! from it minus the out-of-orderness bound.
//!
//! A task finalises on its own partition's watermark alone (a class's
//! events all arrive on one partition), so whatever other partitions an
//! instance reads, and however fast, never closes a window early or late.
//! A partition that goes quiet keeps its windows open; after the idle
//! timeout its watermark keeps pace with the stage's input clock, so the
//! last week before a holiday still becomes final about when it would have
//! with traffic, without waiting for the next event.
//!
//! Time is measured on the stage's *input clock* (milliseconds the stage
//! spent ready to read, [`lap_runtime::stage::Output::input_time`]), not
//! the wall clock: while the stage computes an emission or waits for the
//! producer it reads nothing, and a partition with events waiting in the
//! consumer must not look quiet.

/// The watermark of one partition.
#[derive(Clone, Copy, Debug)]
pub struct Watermark {
    /// Newest event time read, UTC µs; `None` before the first event.
    newest: Option<i64>,
    /// Input time of the last event.
    last_seen_ms: i64,
    bound_us: i64,
    idle_ms: i64,
}

impl Watermark {
    /// A watermark trailing the newest event by `bound_us`, advancing with
    /// the input clock once no event came for `idle_ms`.
    pub fn new(bound_us: i64, idle_ms: i64) -> Watermark {
        Watermark {
            newest: None,
            last_seen_ms: 0,
            bound_us,
            idle_ms,
        }
    }

    /// Notes an event time read at input time `now_ms`.
    pub fn observe(&mut self, event_time: i64, now_ms: i64) {
        self.newest = Some(self.newest.map_or(event_time, |n| n.max(event_time)));
        self.last_seen_ms = now_ms;
    }

    /// Newest event time read.
    pub fn newest(&self) -> Option<i64> {
        self.newest
    }

    /// The watermark at input time `now_ms`, if an event was read.
    pub fn at(&self, now_ms: i64) -> Option<i64> {
        let base = self.newest?.saturating_sub(self.bound_us);
        let quiet_ms = now_ms - self.last_seen_ms - self.idle_ms;
        Some(base.saturating_add(quiet_ms.max(0).saturating_mul(1000)))
    }

    /// The newest event and when it was read, for the log line of a
    /// finalisation: what a reader needs to see why a week closed when it
    /// did.
    pub fn describe(&self, now_ms: i64) -> String {
        match self.newest {
            None => "no event read".into(),
            Some(n) => format!(
                "newest event {}, last read {} ms of input time ago",
                instant(n),
                now_ms - self.last_seen_ms
            ),
        }
    }
}

/// An instant in UTC microseconds as RFC 3339 text, for logs.
pub fn instant(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map_or_else(|| micros.to_string(), |t| t.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::Watermark;

    #[test]
    fn trails_the_newest_event_and_follows_the_input_clock_when_quiet() {
        let mut w = Watermark::new(60_000_000, 30_000);
        assert_eq!(w.at(0), None);
        w.observe(1_000_000_000, 0);
        w.observe(900_000_000, 10);
        assert_eq!(w.at(10), Some(940_000_000), "newest minus the bound");
        assert_eq!(w.at(30_010), Some(940_000_000), "not idle yet");
        assert_eq!(
            w.at(31_010),
            Some(941_000_000),
            "one second past the idle timeout: one second on"
        );
    }
}
