//! Remembering recent statement ids, for idempotent re-sends, conflicting
//! re-uses of an id, and the rule that a voiding statement cannot be voided.
//!
//! Bounded: the oldest ids are forgotten first (FIFO), so memory stays at
//! about 40 bytes per remembered id. A duplicate older than the window is
//! emitted again; the aggregate stage counts each event id once anyway.

use std::collections::{HashMap, VecDeque};

/// What the log knows about an id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Never seen (or forgotten).
    New,
    /// Seen with the same content; `emitted` says whether it already went out.
    Same {
        /// Whether the event was already produced to `lap.events`.
        emitted: bool,
    },
    /// Seen with different content: a conflict (HTTP 409).
    Different,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    fingerprint: u64,
    voiding: bool,
    emitted: bool,
}

/// A bounded map from statement id to content fingerprint.
#[derive(Debug)]
pub struct StatementLog {
    entries: HashMap<u128, Entry>,
    order: VecDeque<u128>,
    capacity: usize,
}

/// The 128-bit value of a UUID string (any case), if it is one.
pub fn uuid_key(id: &str) -> Option<u128> {
    uuid::Uuid::parse_str(id).ok().map(|u| u.as_u128())
}

impl StatementLog {
    /// A log remembering at most `capacity` ids.
    pub fn new(capacity: usize) -> Self {
        StatementLog {
            entries: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Compares a statement with what was seen under its id.
    pub fn check(&self, id: u128, fingerprint: u64) -> Seen {
        match self.entries.get(&id) {
            None => Seen::New,
            Some(e) if e.fingerprint == fingerprint => Seen::Same { emitted: e.emitted },
            Some(_) => Seen::Different,
        }
    }

    /// Whether `id` is known to be a voiding statement.
    pub fn is_voiding(&self, id: u128) -> bool {
        self.entries.get(&id).is_some_and(|e| e.voiding)
    }

    /// Records a statement; `emitted` marks it as produced downstream.
    pub fn record(&mut self, id: u128, fingerprint: u64, voiding: bool, emitted: bool) {
        let entry = Entry {
            fingerprint,
            voiding,
            emitted,
        };
        if let Some(e) = self.entries.get_mut(&id) {
            e.emitted |= emitted;
            return;
        }
        if self.entries.len() >= self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.entries.remove(&old);
        }
        self.entries.insert(id, entry);
        self.order.push_back(id);
    }

    /// Number of remembered ids.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_different_and_forgotten() {
        let mut log = StatementLog::new(2);
        assert_eq!(log.check(1, 10), Seen::New);
        log.record(1, 10, false, false);
        assert_eq!(log.check(1, 10), Seen::Same { emitted: false });
        log.record(1, 10, false, true);
        assert_eq!(log.check(1, 10), Seen::Same { emitted: true });
        assert_eq!(log.check(1, 11), Seen::Different);
        log.record(2, 20, true, true);
        assert!(log.is_voiding(2));
        log.record(3, 30, false, true);
        assert_eq!(
            log.check(1, 10),
            Seen::New,
            "oldest id forgotten at capacity"
        );
        assert_eq!(log.len(), 2);
    }

    #[test]
    fn uuid_keys_ignore_case() {
        assert_eq!(
            uuid_key("FD41C918-B88B-4B20-A0A5-A4C32391AAA0"),
            uuid_key("fd41c918-b88b-4b20-a0a5-a4c32391aaa0")
        );
        assert_eq!(uuid_key("nope"), None);
    }
}
