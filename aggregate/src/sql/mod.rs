//! Indicator definitions as SQL files, run by DataFusion over the `events`
//! table of one or more windows.
//!
//! A query selects the key columns `window_start`, `class_id` and `entity`
//! and groups by them; every other column it selects is an indicator of
//! that name (numbers, or booleans as 0/1). A query may instead return
//! `indicator` and `value` columns to name its indicators per row (e.g. one
//! per well-being dimension). Each query runs three times per table, once
//! per [`Grain`]: `entity` is the learner (learner rows), the class (class
//! rows) or the school (school rows, where `class_id` is NULL). Besides
//! `events` it may read `members`, `assignments`, `submitted`,
//! `curriculum`, `questionnaire` and `settings` (see [`tables`]).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::SortExpr;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::reference::Reference;
use crate::table::{Grain, RowKey, class_grain, schema, school_grain, sort_order};

pub mod tables;

pub use tables::RunInput;
use tables::{curriculum_batch, members_batch, questionnaire_batch, settings_batch, work_batches};

/// The built-in indicator files, by name.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("activity", include_str!("../../sql/activity.sql")),
    ("assessment", include_str!("../../sql/assessment.sql")),
    ("objectives", include_str!("../../sql/objectives.sql")),
    ("submissions", include_str!("../../sql/submissions.sql")),
    ("attendance", include_str!("../../sql/attendance.sql")),
    ("wellbeing", include_str!("../../sql/wellbeing.sql")),
];

/// Key columns every indicator query selects.
pub const KEYS: [&str; 3] = ["window_start", "class_id", "entity"];

/// An indicator query could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The file is missing or unreadable.
    #[error(
        "cannot read indicator SQL {path}: {source}; check aggregate.sql_dir and aggregate.indicators"
    )]
    Read {
        /// File path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// No built-in query has this name and no folder was configured.
    #[error(
        "no built-in indicator SQL named `{0}` (built in: activity, assessment, objectives, submissions, attendance, wellbeing); set aggregate.sql_dir for your own files"
    )]
    Unknown(String),
    /// DataFusion refused or failed the query.
    #[error("indicator SQL `{name}`: {message}")]
    Query {
        /// File name without `.sql`.
        name: String,
        /// DataFusion's message.
        message: String,
    },
    /// The result lacks a key column or has an indicator that is not a number.
    #[error("indicator SQL `{name}`: {message}")]
    Shape {
        /// File name without `.sql`.
        name: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// Tunables a query may read from the one-row `settings` table (with the
/// run's `watermark`, see [`RunInput`]).
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Cap of one gap between events in active-time estimates, ms.
    pub session_gap_cap_ms: i64,
}

/// One indicator query.
#[derive(Clone, Debug)]
pub struct IndicatorSql {
    /// File name without `.sql`.
    pub name: String,
    /// The query.
    pub sql: String,
}

/// Loads the named queries from `dir`, or the built-in ones when `dir` is `None`.
pub fn load(dir: Option<&Path>, names: &[String]) -> Result<Vec<IndicatorSql>, SqlError> {
    names
        .iter()
        .map(|name| {
            let sql = match dir {
                Some(dir) => {
                    let path = dir.join(format!("{name}.sql"));
                    std::fs::read_to_string(&path).map_err(|source| SqlError::Read {
                        path: path.display().to_string(),
                        source,
                    })?
                }
                None => BUILT_IN
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, s)| s.to_string())
                    .ok_or_else(|| SqlError::Unknown(name.clone()))?,
            };
            Ok(IndicatorSql {
                name: name.clone(),
                sql,
            })
        })
        .collect()
}

/// Indicator values of one entity in one window, before suppression.
#[derive(Clone, Debug, PartialEq)]
pub struct Computed {
    /// Learner or class row.
    pub grain: Grain,
    /// Window start, UTC µs.
    pub window_start: i64,
    /// Class id (`None` for learner activity outside any class).
    pub class_id: Option<Arc<str>>,
    /// Learner pseudonym or class id.
    pub entity: Arc<str>,
    /// Indicator values by name.
    pub values: BTreeMap<String, Option<f64>>,
}

/// The indicator queries with a DataFusion session holding the reference tables.
pub struct Queries {
    files: Vec<IndicatorSql>,
    ctx: SessionContext,
    settings: Settings,
    /// Runs the queries; always `Some` until dropped.
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for Queries {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which tokio forbids inside async code
        // (where the stage and tests drop their operator); this does not.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for Queries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queries")
            .field("files", &self.files)
            .finish()
    }
}

