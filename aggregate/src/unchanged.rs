//! What each open window's rows last said: provisional rows that say it
//! again are not sent again, and flags an earlier revision raised that a
//! new one no longer raises are kept on it, marked cleared.
//!
//! A provisional emission recomputes every class with a new event (each
//! query groups by class), so a class where one learner answered a question
//! yields all its learners' rows, most of them as they were. Sending those
//! again changes nothing a reader can see (only `revision` and
//! `emitted_time` would move) but costs the producer, the broker, the
//! sink's decoding and, above all, every store's upsert: on a live school
//! day that is most of the sink's work. Final rows are always sent: they
//! carry `is_final`, which a provisional row never does.
//!
//! A flag raised provisionally (say `inactive`, the morning after) can be
//! revised away when late-synced activity arrives. The stores keep only
//! the newest revision, so the row itself says so: the flag moves to its
//! `cleared_flags`, and the teacher who saw it sees that it went.
//!
//! What was sent is kept as two 64-bit hashes per row (key, content) and
//! the codes of its flags, for the open windows only, forgotten when their
//! week is final. A restart starts empty, so it re-sends everything once
//! (the same rows with higher revisions, which the stores take as
//! updates) and knows of no earlier flags. Two different contents would
//! have to collide in 64 bits for a change to be missed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hasher;

use lap_schemas::{Flag, IndicatorRow};
use xxhash_rust::xxh3::Xxh3Default;

/// What was last sent for one row key.
#[derive(Debug, Default)]
struct Sent {
    /// Content hash of the last revision sent, if one was.
    content: Option<u64>,
    /// Codes raised by any revision sent.
    ever: BTreeSet<String>,
    /// Codes raised by the last revision sent.
    last: BTreeSet<String>,
}

/// What [`Unchanged::settle`] found.
#[derive(Debug, Default, PartialEq)]
pub struct Settled {
    /// The row says what the last one sent for its key said: skip it.
    pub repeat: bool,
    /// Flag codes this row raises that the last one sent did not.
    pub raised: Vec<String>,
    /// Flag codes the last one sent raised and this row does not.
    pub cleared: Vec<String>,
}

/// What was sent per row key, by window end.
#[derive(Debug, Default)]
pub struct Unchanged {
    sent: BTreeMap<i64, HashMap<u64, Sent>>,
}

impl Unchanged {
    /// Lists in `row.cleared_flags` the flags earlier revisions of it raised
    /// that it no longer raises; remembers it as sent; and says
    /// whether it repeats the last row sent (a provisional row equal to it,
    /// revision and emission time aside, need not be sent).
    pub fn settle(&mut self, row: &mut IndicatorRow) -> Settled {
        let sent = self
            .sent
            .entry(row.window_end)
            .or_default()
            .entry(key_hash(row))
            .or_default();
        let now: BTreeSet<String> = row.flags.iter().map(|f| f.code.clone()).collect();
        row.cleared_flags = sent
            .ever
            .difference(&now)
            .map(|code| Flag {
                code: code.clone(),
                reason: "an earlier revision of this row raised it; the data behind it has changed since (e.g. activity synced late)".into(),
                evidence: BTreeMap::new(),
            })
            .collect();
        let settled = Settled {
            raised: now.difference(&sent.last).cloned().collect(),
            cleared: sent.last.difference(&now).cloned().collect(),
            repeat: false,
        };
        sent.ever.extend(now.iter().cloned());
        sent.last = now;
        let content = content_hash(row);
        let repeat = !row.is_final && sent.content == Some(content);
        sent.content = Some(content);
        Settled { repeat, ..settled }
    }

    /// Forgets the windows that end at or before `end`: their week is
    /// final, so no provisional row of theirs will come again.
    pub fn forget_until(&mut self, end: i64) {
        self.sent = self.sent.split_off(&end.saturating_add(1));
    }
}

/// Writes `s` with its length first, so that adjacent strings cannot run
/// into each other ("ab","c" vs "a","bc").
fn text(h: &mut Xxh3Default, s: &str) {
    h.write_usize(s.len());
    h.write(s.as_bytes());
}

fn key_hash(row: &IndicatorRow) -> u64 {
    let mut h = Xxh3Default::new();
    text(&mut h, &row.table_name);
    h.write_i64(row.window_start);
    text(&mut h, &row.entity_id);
    text(&mut h, row.class_id.as_deref().unwrap_or("\u{0}none"));
    h.finish()
}

