//! Delta Lake as an analytics store (delta-rs): one table per indicator
//! table plus `events`, in a directory or an object store ([`Lake`]),
//! readable by DataFusion, DuckDB, Spark or pandas without lap.
//!
//! Indicator rows are MERGEd on (`window_date`, `window_start`,
//! `entity_id`, `class_id`): a matched row is replaced only by a higher
//! revision, an unmatched one inserted. Events are only inserted: those
//! whose (`event_date`, `tenant`, `event_id`) the table lacks are appended
//! (see [`append`]). Both are idempotent, so a replay changes nothing.
//! Tables are partitioned by date, which also lets a write read only the
//! partitions its batch touches. Each table commits on its own: a batch
//! that fails half-way is retried whole, and the tables that already took
//! it find nothing new.

mod append;
mod lake;
pub mod maintain;
pub mod purge;
pub mod read;
pub mod schema;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};

pub use lake::{Commits, Lake, LineEdit, OBJECT_STORE_SCHEMES};

use lap_runtime::config::LakeConfig;

use crate::rows::{INDICATOR_TABLES, Rows};
use crate::store::{Store, StoreError, Written};
use schema::{
    EVENT_DATE, WINDOW_DATE, event_batch, event_schema, indicator_batch, indicator_schema,
};

const STORE: &str = "delta";

/// The event-level table's name.
pub const EVENTS: &str = "events";

/// Every lake table: the indicator tables and `events`.
pub fn tables() -> impl Iterator<Item = &'static str> {
    INDICATOR_TABLES.into_iter().chain([EVENTS])
}

/// A lake of Delta tables, each opened (or created) on first use.
pub struct DeltaStore {
    lake: Lake,
    open: HashMap<&'static str, DeltaTable>,
    /// Stored keys of the events table's recent partitions.
    event_keys: append::EventKeys,
    /// See [`DeltaStore::configured`].
    config: LakeConfig,
}

impl DeltaStore {
    /// The store writing `lake` (a directory is created when missing),
    /// committing each batch at once and keeping the default number of
    /// event keys.
    pub fn new(lake: impl Into<Lake>) -> Self {
        let config = LakeConfig {
            commit_interval_ms: 0,
            ..LakeConfig::default()
        };
        DeltaStore {
            lake: lake.into(),
            open: HashMap::new(),
            event_keys: append::EventKeys::with_budget(config.cached_event_keys),
            config,
        }
    }

    /// Takes the `[sink.lake]` settings of how to write: commits at most
    /// once per `commit_interval_ms` per writer, taking what arrived
    /// meanwhile in one commit, and keeps up to `cached_event_keys` keys
    /// of recent events. Where the lake is comes from [`DeltaStore::new`].
    pub fn configured(mut self, config: &LakeConfig) -> Self {
        self.event_keys = append::EventKeys::with_budget(config.cached_event_keys);
        self.config = config.clone();
        self
    }

    /// The table, creating it with its schema and partition column when
    /// the directory holds none yet.
    async fn table(&mut self, name: &'static str) -> Result<DeltaTable, StoreError> {
        if let Some(t) = self.open.get(name) {
            return Ok(t.clone());
        }
        let table = open_or_create(&self.lake, name).await?;
        self.open.insert(name, table.clone());
        Ok(table)
    }
}

