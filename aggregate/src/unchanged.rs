//! Provisional rows that say what the last row sent for their key said are
//! not sent again.
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
//! What was sent is kept as two 64-bit hashes per row (key, content) for the
//! open windows only, forgotten when their week is final. A restart starts
//! empty, so it re-sends everything once: the same rows with higher
//! revisions, which the stores take as updates. Two different contents
//! would have to collide in 64 bits for a change to be missed.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher;

use lap_schemas::IndicatorRow;
use xxhash_rust::xxh3::Xxh3Default;

/// The content hash last sent per row key, by window end.
#[derive(Debug, Default)]
pub struct Unchanged {
    sent: BTreeMap<i64, HashMap<u64, u64>>,
}

impl Unchanged {
    /// True when `row` is provisional and equal, revision and emission time
    /// aside, to the last row sent for its key: it need not be sent.
    /// Otherwise remembers `row` as the one sent.
    pub fn is_repeat(&mut self, row: &IndicatorRow) -> bool {
        if row.is_final {
            return false;
        }
        let content = content_hash(row);
        let last = self
            .sent
            .entry(row.window_end)
            .or_default()
            .insert(key_hash(row), content);
        last == Some(content)
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
    for flag in &row.flags {
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
        }
    }

    #[test]
    fn a_row_is_a_repeat_only_when_its_content_is_unchanged() {
        let mut sent = Unchanged::default();
        assert!(!sent.is_repeat(&row("p1", 100, 1.0)), "first time");
        let mut again = row("p1", 100, 1.0);
        (again.revision, again.emitted_time) = (2, 2);
        assert!(sent.is_repeat(&again), "revision and time aside, equal");
        assert!(!sent.is_repeat(&row("p2", 100, 1.0)), "another learner");
        assert!(!sent.is_repeat(&row("p1", 100, 2.0)), "a value changed");
        assert!(!sent.is_repeat(&row("p1", 100, 1.0)), "and changed back");
        let mut flagged = row("p1", 100, 1.0);
        flagged.flags.push(Flag {
            code: "inactive".into(),
            reason: "no activity".into(),
            evidence: BTreeMap::from([("days".into(), 3.0)]),
        });
        assert!(!sent.is_repeat(&flagged), "a flag raised");
        let mut null = row("p1", 100, 1.0);
        null.indicators.insert("activity_events".into(), None);
        assert!(!sent.is_repeat(&null), "a value became null");
        let mut fin = row("p2", 100, 1.0);
        fin.is_final = true;
        assert!(!sent.is_repeat(&fin), "final rows are always sent");
    }

    #[test]
    fn windows_of_a_final_week_are_forgotten() {
        let mut sent = Unchanged::default();
        sent.is_repeat(&row("p1", 100, 1.0));
        sent.is_repeat(&row("p1", 200, 1.0));
        sent.forget_until(100);
        assert!(!sent.is_repeat(&row("p1", 100, 1.0)), "forgotten");
        assert!(sent.is_repeat(&row("p1", 200, 1.0)), "still open");
    }
}
