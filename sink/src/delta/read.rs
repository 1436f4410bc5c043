//! Reading rows back from the lake: indicator rows, as `lap backfill`
//! compares what it recomputed with what is stored, and events, which it
//! recomputes from.

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::{DataType, SchemaRef};
use deltalake::datafusion::prelude::SessionContext;
use lap_schemas::{EnrichedEvent, IndicatorRow};
use serde::de::DeserializeOwned;

use super::schema::{EVENT_DATE, WINDOW_DATE, event_schema, indicator_schema};
use super::{EVENTS, Lake, STORE, open_existing};
use crate::select::Selection;
use crate::store::StoreError;

fn failed(action: &str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Write {
        store: STORE,
        action: action.to_string(),
        reason: reason.to_string(),
    }
}

/// Every column of `schema` but the partition column, timestamps as µs.
fn columns(schema: &SchemaRef, partition: &str) -> String {
    schema
        .fields()
        .iter()
        .filter(|f| f.name() != partition)
        .map(|f| match f.data_type() {
            DataType::Timestamp(..) => format!("CAST({0} AS BIGINT) AS {0}", f.name()),
            _ => f.name().clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `sql` over `table` of `lake` (registered as `t`) and reads each
/// result row as a `T`; nothing when the table has not been written.
async fn read<T: DeserializeOwned>(
    lake: &Lake,
    table: &str,
    sql: &str,
) -> Result<Vec<T>, StoreError> {
    let action = format!("read {table}");
    let Some(t) = open_existing(lake, table).await? else {
        return Ok(Vec::new());
    };
    let ctx = SessionContext::new();
    let provider = t.table_provider().await.map_err(|e| failed(&action, e))?;
    ctx.register_table("t", provider)
        .map_err(|e| failed(&action, e))?;
    let batches: Vec<RecordBatch> = ctx
        .sql(sql)
        .await
        .map_err(|e| failed(&action, e))?
        .collect()
        .await
        .map_err(|e| failed(&action, e))?;
    let mut writer = arrow_json::ArrayWriter::new(Vec::new());
    for b in &batches {
        writer.write(b).map_err(|e| failed(&action, e))?;
    }
    writer.finish().map_err(|e| failed(&action, e))?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&bytes).map_err(|e| failed(&action, e))
}

/// The rows of indicator table `table` that `selection` names.
pub async fn indicator_rows(
    lake: &Lake,
    table: &str,
    selection: &Selection,
) -> Result<Vec<IndicatorRow>, StoreError> {
    let sql = format!(
        "SELECT '{table}' AS table_name, {} FROM t WHERE {}",
        columns(&indicator_schema(), WINDOW_DATE),
        selection.sql_literal("CAST(window_start AS BIGINT)")
    );
    read(lake, table, &sql).await
}

/// The events that happened before `until` (UTC µs).
pub async fn events(lake: &Lake, until: i64) -> Result<Vec<EnrichedEvent>, StoreError> {
    let sql = format!(
        "SELECT {} FROM t WHERE CAST(event_time AS BIGINT) < {until}",
        columns(&event_schema(), EVENT_DATE)
    );
    read(lake, EVENTS, &sql).await
}
