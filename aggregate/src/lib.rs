//! The aggregate stage: enriched events into event-time windowed
//! indicators.
//!
//! - [`window`]: daily and ISO-weekly windows in the schools' time zone.
//! - [`task`]: everything kept for one input partition; [`changelog`]:
//!   how it survives a move to another instance; [`revision`]: how rows of
//!   a partition's earlier owner are fenced off.
//! - [`store`]: window state, the effective events of each open day.
//! - [`table`]: the documented `events` table the indicator SQL reads.
//! - [`sql`]: indicator definitions as SQL files, run by DataFusion.
//! - [`finish`], [`flags`], [`history`] and [`lookback`]: rows for every
//!   learner of a class, growth, early-warning flags, suppression, and what
//!   later windows look back on.
//! - [`watermark`]: a partition's event-time progress.
//! - [`unchanged`]: provisional rows equal to the last ones sent are not
//!   sent again.
//! - [`engine::Engine`]: the transport-free stage logic: admit, emit
//!   provisionally, finalise, checkpoint.
//! - [`Aggregate`]: the operator that runs it over any transport.
//! - [`backfill`]: the same SQL in batch over archived events.

pub mod backfill;
pub mod changelog;
pub mod engine;
pub mod finish;
pub mod flags;
pub mod history;
pub mod lookback;
pub mod metrics;
pub mod operator;
pub mod reference;
pub mod revision;
pub mod sql;
pub mod store;
pub mod table;
pub mod task;
pub mod unchanged;
pub mod watermark;
pub mod window;

pub use engine::{Admitted, Assigned, Emission, Engine, EngineOptions};
pub use operator::{Aggregate, AggregateTopics, SharedReference};
