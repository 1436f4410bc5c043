//! Turning a batch of messages into rows for the stores (transport-free).
//!
//! A batch can hold several revisions of one indicator window (provisional
//! emissions every few seconds) and, after a replay, the same event twice.
//! [`decode_batch`] keeps one row per key, the one a store would keep anyway
//! (highest revision; first copy of an event), so a store writes each key at
//! most once per batch — PostgreSQL's `ON CONFLICT` refuses to touch one row
//! twice in one statement.

use std::collections::{BTreeMap, HashMap, HashSet};

use lap_runtime::transport::Message;
use lap_schemas::{EnrichedEvent, IndicatorRow, decode};
use serde::Serialize;

/// The indicator tables aggregate writes (`<grain>_<window>`): one store
/// table each. A row naming another table is dead-lettered, not guessed at.
pub const INDICATOR_TABLES: [&str; 4] = [
    "learner_daily",
    "learner_weekly",
    "class_daily",
    "class_weekly",
];

/// Which topic carries which record.
#[derive(Clone, Debug)]
pub struct SinkTopics {
    /// `lap.indicators`: [`IndicatorRow`]s.
    pub indicators: String,
    /// `lap.enriched`: [`EnrichedEvent`]s for the event-level table.
    pub enriched: String,
}

/// One batch's rows, grouped and de-duplicated for the stores.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    /// Indicator rows per table (a name from [`INDICATOR_TABLES`]), one per
    /// key (`window_start`, `entity_id`, `class_id`): the highest revision.
    pub indicators: BTreeMap<&'static str, Vec<IndicatorRow>>,
    /// Event-level rows, one per (`tenant`, `event_id`).
    pub events: Vec<EnrichedEvent>,
}

impl Rows {
    /// Number of rows of every kind.
    pub fn len(&self) -> usize {
        self.indicators.values().map(Vec::len).sum::<usize>() + self.events.len()
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The event rows and the indicator rows apart, for the two writers of
    /// each store (indicators first).
    pub fn split(self) -> (Rows, Rows) {
        let events = Rows {
            events: self.events,
            ..Rows::default()
        };
        let indicators = Rows {
            indicators: self.indicators,
            ..Rows::default()
        };
        (indicators, events)
    }

    /// Several batches' rows as one, keeping what a store would keep (as
    /// [`decode_batch`] does within a batch), so a store that fell behind
    /// writes what queued up in one commit. Also returns how many rows a
    /// later or higher revision made unnecessary.
    pub fn merge<'a>(parts: impl IntoIterator<Item = &'a Rows>) -> (Rows, usize) {
        let mut keep = Keeper::default();
        for part in parts {
            for (table, rows) in &part.indicators {
                for row in rows {
                    keep.indicator(table, row.clone());
                }
            }
            for e in &part.events {
                keep.event(e.clone());
            }
        }
        keep.finish()
    }
}

type IndicatorKey = (&'static str, i64, String, Option<String>);

/// Keeps one row per key as rows come in: the highest revision of an
/// indicator window, the first copy of an event; counts the others.
#[derive(Default)]
struct Keeper {
    latest: HashMap<IndicatorKey, IndicatorRow>,
    events: Vec<EnrichedEvent>,
    seen_events: HashSet<(String, String)>,
    dropped: usize,
}

impl Keeper {
    fn indicator(&mut self, table: &'static str, row: IndicatorRow) {
        let key = (
            table,
            row.window_start,
            row.entity_id.clone(),
            row.class_id.clone(),
        );
        match self.latest.get(&key) {
            Some(kept) if kept.revision >= row.revision => self.dropped += 1,
            Some(_) => {
                self.dropped += 1;
                self.latest.insert(key, row);
            }
            None => {
                self.latest.insert(key, row);
            }
        }
    }

    fn event(&mut self, e: EnrichedEvent) {
        if self
            .seen_events
            .insert((e.tenant.clone(), e.event_id.clone()))
        {
            self.events.push(e);
        } else {
            self.dropped += 1;
        }
    }

    /// The kept rows, indicator rows in key order, and how many were dropped.
    fn finish(self) -> (Rows, usize) {
        let mut rows = Rows {
            events: self.events,
            ..Rows::default()
        };
        for ((table, ..), row) in self.latest {
            rows.indicators.entry(table).or_default().push(row);
        }
        for kept in rows.indicators.values_mut() {
            kept.sort_by(|a, b| {
                (a.window_start, &a.entity_id, &a.class_id).cmp(&(
                    b.window_start,
                    &b.entity_id,
                    &b.class_id,
                ))
            });
        }
        (rows, self.dropped)
    }
}

/// A message the sink cannot store, with a stable code and a reason that
/// says what to do.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejected<'a> {
    /// The message, for its bytes and origin.
    pub message: &'a Message,
    /// What the message should have been (`avro/IndicatorRow`, ...).
    pub format: &'static str,
    /// Stable machine-readable code (`sink.decode`, `sink.unknown_table`, ...).
    pub code: &'static str,
    /// Human explanation.
    pub reason: String,
}

