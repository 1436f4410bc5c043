//! Reading indicator rows back from PostgreSQL, as `lap backfill` compares
//! what it recomputed with what is stored.

use lap_schemas::{EntityKind, IndicatorRow, WindowKind};
use tokio_postgres::Row;

use super::{PgStore, failed};
use crate::select::Selection;
use crate::store::StoreError;

/// The columns read, in [`row`]'s order.
const COLUMNS: &str = "(extract(epoch FROM window_start) * 1000000)::bigint, \
    (extract(epoch FROM window_end) * 1000000)::bigint, window_kind, time_zone, entity_kind, \
    entity_id, class_id, school_id, revision, is_final, \
    (extract(epoch FROM emitted_time) * 1000000)::bigint, contributors, suppressed, \
    indicators::text, flags::text, cleared_flags::text, \
    (extract(epoch FROM newest_event_time) * 1000000)::bigint";

fn json<T: serde::de::DeserializeOwned>(r: &Row, i: usize) -> Result<T, String> {
    serde_json::from_str(r.get::<_, &str>(i)).map_err(|e| format!("column {i}: {e}"))
}

fn row(table: &str, r: &Row) -> Result<IndicatorRow, String> {
    let window_kind = match r.get::<_, &str>(2) {
        "weekly" => WindowKind::Weekly,
        _ => WindowKind::Daily,
    };
    let entity_kind = match r.get::<_, &str>(4) {
        "class" => EntityKind::Class,
        "school" => EntityKind::School,
        _ => EntityKind::Learner,
    };
    Ok(IndicatorRow {
        table_name: table.to_string(),
        window_kind,
        window_start: r.get(0),
        window_end: r.get(1),
        time_zone: r.get(3),
        entity_kind,
        entity_id: r.get(5),
        class_id: r.get(6),
        school_id: r.get(7),
        revision: r.get(8),
        is_final: r.get(9),
        emitted_time: r.get(10),
        contributors: r.get(11),
        suppressed: r.get(12),
        indicators: json(r, 13)?,
        flags: json(r, 14)?,
        cleared_flags: json(r, 15)?,
        newest_event_time: r.get(16),
    })
}

impl PgStore {
    /// The rows of `table` (one of the indicator tables) that `selection`
    /// names, in no particular order (an `ORDER BY` would tempt the planner
    /// into walking the key index). A condition whose parameter is NULL holds for every row, so
    /// one statement serves every selection; PostgreSQL plans an unnamed
    /// statement with its values, so the indexes on class and entity are
    /// used.
    pub async fn indicator_rows(
        &mut self,
        table: &'static str,
        selection: &Selection,
    ) -> Result<Vec<IndicatorRow>, StoreError> {
        let conn = self.connection().await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM {table} WHERE window_start >= micros_to_timestamptz($1) \
             AND window_start < micros_to_timestamptz($2) \
             AND ($3::text IS NULL OR class_id = $3) AND ($4::text IS NULL OR school_id = $4) \
             AND ($5::text[] IS NULL OR entity_id = ANY($5))"
        );
        let action = format!("read {table}");
        let rows = conn
            .client
            .query(
                &sql,
                &[
                    &selection.since,
                    &selection.until,
                    &selection.class,
                    &selection.school,
                    &selection.entities,
                ],
            )
            .await
            .map_err(failed(action.clone()))?;
        rows.iter()
            .map(|r| row(table, r))
            .collect::<Result<_, _>>()
            .map_err(|reason| StoreError::Write {
                store: "postgres",
                action,
                reason,
            })
    }
}
