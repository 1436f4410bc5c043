//! Turning a batch of messages into rows for the stores (transport-free).
//!
//! A batch can hold several revisions of one indicator window (provisional
//! emissions every few seconds) and, after a replay, the same event twice.
//! [`decode_batch`] keeps one row per key, the one a store would keep anyway
//! (highest revision; first copy of an event), so a store writes each key at
//! most once per batch — PostgreSQL's `ON CONFLICT` refuses to touch one row
//! twice in one statement.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use foldhash::fast::RandomState;
use hashbrown::HashTable;

use lap_runtime::transport::Message;
use lap_schemas::{EnrichedEvent, IndicatorRow, decode};

/// The indicator tables aggregate writes (`<grain>_<window>`): one store
/// table each. A row naming another table is dead-lettered, not guessed at.
pub const INDICATOR_TABLES: [&str; 6] = [
    "learner_daily",
    "learner_weekly",
    "class_daily",
    "class_weekly",
    "school_daily",
    "school_weekly",
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
    /// Event-level rows, one per (`tenant`, `event_id`). Shared, not
    /// owned: every store's event writer holds the same rows, and a writer
    /// merging several batches while another still holds them would
    /// otherwise copy every string of every event (5 % of the sink's CPU
    /// in a backlog, by `perf`).
    pub events: Vec<Arc<EnrichedEvent>>,
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
    /// later or higher revision made unnecessary. A part no other writer
    /// holds any more gives up its rows instead of copying them (event
    /// rows are only pointed to again either way). Room for
    /// every row is made up front: grown push by push, the kept events
    /// were copied from buffer to buffer, and the kernel zeroed each fresh
    /// one (6 % of the sink's CPU in a backlog, by `perf`).
    pub fn merge(parts: impl IntoIterator<Item = Arc<Rows>>) -> (Rows, usize) {
        let parts: Vec<Arc<Rows>> = parts.into_iter().collect();
        let events = parts.iter().map(|p| p.events.len()).sum();
        let indicators = parts.iter().map(|p| p.len() - p.events.len()).sum();
        let mut keep = Keeper::with_capacity(indicators, events);
        for part in parts {
            let Rows { indicators, events } = Arc::unwrap_or_clone(part);
            for (table, rows) in indicators {
                for row in rows {
                    keep.indicator(table, row);
                }
            }
            for e in events {
                keep.event(e);
            }
        }
        keep.finish()
    }
}

/// Positions of kept rows, found by their key without copying it: the table
/// holds indexes into the caller's rows and hashes the keys it reads there.
/// (A set of owned keys cost two string copies and a SipHash per event:
/// a tenth of the sink's CPU when it caught up with a backlog.)
struct Index {
    positions: HashTable<usize>,
    hasher: RandomState,
}

impl Index {
    /// An index with room for `rows` keys.
    fn with_capacity(rows: usize) -> Self {
        Index {
            positions: HashTable::with_capacity(rows),
            hasher: RandomState::default(),
        }
    }

    /// The position among `rows` of the row with `row`'s key, or, when
    /// there is none, records that `row` will be at `rows.len()` (the
    /// caller pushes it next).
    fn find_or_add<T: Keyed>(&mut self, rows: &[T], row: &T) -> Option<usize> {
        let hash = self.hasher.hash_one(row.key());
        if let Some(&at) = self.positions.find(hash, |&at| rows[at].key() == row.key()) {
            return Some(at);
        }
        let hasher = &self.hasher;
        self.positions
            .insert_unique(hash, rows.len(), |&at| hasher.hash_one(rows[at].key()));
        None
    }
}

/// A row with the key a store keeps one row per.
trait Keyed {
    type Key<'a>: Hash + Eq
    where
        Self: 'a;
    fn key(&self) -> Self::Key<'_>;
}

/// An indicator row in its table: one per window and entity.
impl Keyed for (&'static str, IndicatorRow) {
    type Key<'a> = (&'static str, i64, &'a str, Option<&'a str>);
    fn key(&self) -> Self::Key<'_> {
        let (table, row) = self;
        (
            table,
            row.window_start,
            &row.entity_id,
            row.class_id.as_deref(),
        )
    }
}

/// An event: one per tenant and event id.
impl Keyed for Arc<EnrichedEvent> {
    type Key<'a> = (&'a str, &'a str);
    fn key(&self) -> Self::Key<'_> {
        (&self.tenant, &self.event_id)
    }
}

/// Keeps one row per key as rows come in: the highest revision of an
/// indicator window, the first copy of an event; counts the others.
struct Keeper {
    indicators: Vec<(&'static str, IndicatorRow)>,
    indicator_index: Index,
    events: Vec<Arc<EnrichedEvent>>,
    event_index: Index,
    dropped: usize,
}

impl Keeper {
    /// A keeper with room for `indicators` and `events` rows.
    fn with_capacity(indicators: usize, events: usize) -> Self {
        Keeper {
            indicators: Vec::with_capacity(indicators),
            indicator_index: Index::with_capacity(indicators),
            events: Vec::with_capacity(events),
            event_index: Index::with_capacity(events),
            dropped: 0,
        }
    }

    fn indicator(&mut self, table: &'static str, row: IndicatorRow) {
        let row = (table, row);
        match self.indicator_index.find_or_add(&self.indicators, &row) {
            Some(at) => {
                self.dropped += 1;
                if self.indicators[at].1.revision < row.1.revision {
                    self.indicators[at] = row;
                }
            }
            None => self.indicators.push(row),
        }
    }

    fn event(&mut self, e: Arc<EnrichedEvent>) {
        match self.event_index.find_or_add(&self.events, &e) {
            Some(_) => self.dropped += 1,
            None => self.events.push(e),
        }
    }

    /// The kept rows, indicator rows in key order, and how many were dropped.
    fn finish(self) -> (Rows, usize) {
        let mut rows = Rows {
            events: self.events,
            ..Rows::default()
        };
        for (table, row) in self.indicators {
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
    let indicators = batch
        .iter()
        .filter(|m| *m.topic == *topics.indicators)
        .count();
    let mut keep = Keeper::with_capacity(indicators, batch.len() - indicators);
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
                Ok(e) => keep.event(Arc::new(e)),
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
    if crate::postgres::holds_nul(&e) {
        return Err(nul_character());
    }
    Ok(e)
}

/// Text with U+0000 cannot be stored in PostgreSQL `text` or `jsonb`; such
/// a row would block every later write, so it is dead-lettered up front.
/// Indicator rows are checked in the JSON PostgreSQL reads them from
/// (fewer rows, nested maps); event rows, most of the volume, by walking
/// the text they are copied with ([`crate::postgres::holds_nul`]): their
/// JSON was made only for this check, 6 % of the sink's CPU.
fn storable(row: &IndicatorRow) -> Result<(), Failure> {
    let json = serde_json::to_string(row)
        .map_err(|e| ("sink.encode", format!("row cannot be written as JSON: {e}")))?;
    if json.contains("\\u0000") {
        return Err(nul_character());
    }
    Ok(())
}

fn nul_character() -> Failure {
    (
        "sink.nul_character",
        "a text field holds the NUL character (U+0000), which PostgreSQL cannot store; fix the producer"
            .into(),
    )
}
