//! PostgreSQL as an analytics store.
//!
//! Each batch is one transaction. Rows go by binary `COPY` (see [`copy`]):
//! per indicator table into a staging table, then one `INSERT … SELECT
//! … ON CONFLICT … DO UPDATE … WHERE excluded.revision > t.revision` (see
//! [`indicators`]); the event rows straight into `events`, through a
//! staging table that skips ids already stored when a replay brings them
//! back (see [`events`]). A whole batch costs a few round trips, not one
//! per row, and the statements are fixed text, prepared once per
//! connection. A lost connection is re-opened on the next write; the
//! migrations run on every (re)connect and find nothing to do after the
//! first.

mod copy;
mod events;
mod indicators;
mod migrate;
mod purge;
mod read;
mod tls;

use std::time::{Duration, Instant};

use lap_runtime::config::{PostgresConfig, Secret};
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;
use tracing::{info, warn};

pub use events::holds_nul;
pub use migrate::{MIGRATIONS, Migration, migrate};

use crate::rows::Rows;
use crate::store::{Store, StoreError, Written};

/// Environment variable holding the PostgreSQL password; wins over
/// `sink.postgres.password_file`.
pub const PASSWORD_ENV: &str = "LAP_POSTGRES_PASSWORD";

const STORE: &str = "postgres";

/// A PostgreSQL store: one connection, opened lazily and re-opened after a
/// failure.
pub struct PgStore {
    config: tokio_postgres::Config,
    schema: String,
    conn: Option<Connection>,
    /// Set when the URL says `sslmode=require`.
    tls: Option<MakeRustlsConnect>,
}

/// An open connection and the statements prepared on it.
struct Connection {
    client: Client,
    /// The statements that write event rows.
    events: events::Statements,
    /// Each indicator table's upsert, prepared on first use.
    upserts: indicators::Upserts,
}

impl Connection {
    /// Creates the event staging table on a freshly migrated `client` and
    /// prepares the event statements.
    async fn open(client: Client) -> Result<Self, StoreError> {
        let events = events::Statements::prepare(&client)
            .await
            .map_err(failed("prepare the writes of event rows".into()))?;
        Ok(Connection {
            client,
            events,
            upserts: indicators::Upserts::default(),
        })
    }
}

impl PgStore {
    /// Checks the configuration; connects on the first [`Store::write`].
    pub fn new(cfg: &PostgresConfig, password: Option<Secret>) -> Result<Self, StoreError> {
        let bad = |reason: String| StoreError::Connect {
            store: STORE,
            reason,
        };
        if !is_identifier(&cfg.schema) {
            return Err(bad(format!(
                "sink.postgres.schema {:?} must be lower-case letters, digits and _ (not starting with a digit)",
                cfg.schema
            )));
        }
        let mut config: tokio_postgres::Config = cfg.url.parse().map_err(|e| {
            bad(format!(
                "sink.postgres.url is not a PostgreSQL URL or key=value string ({e})"
            ))
        })?;
        if config.get_password().is_some() {
            return Err(bad(format!(
                "sink.postgres.url holds a password; move it to {PASSWORD_ENV} or sink.postgres.password_file"
            )));
        }
        if let Some(p) = password {
            config.password(p.expose());
        }
        config
            .application_name("lap-sink")
            .connect_timeout(Duration::from_millis(cfg.connect_timeout_ms))
            .options(format!(
                "-c search_path={} -c client_min_messages=warning",
                cfg.schema
            ));
        let tls = match config.get_ssl_mode() {
            SslMode::Require => Some(tls::connector(&cfg.ssl_root_cert)?),
            _ => None,
        };
        Ok(PgStore {
            config,
            schema: cfg.schema.clone(),
            conn: None,
            tls,
        })
    }

    /// The open connection's client, connecting and migrating first if
    /// there is none: for a service that keeps its own tables beside the
    /// analytics tables (the views service's access records).
    pub async fn client(&mut self) -> Result<&Client, StoreError> {
        Ok(&self.connection().await?.client)
    }

