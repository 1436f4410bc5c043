//! The lake tables' Arrow schemas, and rows turned into record batches.
//!
//! Indicator rows go through serde into Arrow (`arrow-json`'s serde
//! decoder); events, many more, are built column by column from one list
//! that gives each column's field and values. Either way the lists here are
//! the only place that names the columns. A record field missing from them
//! would not be stored; a test checks that every field is listed
//! (`IndicatorRow::table_name` aside: it names the table), and another that
//! an event's columns hold what serde says the record holds.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use deltalake::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, ListBuilder, RecordBatch, StringArray,
    StringBuilder, TimestampMicrosecondArray,
};
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
        Field::new_list("flags", Field::new("element", flag.clone(), true), false),
        // Added after the first release: nullable, so that a lake written
        // before gains them as columns without rewriting its files.
        Field::new_list("cleared_flags", Field::new("element", flag, true), true),
        Field::new("newest_event_time", timestamp(), true),
    ]))
}

/// The columns of the event table, partition column first.
pub fn event_schema() -> SchemaRef {
    let mut fields = vec![text(EVENT_DATE, false)];
    fields.extend(EVENT_COLUMNS.iter().map(|(field, _)| field()));
    Arc::new(Schema::new(fields))
}

/// An event column: its field, and how to build it from a batch's events.
type EventColumn = (fn() -> Field, fn(&[Arc<EnrichedEvent>]) -> ArrayRef);

/// Every event column after the partition column, in schema order. Built
/// with Arrow's builders straight from the records: the serde route the
/// indicator tables take (through `arrow-json`'s tape) cost a fifth of the
/// sink's CPU when it caught up with a backlog of events.
const EVENT_COLUMNS: [EventColumn; 33] = [
    (
        || text("event_id", false),
        |r| strs(r, |e| Some(&e.event_id)),
    ),
    (
        || text("source", false),
        |r| strs(r, |e| Some(e.source.as_str())),
    ),
    (
        || text("spec_version", false),
        |r| strs(r, |e| Some(&e.spec_version)),
    ),
    (
        || time("event_time", false),
        |r| times(r, |e| Some(e.event_time)),
    ),
    (
        || time("stored_time", false),
        |r| times(r, |e| Some(e.stored_time)),
    ),
    (|| text("tenant", false), |r| strs(r, |e| Some(&e.tenant))),
    (
        || text("person_key", false),
        |r| strs(r, |e| Some(&e.person_key)),
    ),
    (
        || text("role", false),
        |r| strs(r, |e| Some(e.role.as_str())),
    ),
    (
        || text("school_id", true),
        |r| strs(r, |e| e.school_id.as_deref()),
    ),
    (
        || text("class_id", true),
        |r| strs(r, |e| e.class_id.as_deref()),
    ),
    (
        || text("course_id", true),
        |r| strs(r, |e| e.course_id.as_deref()),
    ),
    (
        || text("term_id", true),
        |r| strs(r, |e| e.term_id.as_deref()),
    ),
    (
        || text_list("subject_codes"),
        |r| lists(r, |e| &e.subject_codes),
    ),
    (|| text_list("grades"), |r| lists(r, |e| &e.grades)),
    (
        || text("action", false),
        |r| strs(r, |e| Some(e.action.as_str())),
    ),
    (|| text("verb", false), |r| strs(r, |e| Some(&e.verb))),
    (
        || text("object_id", false),
        |r| strs(r, |e| Some(&e.object_id)),
    ),
    (
        || text("object_type", true),
        |r| strs(r, |e| e.object_type.as_deref()),
    ),
    (
        || text("object_name", true),
        |r| strs(r, |e| e.object_name.as_deref()),
    ),
    (
        || number("score_scaled"),
        |r| numbers(r, |e| e.score_scaled),
    ),
    (|| number("score_raw"), |r| numbers(r, |e| e.score_raw)),
    (|| number("score_min"), |r| numbers(r, |e| e.score_min)),
    (|| number("score_max"), |r| numbers(r, |e| e.score_max)),
    (
        || Field::new("success", DataType::Boolean, true),
        |r| Arc::new(BooleanArray::from_iter(r.iter().map(|e| e.success))),
    ),
    (
        || Field::new("completion", DataType::Boolean, true),
        |r| Arc::new(BooleanArray::from_iter(r.iter().map(|e| e.completion))),
    ),
    (
        || Field::new("duration_ms", DataType::Int64, true),
        |r| Arc::new(Int64Array::from_iter(r.iter().map(|e| e.duration_ms))),
    ),
    (
        || number("response_value"),
        |r| numbers(r, |e| e.response_value),
    ),
    (
        || text("response_text", true),
        |r| strs(r, |e| e.response_text.as_deref()),
    ),
    (
        || text("registration", true),
        |r| strs(r, |e| e.registration.as_deref()),
    ),
    (
        || text("session_id", true),
        |r| strs(r, |e| e.session_id.as_deref()),
    ),
    (
        || text_list("objective_ids"),
        |r| lists(r, |e| &e.objective_ids),
    ),
    (|| time("due_time", true), |r| times(r, |e| e.due_time)),
    (|| text("voids", true), |r| strs(r, |e| e.voids.as_deref())),
];

fn time(name: &str, nullable: bool) -> Field {
    Field::new(name, timestamp(), nullable)
}

fn number(name: &str) -> Field {
    Field::new(name, DataType::Float64, true)
}

