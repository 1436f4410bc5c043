//! Applying roster-topic messages to the in-memory [`Roster`]: a record
//! upserts (or, marked `tobedeleted`, deletes); a tombstone deletes its key.

use lap_runtime::transport::Message;
use lap_schemas::{RosterRecord, decode};

use crate::state::Roster;

/// A roster-topic message that could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// No key, so a tombstone cannot say what it deletes.
    #[error(
        "roster message at {topic}/{partition}@{offset} has no key; only `lap roster load` should write this topic"
    )]
    NoKey {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
    },
    /// The value is not a `RosterRecord`.
    #[error("roster message at {topic}/{partition}@{offset} is not a RosterRecord: {reason}")]
    Decode {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
        /// Decoder message.
        reason: String,
    },
}

impl FeedError {
    /// Short label for the skipped-records metric.
    pub fn reason(&self) -> &'static str {
        match self {
            FeedError::NoKey { .. } => "no_key",
            FeedError::Decode { .. } => "decode",
        }
    }
}

/// Applies one message of the roster topic.
pub fn apply(roster: &mut Roster, m: &Message) -> Result<(), FeedError> {
    match &m.payload {
        Some(bytes) => {
            let record: RosterRecord = decode(bytes).map_err(|e| FeedError::Decode {
                topic: m.topic.to_string(),
                partition: m.partition,
                offset: m.offset,
                reason: e.to_string(),
            })?;
            roster.apply(record);
        }
        None => {
            let key = m.key.as_ref().ok_or_else(|| FeedError::NoKey {
                topic: m.topic.to_string(),
                partition: m.partition,
                offset: m.offset,
            })?;
            roster.delete(&String::from_utf8_lossy(key));
        }
    }
    Ok(())
}