/// What [`decode_batch`] made of a batch.
#[derive(Debug, Default)]
pub struct Decoded<'a> {
    /// Rows to write.
    pub rows: Rows,
    /// Messages to dead-letter.
    pub rejected: Vec<Rejected<'a>>,
    /// Tombstones (erasure on a keyed topic): nothing to write.
    pub tombstones: usize,
    /// Rows dropped in favour of a higher revision or an earlier copy in
    /// the same batch.
    pub superseded: usize,
}

/// Decodes and groups a batch. Messages of topics other than the two in
/// `topics` are rejected (a misconfigured subscription, not data to guess at).
pub fn decode_batch<'a>(batch: &'a [Message], topics: &SinkTopics) -> Decoded<'a> {
    let mut out = Decoded::default();
    let mut keep = Keeper::default();
    for m in batch {
        let Some(payload) = m.payload.as_deref() else {
            out.tombstones += 1;
            continue;
        };
        let reject = |format, (code, reason)| Rejected {
            message: m,
            format,
            code,
            reason,
        };
        if *m.topic == *topics.indicators {
            match indicator(payload) {
                Ok((table, row)) => keep.indicator(table, row),
                Err(failure) => out.rejected.push(reject("avro/IndicatorRow", failure)),
            }
        } else if *m.topic == *topics.enriched {
            match event(payload) {
                Ok(e) => keep.event(e),
                Err(failure) => out.rejected.push(reject("avro/EnrichedEvent", failure)),
            }
        } else {
            out.rejected.push(reject(
                "unknown",
                (
                    "sink.unknown_topic",
                    format!(
                        "the sink reads {} and {} only; check the subscription",
                        topics.indicators, topics.enriched
                    ),
                ),
            ));
        }
    }
    (out.rows, out.superseded) = keep.finish();
    out
}

type Failure = (&'static str, String);

fn indicator(payload: &[u8]) -> Result<(&'static str, IndicatorRow), Failure> {
    let row: IndicatorRow = decode(payload).map_err(|e| {
        (
            "sink.decode",
            format!("not an IndicatorRow ({e}); only lap-aggregate should write this topic"),
        )
    })?;
    let Some(table) = INDICATOR_TABLES.iter().find(|t| **t == row.table_name) else {
        return Err((
            "sink.unknown_table",
            format!(
                "indicator table {:?} is not one of {}; a newer aggregate may need a newer sink",
                row.table_name,
                INDICATOR_TABLES.join(", ")
            ),
        ));
    };
    storable(&row)?;
    Ok((table, row))
}

fn event(payload: &[u8]) -> Result<EnrichedEvent, Failure> {
    let e: EnrichedEvent = decode(payload).map_err(|e| {
        (
            "sink.decode",
            format!("not an EnrichedEvent ({e}); only lap-enrich should write this topic"),
        )
    })?;
    storable(&e)?;
    Ok(e)
}

/// Text with U+0000 cannot be stored in PostgreSQL `text` or `jsonb`; such
/// a row would block every later write, so it is dead-lettered up front.
fn storable<T: Serialize>(row: &T) -> Result<(), Failure> {
    let json = serde_json::to_string(row)
        .map_err(|e| ("sink.encode", format!("row cannot be written as JSON: {e}")))?;
    if json.contains("\\u0000") {
        return Err((
            "sink.nul_character",
            "a text field holds the NUL character (U+0000), which PostgreSQL cannot store; fix the producer"
                .into(),
        ));
    }
    Ok(())
}
