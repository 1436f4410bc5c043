//! The enrich stage: `LearningEvent`s joined with OneRoster context,
//! pseudonymised, stripped of personal data, with opt-outs honoured.
//!
//! - [`roster`] reads a OneRoster export (folder or zip, bulk or delta, 1.0
//!   to 1.2, plus lap's curriculum, questionnaire and consent files) into
//!   `RosterRecord`s and plans what to publish to the compacted roster topic.
//! - [`state::Roster`] is the roster in memory, kept current by [`feed`]
//!   from that topic, with the indexes the join needs.
//! - [`join`] turns one event into an `EnrichedEvent` (keyed by a
//!   [`pseudonym`]), an opt-out, or an unmatched reason.
//! - [`Enrich`] is the transport-free operator: it holds unmatched events
//!   for a grace period, retries them when the roster changes, and routes
//!   the rest to the unmatched topic.
//! - [`erase`] finds the learner `lap erase` names and their roster records.
//! - [`members`] derives the class lists by pseudonym the aggregate needs
//!   for learners without activity.

pub mod erase;
pub mod feed;
pub mod join;
pub mod members;
pub mod metrics;
pub mod operator;
pub mod pseudonym;
pub mod roster;
pub mod state;

pub use operator::{Enrich, EnrichTopics, HoldPolicy};

/// Environment variable holding the pseudonymisation key (wins over
/// `enrich.key_file`).
pub const KEY_ENV: &str = "LAP_ENRICH_KEY";