fn strs<'e>(
    rows: &'e [Arc<EnrichedEvent>],
    value: impl Fn(&'e EnrichedEvent) -> Option<&'e str>,
) -> ArrayRef {
    Arc::new(StringArray::from_iter(rows.iter().map(|e| value(e))))
}

fn times(rows: &[Arc<EnrichedEvent>], value: impl Fn(&EnrichedEvent) -> Option<i64>) -> ArrayRef {
    Arc::new(
        TimestampMicrosecondArray::from_iter(rows.iter().map(|e| value(e))).with_timezone("UTC"),
    )
}

fn numbers(rows: &[Arc<EnrichedEvent>], value: impl Fn(&EnrichedEvent) -> Option<f64>) -> ArrayRef {
    Arc::new(Float64Array::from_iter(rows.iter().map(|e| value(e))))
}

/// A `list<string>` column whose element field matches [`text_list`]'s.
fn lists(rows: &[Arc<EnrichedEvent>], value: impl Fn(&EnrichedEvent) -> &[String]) -> ArrayRef {
    let element = Field::new("element", DataType::Utf8, true);
    let mut column = ListBuilder::new(StringBuilder::new()).with_field(element);
    for e in rows {
        column.values().extend(value(e).iter().map(Some));
        column.append(true);
    }
    Arc::new(column.finish())
}

/// Indicator rows as one batch of [`indicator_schema`].
pub fn indicator_batch(rows: &[IndicatorRow]) -> Result<RecordBatch, ArrowError> {
    let dates = rows
        .iter()
        .map(|r| local_date(r.window_start, &r.time_zone));
    batch(indicator_schema(), rows, dates.collect())
}

/// Events as one batch of [`event_schema`].
pub fn event_batch(events: &[Arc<EnrichedEvent>]) -> Result<RecordBatch, ArrowError> {
    let dates = events.iter().map(|e| Some(local_date(e.event_time, "UTC")));
    let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from_iter(dates))];
    columns.extend(EVENT_COLUMNS.iter().map(|(_, build)| build(events)));
    RecordBatch::try_new(event_schema(), columns)
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
    use lap_schemas::{Action, Record, Role, SourceStandard};

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

    /// Two events between them fill every column and leave every nullable
    /// one empty: one with every optional field set (Caliper, a teacher, a
    /// voiding), one with none and empty lists.
    fn events() -> Vec<EnrichedEvent> {
        let full = EnrichedEvent {
            event_id: "urn:uuid:1".into(),
            source: SourceStandard::Caliper,
            spec_version: "1.2".into(),
            event_time: 1_788_732_000_123_456,
            stored_time: 1_788_732_001_000_000,
            tenant: "t1".into(),
            person_key: "p-1".into(),
            role: Role::Teacher,
            school_id: Some("s-1".into()),
            class_id: Some("c-1".into()),
            course_id: Some("co-1".into()),
            term_id: Some("te-1".into()),
            subject_codes: vec!["MATH".into(), "ART".into()],
            grades: vec!["07".into()],
            action: Action::Scored,
            verb: "Graded".into(),
            object_id: "https://lms.example/quiz/1".into(),
            object_type: Some("Assessment".into()),
            object_name: Some("Quiz \"1\" é".into()),
            score_scaled: Some(-0.5),
            score_raw: Some(8.0),
            score_min: Some(0.0),
            score_max: Some(20.0),
            success: Some(false),
            completion: Some(true),
            duration_ms: Some(61_000),
            response_value: Some(4.0),
            response_text: Some("agree".into()),
            registration: Some("r-1".into()),
            session_id: Some("se-1".into()),
            objective_ids: vec!["o-1".into(), "o-2".into(), "o-3".into()],
            due_time: Some(1_788_818_400_000_000),
            voids: Some("v-1".into()),
        };
        let bare = EnrichedEvent {
            event_id: "e-2".into(),
            source: SourceStandard::Xapi,
            role: Role::Learner,
            action: Action::Other,
            school_id: None,
            class_id: None,
            course_id: None,
            term_id: None,
            subject_codes: vec![],
            grades: vec![],
            object_type: None,
            object_name: None,
            score_scaled: None,
            score_raw: None,
            score_min: None,
            score_max: None,
            success: None,
            completion: None,
            duration_ms: None,
            response_value: None,
            response_text: None,
            registration: None,
            session_id: None,
            objective_ids: vec![],
            due_time: None,
            voids: None,
            ..full.clone()
        };
        vec![full, bare.clone(), bare]
    }

    #[test]
    fn event_columns_hold_what_serde_says_the_record_holds() {
        let events = events();
        let dates = events.iter().map(|e| local_date(e.event_time, "UTC"));
        let through_serde = batch(event_schema(), &events, dates.collect()).unwrap();
        let shared: Vec<_> = events.iter().cloned().map(Arc::new).collect();
        let built = event_batch(&shared).unwrap();
        assert_eq!(built, through_serde);
        assert!(built.columns().iter().any(|c| c.null_count() > 0));
    }

    #[test]
    fn dates_follow_the_zone() {
        // 2026-09-06T22:00Z is Monday in Berlin, still Sunday in UTC.
        let t = 1_788_732_000_000_000;
        assert_eq!(local_date(t, "Europe/Berlin"), "2026-09-07");
        assert_eq!(local_date(t, "UTC"), "2026-09-06");
    }
}
