//! The lake tables' Arrow schemas, and rows turned into record batches.
//!
//! Rows go through serde into Arrow (`arrow-json`'s serde decoder), so the
//! column lists here are the only place that names the columns. A record
//! field missing from them would not be stored; a test checks that every
//! field is listed (`IndicatorRow::table_name` aside: it names the table).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use deltalake::arrow::array::{ArrayRef, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use deltalake::arrow::error::ArrowError;
use lap_schemas::{EnrichedEvent, IndicatorRow};
use serde::Serialize;

/// Partition column of the indicator tables: the window's local date.
pub const WINDOW_DATE: &str = "window_date";
/// Partition column of the event table: the event's UTC date.
pub const EVENT_DATE: &str = "event_date";

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn text(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

/// `map<string, double>` with the child names Delta uses.
fn number_map(name: &str) -> Field {
    Field::new_map(
        name,
        "key_value",
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Float64, true),
        false,
        false,
    )
}

fn text_list(name: &str) -> Field {
    Field::new_list(name, Field::new("element", DataType::Utf8, true), false)
}

/// The columns of every indicator table, partition column first.
pub fn indicator_schema() -> SchemaRef {
    let flag = DataType::Struct(Fields::from(vec![
        text("code", false),
        text("reason", false),
        number_map("evidence"),
    ]));
    Arc::new(Schema::new(vec![
        text(WINDOW_DATE, false),
        text("window_kind", false),
        Field::new("window_start", timestamp(), false),
        Field::new("window_end", timestamp(), false),
        text("time_zone", false),
        text("entity_kind", false),
        text("entity_id", false),
        text("class_id", true),
        text("school_id", true),
        Field::new("revision", DataType::Int64, false),
        Field::new("is_final", DataType::Boolean, false),
        Field::new("emitted_time", timestamp(), false),
        Field::new("contributors", DataType::Int32, false),
        Field::new("suppressed", DataType::Boolean, false),
        number_map("indicators"),
        Field::new_list("flags", Field::new("element", flag, true), false),
    ]))
}

/// The columns of the event table, partition column first.
pub fn event_schema() -> SchemaRef {
    let f64n = |n: &str| Field::new(n, DataType::Float64, true);
    Arc::new(Schema::new(vec![
        text(EVENT_DATE, false),
        text("event_id", false),
        text("source", false),
        text("spec_version", false),
        Field::new("event_time", timestamp(), false),
        Field::new("stored_time", timestamp(), false),
        text("tenant", false),
        text("person_key", false),
        text("role", false),
        text("school_id", true),
        text("class_id", true),
        text("course_id", true),
        text("term_id", true),
        text_list("subject_codes"),
        text_list("grades"),
        text("action", false),
        text("verb", false),
        text("object_id", false),
        text("object_type", true),
        text("object_name", true),
        f64n("score_scaled"),
        f64n("score_raw"),
        f64n("score_min"),
        f64n("score_max"),
        Field::new("success", DataType::Boolean, true),
        Field::new("completion", DataType::Boolean, true),
        Field::new("duration_ms", DataType::Int64, true),
        f64n("response_value"),
        text("response_text", true),
        text("registration", true),
        text("session_id", true),
        text_list("objective_ids"),
        Field::new("due_time", timestamp(), true),
        text("voids", true),
    ]))
}

/// Indicator rows as one batch of [`indicator_schema`].
pub fn indicator_batch(rows: &[IndicatorRow]) -> Result<RecordBatch, ArrowError> {
    let dates = rows
        .iter()
        .map(|r| local_date(r.window_start, &r.time_zone));
    batch(indicator_schema(), rows, dates.collect())
}

/// Events as one batch of [`event_schema`].
pub fn event_batch(events: &[EnrichedEvent]) -> Result<RecordBatch, ArrowError> {
    let dates = events.iter().map(|e| local_date(e.event_time, "UTC"));
    batch(event_schema(), events, dates.collect())
}

/// Serialises `rows` into every column but the first, which is `partition`.
fn batch<S: Serialize>(
    schema: SchemaRef,
    rows: &[S],
    partition: Vec<String>,
) -> Result<RecordBatch, ArrowError> {
    let body = Arc::new(Schema::new(schema.fields()[1..].to_vec()));
    let mut decoder = arrow_json::ReaderBuilder::new(body)
        .with_batch_size(rows.len().max(1))
        .build_decoder()?;
    decoder.serialize(rows)?;
    let Some(decoded) = decoder.flush()? else {
        return Ok(RecordBatch::new_empty(schema));
    };
    let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from(partition))];
    columns.extend(decoded.columns().iter().cloned());
    RecordBatch::try_new(schema, columns)
}

/// `YYYY-MM-DD` of a µs instant in the IANA zone `tz` (UTC if unknown:
/// aggregate only writes zones it could parse).
fn local_date(micros: i64, tz: &str) -> String {
    let utc = DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or_default();
    match tz.parse::<Tz>() {
        Ok(zone) => utc.with_timezone(&zone).date_naive().to_string(),
        Err(_) => utc.date_naive().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use lap_schemas::Record;

    use super::*;

    /// Top-level field names of a record's current Avro schema.
    fn avro_fields<R: Record>() -> Vec<String> {
        let canonical = R::schemas().current().canonical_form();
        let json: serde_json::Value = serde_json::from_str(&canonical).unwrap();
        json["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect()
    }

    fn columns(schema: SchemaRef) -> Vec<String> {
        schema.fields()[1..]
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    #[test]
    fn every_record_field_is_a_lake_column_in_schema_order() {
        let mut indicator = avro_fields::<IndicatorRow>();
        indicator.retain(|f| f != "table_name");
        assert_eq!(columns(indicator_schema()), indicator);
        assert_eq!(columns(event_schema()), avro_fields::<EnrichedEvent>());
    }

    #[test]
    fn dates_follow_the_zone() {
        // 2026-09-06T22:00Z is Monday in Berlin, still Sunday in UTC.
        let t = 1_788_732_000_000_000;
        assert_eq!(local_date(t, "Europe/Berlin"), "2026-09-07");
        assert_eq!(local_date(t, "UTC"), "2026-09-06");
    }
}
