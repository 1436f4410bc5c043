//! The aggregate stage: enriched events into event-time windowed
//! indicators (DESIGN.md §6, §7).
//!
//! - [`window`]: daily and ISO-weekly windows in the schools' time zone.
//! - [`store`]: window state, the effective events of each open day.
//! - [`table`]: the documented `events` table the indicator SQL reads.
//! - [`sql`]: indicator definitions as SQL files, run by DataFusion.
//! - [`finish`] and [`history`]: growth, flags, suppression, and what later
//!   windows look back on.
//! - [`watermark`]: per-partition and instance watermarks.
//! - [`unchanged`]: provisional rows equal to the last ones sent are not
//!   sent again.
//! - [`engine::Engine`]: the transport-free stage logic: admit, emit
//!   provisionally, finalise, checkpoint.
//! - [`Aggregate`]: the operator that runs it over any transport.
//! - [`backfill`]: the same SQL in batch over archived events.

pub mod backfill;
pub mod engine;
pub mod finish;
pub mod history;
pub mod metrics;
pub mod operator;
pub mod reference;
pub mod sql;
pub mod store;
pub mod table;
pub mod unchanged;
pub mod watermark;
pub mod window;

pub use engine::{Admitted, Emission, Engine, EngineOptions};
pub use operator::{Aggregate, AggregateTopics, SharedReference};