impl Queries {
    /// Prepares the queries and checks each one over an empty `events`
    /// table, so a broken file stops the service at start with its name.
    pub fn new(
        files: Vec<IndicatorSql>,
        reference: &Reference,
        settings: Settings,
    ) -> Result<Queries, SqlError> {
        let config = SessionConfig::new()
            .with_target_partitions(1)
            .with_information_schema(false);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SqlError::Query {
                name: "runtime".into(),
                message: e.to_string(),
            })?;
        let q = Queries {
            files,
            ctx: SessionContext::new_with_config(config),
            rt: Some(rt),
            settings,
        };
        q.set_reference(reference)?;
        q.run(&RecordBatch::new_empty(schema()), &RunInput::default())?;
        Ok(q)
    }

    /// Replaces the `curriculum` and `questionnaire` tables.
    pub fn set_reference(&self, reference: &Reference) -> Result<(), SqlError> {
        self.register("curriculum", curriculum_batch(reference))?;
        self.register("questionnaire", questionnaire_batch(reference))
    }

    fn register(&self, name: &str, batch: RecordBatch) -> Result<(), SqlError> {
        self.register_sorted(name, batch, Vec::new())
    }

    /// Registers `batch` as table `name` whose rows are in `order` (empty:
    /// no known order), so plans can leave out sorts it already satisfies.
    fn register_sorted(
        &self,
        name: &str,
        batch: RecordBatch,
        order: Vec<SortExpr>,
    ) -> Result<(), SqlError> {
        let err = |e: datafusion::error::DataFusionError| SqlError::Query {
            name: name.into(),
            message: e.to_string(),
        };
        let mut table = MemTable::try_new(batch.schema(), vec![vec![batch]]).map_err(err)?;
        if !order.is_empty() {
            table = table.with_sort_order(vec![order]);
        }
        self.ctx.deregister_table(name).map_err(err)?;
        self.ctx
            .register_table(name, Arc::new(table))
            .map_err(err)?;
        Ok(())
    }

    /// Runs every query over a learner-grain table and its class and
    /// school grains, with the chunk's class lists and work in `input`.
    pub fn run(&self, learner: &RecordBatch, input: &RunInput) -> Result<Vec<Computed>, SqlError> {
        let arrow = |e: datafusion::arrow::error::ArrowError| SqlError::Query {
            name: "events".into(),
            message: e.to_string(),
        };
        self.register("settings", settings_batch(self.settings, input.watermark))?;
        let (assignments, submitted) = work_batches(&input.work);
        self.register("assignments", assignments)?;
        self.register("submitted", submitted)?;
        let grains = [
            (Grain::Learner, learner.clone()),
            (Grain::Class, class_grain(learner).map_err(arrow)?),
            (Grain::School, school_grain(learner).map_err(arrow)?),
        ];
        let mut rows: HashMap<RowKey, BTreeMap<String, Option<f64>>> = HashMap::new();
        for (grain, table) in grains {
            self.register_sorted("events", table, sort_order())?;
            self.register("members", members_batch(&input.members, grain))?;
            for file in &self.files {
                let batches = self.execute(file)?;
                for b in &batches {
                    collect(&file.name, grain, b, &mut rows)?;
                }
            }
        }
        let mut out: Vec<Computed> = rows
            .into_iter()
            .map(
                |((grain, window_start, class_id, entity), values)| Computed {
                    grain,
                    window_start,
                    class_id,
                    entity,
                    values,
                },
            )
            .collect();
        out.sort_by(|a, b| {
            (a.window_start, a.grain, &a.class_id, &a.entity).cmp(&(
                b.window_start,
                b.grain,
                &b.class_id,
                &b.entity,
            ))
        });
        Ok(out)
    }

    fn execute(&self, file: &IndicatorSql) -> Result<Vec<RecordBatch>, SqlError> {
        let query = async {
            let df = self.ctx.sql(&file.sql).await?;
            df.collect().await
        };
        // The stage loop is async but calls operators synchronously: run the
        // query on this DataFusion session's own runtime without blocking the caller's.
        let rt = self.rt.as_ref().expect("runtime present until drop");
        tokio::task::block_in_place(|| rt.block_on(query)).map_err(|e| SqlError::Query {
            name: file.name.clone(),
            message: e.to_string(),
        })
    }
}

fn shape(name: &str, message: String) -> SqlError {
    SqlError::Shape {
        name: name.into(),
        message,
    }
}

fn column<'a>(name: &str, b: &'a RecordBatch, col: &str) -> Result<&'a ArrayRef, SqlError> {
    b.column_by_name(col).ok_or_else(|| {
        shape(
            name,
            format!(
                "the result has no `{col}` column; select and group by {} (and name each indicator with AS)",
                KEYS.join(", ")
            ),
        )
    })
}