impl Store for DeltaStore {
    fn name(&self) -> &'static str {
        STORE
    }

    async fn write(&mut self, rows: &Rows) -> Result<Written, StoreError> {
        let mut written = Written::default();
        if rows.is_empty() {
            // Readiness: the lake directory must be usable.
            for name in tables() {
                self.table(name).await?;
            }
            return Ok(written);
        }
        // The tables commit at once: they are independent, so a batch's
        // lake time is its slowest table's rather than the sum of all.
        // Taken out for the events job to borrow (an early return loses
        // them: the next append reads the keys again).
        let empty = append::EventKeys::with_budget(self.config.cached_event_keys);
        let mut keys = std::mem::replace(&mut self.event_keys, empty);
        let mut jobs = Vec::new();
        for (name, batch) in &rows.indicators {
            let batch = indicator_batch(batch)
                .map_err(|e| write_error(&format!("convert rows of {name}"), e.into()))?;
            jobs.push(write_table(name, self.table(name).await?, batch, None));
        }
        if !rows.events.is_empty() {
            let batch = event_batch(&rows.events)
                .map_err(|e| write_error("convert event rows", e.into()))?;
            let table = self.table(EVENTS).await?;
            jobs.push(write_table(EVENTS, table, batch, Some(&mut keys)));
        }
        let mut failure = None;
        let results = futures::future::join_all(jobs).await;
        self.event_keys = keys;
        for (name, took, result) in results {
            match result {
                Ok((table, n)) => {
                    self.open.insert(name, table);
                    written.took.insert(name, took);
                    if name == EVENTS {
                        written.events_inserted = n;
                    } else {
                        written.indicators_changed.insert(name, n);
                    }
                }
                Err(e) => {
                    // The table's version may have moved under us; reload it.
                    self.open.remove(name);
                    let action = if name == EVENTS {
                        "insert into events".to_string()
                    } else {
                        format!("merge into {name}")
                    };
                    failure.get_or_insert(write_error(&action, e));
                }
            }
        }
        failure.map_or(Ok(written), Err)
    }

    fn handle(&self) -> Self {
        DeltaStore::new(self.lake.clone()).configured(&self.config)
    }

    fn commit_interval(&self) -> Duration {
        Duration::from_millis(self.config.commit_interval_ms)
    }
}

/// Writes `batch` to `table` (named `name`): events appended where new
/// (with the events table's `keys`), indicator rows MERGEd. Returns the
/// table at its new version, the rows changed, and how long it took.
async fn write_table(
    name: &'static str,
    table: DeltaTable,
    batch: RecordBatch,
    keys: Option<&mut append::EventKeys>,
) -> (
    &'static str,
    Duration,
    Result<(DeltaTable, u64), DeltaTableError>,
) {
    let started = Instant::now();
    let result = match keys {
        Some(keys) => append::insert_new_events(table, batch, keys).await,
        None => merge_indicators(table, batch).await,
    };
    (name, started.elapsed(), result)
}

/// MERGEs indicator rows into `table`: a higher revision replaces the
/// stored row, a new key is inserted.
async fn merge_indicators(
    table: DeltaTable,
    batch: RecordBatch,
) -> Result<(DeltaTable, u64), DeltaTableError> {
    let source = SessionContext::new().read_batch(batch)?;
    let columns: Vec<String> = indicator_schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    // A matched row keeps its key; everything else comes from the source.
    let key = [WINDOW_DATE, "window_start", "entity_id", "class_id"];
    let values: Vec<&String> = columns
        .iter()
        .filter(|c| !key.contains(&c.as_str()))
        .collect();
    let (table, metrics) = table
        .merge(source, merge_predicate())
        .with_source_alias("source")
        .with_target_alias("target")
        .when_matched_update(|u| {
            values
                .iter()
                .fold(u.predicate("source.revision > target.revision"), |u, c| {
                    u.update(c.as_str(), format!("source.{c}"))
                })
        })?
        .when_not_matched_insert(|i| {
            columns
                .iter()
                .fold(i, |i, c| i.set(c.as_str(), format!("source.{c}")))
        })?
        .await?;
    let changed = metrics.num_target_rows_inserted + metrics.num_target_rows_updated;
    Ok((table, changed as u64))
}

/// The join condition of an indicator table's MERGE. The partition column
/// comes first, so delta-rs prunes the target to the partitions the batch
/// has.
fn merge_predicate() -> String {
    format!(
        "target.{WINDOW_DATE} = source.{WINDOW_DATE} AND target.window_start = source.window_start \
         AND target.entity_id = source.entity_id \
         AND coalesce(target.class_id, '') = coalesce(source.class_id, '')"
    )
}