fn content_hash(row: &IndicatorRow) -> u64 {
    let mut h = Xxh3Default::new();
    h.write_i64(row.window_end);
    text(&mut h, &row.time_zone);
    text(&mut h, row.school_id.as_deref().unwrap_or("\u{0}none"));
    h.write_i32(row.contributors);
    h.write_u8(u8::from(row.suppressed));
    h.write_usize(row.indicators.len());
    for (name, value) in &row.indicators {
        text(&mut h, name);
        match value {
            Some(v) => {
                h.write_u8(1);
                h.write_u64(v.to_bits());
            }
            None => h.write_u8(0),
        }
    }
    h.write_usize(row.flags.len());
    h.write_usize(row.cleared_flags.len());
    for flag in row.flags.iter().chain(&row.cleared_flags) {
        text(&mut h, &flag.code);
        text(&mut h, &flag.reason);
        h.write_usize(flag.evidence.len());
        for (name, value) in &flag.evidence {
            text(&mut h, name);
            h.write_u64(value.to_bits());
        }
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use lap_schemas::{EntityKind, Flag, IndicatorRow, WindowKind};

    use super::Unchanged;

    fn row(entity: &str, end: i64, events: f64) -> IndicatorRow {
        IndicatorRow {
            table_name: "learner_daily".into(),
            window_kind: WindowKind::Daily,
            window_start: end - 10,
            window_end: end,
            time_zone: "UTC".into(),
            entity_kind: EntityKind::Learner,
            entity_id: entity.into(),
            class_id: Some("c1".into()),
            school_id: Some("s1".into()),
            revision: 1,
            is_final: false,
            emitted_time: 1,
            contributors: 1,
            suppressed: false,
            indicators: BTreeMap::from([("activity_events".into(), Some(events))]),
            flags: vec![],
            cleared_flags: vec![],
            newest_event_time: None,
        }
    }

    fn inactive() -> Flag {
        Flag {
            code: "inactive".into(),
            reason: "no activity".into(),
            evidence: BTreeMap::from([("days".into(), 3.0)]),
        }
    }

    fn repeat(sent: &mut Unchanged, mut r: IndicatorRow) -> bool {
        sent.settle(&mut r).repeat
    }

    #[test]
    fn a_row_is_a_repeat_only_when_its_content_is_unchanged() {
        let mut sent = Unchanged::default();
        assert!(!repeat(&mut sent, row("p1", 100, 1.0)), "first time");
        let mut again = row("p1", 100, 1.0);
        (again.revision, again.emitted_time) = (2, 2);
        assert!(repeat(&mut sent, again), "revision and time aside, equal");
        assert!(!repeat(&mut sent, row("p2", 100, 1.0)), "another learner");
        assert!(!repeat(&mut sent, row("p1", 100, 2.0)), "a value changed");
        assert!(!repeat(&mut sent, row("p1", 100, 1.0)), "and changed back");
        let mut null = row("p1", 100, 1.0);
        null.indicators.insert("activity_events".into(), None);
        assert!(!repeat(&mut sent, null), "a value became null");
        let mut fin = row("p2", 100, 1.0);
        fin.is_final = true;
        assert!(!repeat(&mut sent, fin), "final rows are always sent");
    }

    #[test]
    fn a_flag_revised_away_stays_on_the_row_marked_cleared() {
        let mut sent = Unchanged::default();
        let mut flagged = row("p1", 100, 0.0);
        flagged.flags.push(inactive());
        let s = sent.settle(&mut flagged);
        assert_eq!(
            (s.raised, s.cleared),
            (vec!["inactive".to_string()], vec![])
        );
        // Late-synced activity: the next revision no longer raises it.
        let mut revised = row("p1", 100, 4.0);
        let s = sent.settle(&mut revised);
        assert_eq!(s.cleared, ["inactive"]);
        assert!(revised.flags.is_empty());
        assert_eq!(revised.cleared_flags[0].code, "inactive");
        // It stays cleared in later revisions, counted once.
        let mut later = row("p1", 100, 5.0);
        let s = sent.settle(&mut later);
        assert!(s.cleared.is_empty() && later.cleared_flags.len() == 1);
        // Raised again by new evidence: raised, not cleared.
        let mut again = row("p1", 100, 5.0);
        again.flags.push(inactive());
        let s = sent.settle(&mut again);
        assert_eq!(s.raised, ["inactive"]);
        assert!(again.cleared_flags.is_empty());
    }

    #[test]
    fn windows_of_a_final_week_are_forgotten() {
        let mut sent = Unchanged::default();
        repeat(&mut sent, row("p1", 100, 1.0));
        repeat(&mut sent, row("p1", 200, 1.0));
        sent.forget_until(100);
        assert!(!repeat(&mut sent, row("p1", 100, 1.0)), "forgotten");
        assert!(repeat(&mut sent, row("p1", 200, 1.0)), "still open");
    }
}
