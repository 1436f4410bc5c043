//! Versioned schema migrations, applied by the sink at start.
//!
//! Each migration is a SQL file under `sink/migrations/`, compiled into the
//! binary. Applied ones are recorded in `lap_migrations` with their text,
//! so a changed file is caught instead of silently diverging. Replicas that
//! start together serialise on an advisory lock; the first applies, the
//! others find nothing left to do.

use tokio_postgres::{Client, Transaction};

use crate::store::StoreError;

/// One migration: its number, file name and SQL.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// Applied in increasing order; never reused.
    pub version: i32,
    /// File name, for messages and the bookkeeping table.
    pub name: &'static str,
    /// The statements.
    pub sql: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_tables.sql",
        sql: include_str!("../../migrations/0001_tables.sql"),
    },
    Migration {
        version: 2,
        name: "0002_views.sql",
        sql: include_str!("../../migrations/0002_views.sql"),
    },
    Migration {
        version: 3,
        name: "0003_erasures.sql",
        sql: include_str!("../../migrations/0003_erasures.sql"),
    },
    Migration {
        version: 4,
        name: "0004_events_byte_order.sql",
        sql: include_str!("../../migrations/0004_events_byte_order.sql"),
    },
    Migration {
        version: 5,
        name: "0005_schools_freshness_cleared_flags.sql",
        sql: include_str!("../../migrations/0005_schools_freshness_cleared_flags.sql"),
    },
    Migration {
        version: 6,
        name: "0006_views_service.sql",
        sql: include_str!("../../migrations/0006_views_service.sql"),
    },
    Migration {
        version: 7,
        name: "0007_views_groups.sql",
        sql: include_str!("../../migrations/0007_views_groups.sql"),
    },
    Migration {
        version: 8,
        name: "0008_views_digests.sql",
        sql: include_str!("../../migrations/0008_views_digests.sql"),
    },
];

const STORE: &str = "postgres";

/// Creates `schema` if needed and applies the migrations it lacks, in one
/// transaction. Returns how many were applied.
pub async fn migrate(client: &mut Client, schema: &str) -> Result<usize, StoreError> {
    let tx = client
        .transaction()
        .await
        .map_err(failed(0, "bookkeeping"))?;
    match apply(&tx, schema).await {
        Ok(count) => {
            tx.commit().await.map_err(failed(0, "commit"))?;
            Ok(count)
        }
        Err(e) => {
            // Release the lock and the half-applied work now, not whenever
            // the connection happens to close.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

async fn apply(tx: &Transaction<'_>, schema: &str) -> Result<usize, StoreError> {
    tx.batch_execute(&format!(
        "SELECT pg_advisory_xact_lock(hashtext('lap-sink migrate ' || {schema_lit}));
         CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.lap_migrations (
             version integer PRIMARY KEY,
             name text NOT NULL,
             sql text NOT NULL,
             applied_time timestamptz NOT NULL DEFAULT now()
         );",
        schema_lit = literal(schema),
    ))
    .await
    .map_err(failed(0, "bookkeeping"))?;
    let applied = tx
        .query(
            &format!("SELECT version, sql FROM {schema}.lap_migrations ORDER BY version"),
            &[],
        )
        .await
        .map_err(failed(0, "bookkeeping"))?;
    let mut count = 0;
    for m in MIGRATIONS {
        match applied.iter().find(|r| r.get::<_, i32>(0) == m.version) {
            Some(row) if row.get::<_, &str>(1) == m.sql => continue,
            Some(_) => {
                return Err(StoreError::Migration {
                    store: STORE,
                    version: m.version,
                    name: m.name,
                    reason: format!(
                        "the applied text in {schema}.lap_migrations differs from this build's; \
                         never edit an applied migration, add a new one"
                    ),
                });
            }
            None => {}
        }
        tx.batch_execute(m.sql)
            .await
            .map_err(failed(m.version, m.name))?;
        tx.execute(
            &format!(
                "INSERT INTO {schema}.lap_migrations (version, name, sql) VALUES ($1, $2, $3)"
            ),
            &[&m.version, &m.name, &m.sql],
        )
        .await
        .map_err(failed(m.version, m.name))?;
        count += 1;
    }
    if let Some(newer) = applied
        .iter()
        .map(|r| r.get::<_, i32>(0))
        .find(|v| !MIGRATIONS.iter().any(|m| m.version == *v))
    {
        return Err(StoreError::Migration {
            store: STORE,
            version: newer,
            name: "unknown",
            reason: format!(
                "{schema} was migrated by a newer lap-sink; run that version (or newer) instead"
            ),
        });
    }
    Ok(count)
}

/// Maps a client error to a migration error naming the file.
fn failed(version: i32, name: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| StoreError::Migration {
        store: STORE,
        version,
        name,
        reason: super::describe(&e),
    }
}

/// `s` as a SQL string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