/// Opens table `name` of `lake`, creating it (and a local lake's folder)
/// when there is none.
pub async fn open_or_create(lake: &Lake, name: &str) -> Result<DeltaTable, StoreError> {
    let url = lake.url_of(name);
    let failed = |e: DeltaTableError| StoreError::Connect {
        store: STORE,
        reason: format!("table {name} at {url}: {e}"),
    };
    if let Some(dir) = lake.dir() {
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::Connect {
            store: STORE,
            reason: format!("create the lake folder {}: {e}", dir.display()),
        })?;
    }
    let table = DeltaTable::try_from_url_with_storage_options(url.clone(), lake.options())
        .await
        .map_err(failed)?;
    let (schema, partition): (SchemaRef, &str) = if name == EVENTS {
        (event_schema(), EVENT_DATE)
    } else {
        (indicator_schema(), WINDOW_DATE)
    };
    let kernel: StructType = schema
        .as_ref()
        .try_into_kernel()
        .map_err(|e| failed(DeltaTableError::from(e)))?;
    if table.version().is_some() {
        return add_missing_columns(table, &kernel).await.map_err(failed);
    }
    table
        .create()
        .with_table_name(name)
        .with_columns(kernel.fields().cloned())
        .with_partition_columns([partition])
        .with_save_mode(SaveMode::Ignore)
        .await
        .map_err(failed)
}

/// Adds the columns of `schema` that `table` lacks (nullable ones, added
/// by a later version of lap): a lake written before keeps its files, and
/// its old rows read NULL there.
async fn add_missing_columns(
    table: DeltaTable,
    schema: &StructType,
) -> Result<DeltaTable, DeltaTableError> {
    let have = table.snapshot()?.schema();
    let missing: Vec<_> = schema
        .fields()
        .filter(|f| have.field(f.name()).is_none())
        .cloned()
        .collect();
    if missing.is_empty() {
        return Ok(table);
    }
    table.add_columns().with_fields(missing).await
}

fn write_error(action: &str, e: DeltaTableError) -> StoreError {
    StoreError::Write {
        store: STORE,
        action: action.to_string(),
        reason: e.to_string(),
    }
}

/// Table `name` of `lake`, or `None` when it has not been written yet:
/// what upkeep commands (compaction, purges, queries) walk over. Nothing
/// is created.
pub async fn open_existing(lake: &Lake, name: &str) -> Result<Option<DeltaTable>, StoreError> {
    if let Some(dir) = lake.dir()
        && !dir.join(name).join("_delta_log").is_dir()
    {
        return Ok(None);
    }
    let url = lake.url_of(name);
    let table = DeltaTable::try_from_url_with_storage_options(url.clone(), lake.options())
        .await
        .map_err(|e| StoreError::Connect {
            store: STORE,
            reason: format!("table {name} at {url}: {e}"),
        })?;
    Ok(table.version().is_some().then_some(table))
}

/// Maps a delta-rs error during `action` on table `name` to a write error.
fn table_error(name: &str) -> impl Fn(&str, DeltaTableError) -> StoreError + '_ {
    move |action, e| StoreError::Write {
        store: STORE,
        action: format!("{action} {name}"),
        reason: e.to_string(),
    }
}

/// A DataFusion session with every table of `lake` registered by name, at
/// its latest version: what `lap query` runs SQL in. Tables not written yet
/// are left out.
pub async fn query_context(lake: &Lake) -> Result<SessionContext, StoreError> {
    let ctx = SessionContext::new();
    for name in tables() {
        let Some(table) = open_existing(lake, name).await? else {
            continue;
        };
        let provider = table
            .table_provider()
            .await
            .map_err(|e| StoreError::Connect {
                store: STORE,
                reason: format!("table {name} at {}: {e}", lake.url_of(name)),
            })?;
        ctx.register_table(name, provider)
            .map_err(|e| StoreError::Connect {
                store: STORE,
                reason: format!("table {name}: {e}"),
            })?;
    }
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_handle_keeps_the_lake_settings() {
        let config = LakeConfig {
            commit_interval_ms: 700,
            cached_event_keys: 7,
            ..LakeConfig::default()
        };
        let store = DeltaStore::new(Lake::local("lake")).configured(&config);
        for store in [&store, &store.handle()] {
            assert_eq!(store.commit_interval(), Duration::from_millis(700));
            assert_eq!(store.event_keys.budget(), 7);
        }
        let plain = DeltaStore::new(Lake::local("lake"));
        assert_eq!(plain.commit_interval(), Duration::ZERO);
        assert_eq!(
            plain.event_keys.budget(),
            LakeConfig::default().cached_event_keys
        );
    }
}
