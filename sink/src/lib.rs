//! The sink stage: indicator rows (`lap.indicators`) and event-level rows
//! (`lap.enriched`) into an analytics store, idempotently.
//!
//! - [`rows`]: transport-free — decode a batch, keep one row per key (the
//!   highest revision), dead-letter what no store could hold.
//! - [`store`]: the [`Store`](store::Store) trait: one all-or-nothing,
//!   idempotent write per batch.
//! - [`delta`]: Delta Lake tables in a directory (the default), MERGEd by
//!   key keeping the highest revision.
//! - [`postgres`]: PostgreSQL, with versioned migrations and
//!   revision-guarded upserts.
//! - [`purge`]: transport-free — which rows an erasure or retention
//!   deletes, as a filter both stores translate.
//! - [`select`]: which indicator rows a reader asks for, translated by
//!   both stores.
//! - [`run`]: the loop that acknowledges a batch only after the store
//!   committed it, retrying a failing store with backoff while not ready.
//! - [`metrics`]: the stage's Prometheus families.

pub mod delta;
/// The delta-rs crate, so callers (e.g. `lap query`) use the same Arrow and
/// DataFusion versions as the lake.
pub use deltalake;
pub mod metrics;
pub mod postgres;
pub mod purge;
pub mod rows;
pub mod run;
pub mod select;
pub mod store;
