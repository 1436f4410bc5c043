//! The analytics-store boundary: what the sink loop needs from a store.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use crate::rows::Rows;

/// An analytics store the sink writes batches to.
///
/// A write is all-or-nothing and idempotent: indicator rows are upserted
/// keeping the highest `revision`, event rows are inserted once per id. So
/// the sink can retry a failed write, or replay a batch after a crash,
/// without changing the result — the basis of effectively-once delivery.
pub trait Store: Send {
    /// Short name for metrics and logs (`postgres`, `delta`).
    fn name(&self) -> &'static str;

    /// Writes `rows` in one transaction. An empty `rows` still connects
    /// and prepares the store (e.g. applies migrations), which is how the
    /// service checks readiness at start.
    fn write(&mut self, rows: &Rows) -> impl Future<Output = Result<Written, StoreError>> + Send;

    /// Another handle on the same store, with its own connection: the sink
    /// writes event rows and indicator rows through two handles side by
    /// side, so events never wait behind a large indicator upsert.
    fn handle(&self) -> Self
    where
        Self: Sized;

    /// Shortest time from the start of one write through a handle to the
    /// start of the next; the sink writes what arrives meanwhile in one
    /// go. For a store whose commit costs about the same whatever its size
    /// (Delta Lake), so that many small batches do not each pay for one.
    fn commit_interval(&self) -> Duration {
        Duration::ZERO
    }
}

/// What a successful write changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Per indicator table: rows inserted or replaced by a higher revision.
    /// Rows sent minus rows changed were stale (a revision already stored).
    pub indicators_changed: BTreeMap<&'static str, u64>,
    /// Event rows inserted (the rest were stored before).
    pub events_inserted: u64,
    /// Per table (`events` included): how long its part of the write took
    /// (Delta: the table's MERGE commit; PostgreSQL: its statement inside
    /// the transaction), so an operator sees which table a slow sink
    /// spends its time on.
    pub took: BTreeMap<&'static str, Duration>,
}

/// A store write that failed. The sink retries every kind with backoff: a
/// data problem is caught before the store (see [`crate::rows`]), so what
/// remains is the store being unreachable, overloaded or misconfigured —
/// all things an operator fixes while the sink waits, losing nothing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or refused the login.
    #[error("{store}: cannot connect: {reason}")]
    Connect {
        /// Store name.
        store: &'static str,
        /// Client error and what to check.
        reason: String,
    },
    /// A migration failed or an applied one was changed afterwards.
    #[error("{store}: migration {version} ({name}): {reason}")]
    Migration {
        /// Store name.
        store: &'static str,
        /// Migration number.
        version: i32,
        /// Migration file name.
        name: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A statement failed (connection lost, server error).
    #[error("{store}: {action} failed: {reason}")]
    Write {
        /// Store name.
        store: &'static str,
        /// What the sink was doing, e.g. `upsert into learner_weekly`.
        action: String,
        /// Server or client message.
        reason: String,
    },
}

/// One of the configured stores, so a sink can hold several of them.
pub enum AnyStore {
    /// PostgreSQL.
    Postgres(Box<crate::postgres::PgStore>),
    /// Delta Lake.
    Delta(Box<crate::delta::DeltaStore>),
}

impl Store for AnyStore {
    fn name(&self) -> &'static str {
        match self {
            AnyStore::Postgres(s) => s.name(),
            AnyStore::Delta(s) => s.name(),
        }
    }

    async fn write(&mut self, rows: &Rows) -> Result<Written, StoreError> {
        match self {
            AnyStore::Postgres(s) => s.write(rows).await,
            AnyStore::Delta(s) => s.write(rows).await,
        }
    }

    fn handle(&self) -> Self {
        match self {
            AnyStore::Postgres(s) => AnyStore::Postgres(Box::new(s.handle())),
            AnyStore::Delta(s) => AnyStore::Delta(Box::new(s.handle())),
        }
    }

    fn commit_interval(&self) -> Duration {
        match self {
            AnyStore::Postgres(s) => s.commit_interval(),
            AnyStore::Delta(s) => s.commit_interval(),
        }
    }
}