fn as_type(name: &str, col: &str, a: &ArrayRef, t: &DataType) -> Result<ArrayRef, SqlError> {
    cast(a, t).map_err(|e| {
        shape(
            name,
            format!(
                "column `{col}` ({}) is not usable as {t}: {e}",
                a.data_type()
            ),
        )
    })
}

fn collect(
    name: &str,
    grain: Grain,
    b: &RecordBatch,
    rows: &mut HashMap<RowKey, BTreeMap<String, Option<f64>>>,
) -> Result<(), SqlError> {
    let start = as_type(
        name,
        "window_start",
        column(name, b, "window_start")?,
        &DataType::Int64,
    )?;
    let class = as_type(
        name,
        "class_id",
        column(name, b, "class_id")?,
        &DataType::Utf8,
    )?;
    let entity = as_type(name, "entity", column(name, b, "entity")?, &DataType::Utf8)?;
    let start = start
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("cast to Int64");
    let class = class
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("cast to Utf8");
    let entity = entity
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("cast to Utf8");
    let schema = b.schema();
    let long = schema.column_with_name("indicator").is_some()
        && schema.column_with_name("value").is_some();
    let mut values: Vec<(String, Float64Array)> = Vec::new();
    let mut names: Option<StringArray> = None;
    if long {
        let n = as_type(
            name,
            "indicator",
            column(name, b, "indicator")?,
            &DataType::Utf8,
        )?;
        names = Some(
            n.as_any()
                .downcast_ref::<StringArray>()
                .expect("Utf8")
                .clone(),
        );
        let v = as_type(name, "value", column(name, b, "value")?, &DataType::Float64)?;
        values.push((
            "value".into(),
            v.as_any()
                .downcast_ref::<Float64Array>()
                .expect("f64")
                .clone(),
        ));
    } else {
        for (i, f) in schema.fields().iter().enumerate() {
            if KEYS.contains(&f.name().as_str()) {
                continue;
            }
            let v = as_type(name, f.name(), b.column(i), &DataType::Float64)?;
            values.push((
                f.name().clone(),
                v.as_any()
                    .downcast_ref::<Float64Array>()
                    .expect("f64")
                    .clone(),
            ));
        }
    }
    for row in 0..b.num_rows() {
        if start.is_null(row) || entity.is_null(row) {
            return Err(shape(
                name,
                "a row has a NULL window_start or entity; group by the key columns".into(),
            ));
        }
        let key = (
            grain,
            start.value(row),
            (!class.is_null(row)).then(|| Arc::from(class.value(row))),
            Arc::from(entity.value(row)),
        );
        let slot = rows.entry(key).or_default();
        for (col, v) in &values {
            let indicator = match &names {
                Some(n) if n.is_null(row) => continue,
                Some(n) => n.value(row).to_string(),
                None => col.clone(),
            };
            let value = (!v.is_null(row))
                .then(|| v.value(row))
                .filter(|x| x.is_finite());
            slot.insert(indicator, value);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use datafusion::physical_plan::displayable;

    use super::*;

    /// The physical plan of built-in query `name` over a registered table.
    fn plan(q: &Queries, name: &str) -> String {
        let file = q.files.iter().find(|f| f.name == name).expect("query");
        let query = async {
            let df = q.ctx.sql(&file.sql).await?;
            df.create_physical_plan().await
        };
        let rt = q.rt.as_ref().expect("runtime");
        let plan = rt.block_on(query).expect("plan");
        displayable(plan.as_ref()).indent(true).to_string()
    }

    #[test]
    fn activity_reads_the_events_in_their_declared_order_without_sorting() {
        let names: Vec<String> = BUILT_IN.iter().map(|(n, _)| n.to_string()).collect();
        let settings = Settings {
            session_gap_cap_ms: 600_000,
        };
        let q = Queries::new(load(None, &names).unwrap(), &Reference::default(), settings)
            .expect("queries");
        let events = || RecordBatch::new_empty(schema());
        // `run` leaves its last `events` table registered.
        q.run(&events(), &RunInput::default()).unwrap();
        let sorted = plan(&q, "activity");
        assert!(sorted.contains("BoundedWindowAggExec"), "{sorted}");
        assert!(!sorted.contains("SortExec"), "{sorted}");
        // Without the declared order the same query sorts: what the order saves.
        q.register("events", events()).unwrap();
        assert!(plan(&q, "activity").contains("SortExec"));
    }
}