    /// The open connection, connecting and migrating first if there is none.
    async fn connection(&mut self) -> Result<&mut Connection, StoreError> {
        if self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            warn!("postgres connection lost; reconnecting");
            self.conn = None;
        }
        let conn = match self.conn.take() {
            Some(c) => c,
            None => Connection::open(self.connect().await?).await?,
        };
        Ok(self.conn.insert(conn))
    }

    async fn connect(&self) -> Result<Client, StoreError> {
        let refused = |e: tokio_postgres::Error| StoreError::Connect {
            store: STORE,
            reason: format!(
                "{} (check sink.postgres.url, the password, that the server is up, and for TLS errors sink.postgres.ssl_root_cert)",
                describe(&e)
            ),
        };
        let ended = |e: tokio_postgres::Error| warn!(error = %e, "postgres connection ended");
        let mut client = match &self.tls {
            Some(tls) => {
                let (client, connection) =
                    self.config.connect(tls.clone()).await.map_err(refused)?;
                tokio::spawn(async move { connection.await.map_err(ended) });
                client
            }
            None => {
                let (client, connection) = self.config.connect(NoTls).await.map_err(refused)?;
                tokio::spawn(async move { connection.await.map_err(ended) });
                client
            }
        };
        let applied = migrate(&mut client, &self.schema).await?;
        info!(schema = %self.schema, applied, "postgres connected and migrated");
        Ok(client)
    }
}

impl Store for PgStore {
    fn name(&self) -> &'static str {
        STORE
    }

    async fn write(&mut self, rows: &Rows) -> Result<Written, StoreError> {
        let result = self.write_once(rows).await;
        if result.is_err() {
            // The transaction is gone either way; a fresh connection on the
            // retry is simpler than telling server errors from lost sockets.
            self.conn = None;
        }
        result
    }

    fn handle(&self) -> Self {
        PgStore {
            config: self.config.clone(),
            schema: self.schema.clone(),
            conn: None,
            tls: self.tls.clone(),
        }
    }
}

impl PgStore {
    async fn write_once(&mut self, rows: &Rows) -> Result<Written, StoreError> {
        let conn = self.connection().await?;
        let mut written = Written::default();
        if rows.is_empty() {
            return Ok(written);
        }
        let mut upserts = Vec::new();
        for table in rows.indicators.keys() {
            let action = format!("prepare the write of {table}");
            upserts.push(
                conn.upserts
                    .get(&conn.client, table)
                    .await
                    .map_err(failed(action))?,
            );
        }
        let mut tx = conn
            .client
            .transaction()
            .await
            .map_err(failed("begin".into()))?;
        for ((table, batch), upsert) in rows.indicators.iter().zip(upserts) {
            let started = Instant::now();
            let changed = upsert
                .write(&tx, batch)
                .await
                .map_err(failed(format!("upsert into {table}")))?;
            written.took.insert(table, started.elapsed());
            written.indicators_changed.insert(table, changed);
        }
        if !rows.events.is_empty() {
            let started = Instant::now();
            written.events_inserted = events::write(&mut tx, &conn.events, &rows.events)
                .await
                .map_err(failed("copy into events".into()))?;
            written.took.insert("events", started.elapsed());
        }
        tx.commit().await.map_err(failed("commit".into()))?;
        Ok(written)
    }
}

/// Maps a client error during `action` to a write error.
fn failed(action: String) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
    move |e| StoreError::Write {
        store: STORE,
        action,
        reason: describe(&e),
    }
}

/// A client error with the server's message, code and detail when there
/// is one (tokio-postgres' `Display` alone says only "db error"), else
/// with its causes.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                s.push_str(": ");
                s.push_str(detail);
            }
            s
        }
        None => {
            // The cause says e.g. which certificate check failed.
            let mut s = e.to_string();
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                s.push_str(": ");
                s.push_str(&c.to_string());
                cause = c.source();
            }
            s
        }
    }
}

/// A lower-case SQL identifier that needs no quoting.
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 63
}
