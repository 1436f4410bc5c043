//! The data catalogue (`lap catalog`): every topic and table, its columns
//! with a description and a privacy class, its retention and where its data
//! comes from. Built from the Avro schemas (each field's `doc` and `privacy`
//! attributes), the lake tables' Arrow schemas and the config, so it cannot
//! drift from what the pipeline writes; a column without a description or
//! class is an error, not a gap in the document.

mod avro;
mod render;
mod views;

use lap_runtime::config::{Config, TopicSpec};
use lap_sink::delta::purge::{AUDIT_DIR, AUDIT_FILE};
use lap_sink::delta::schema::{EVENT_DATE, WINDOW_DATE, event_schema, indicator_schema};
use lap_sink::deltalake::arrow::datatypes::{DataType, Field};
use lap_sink::rows::INDICATOR_TABLES;
use serde::Serialize;

pub use render::markdown;

/// How identifying a column is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Privacy {
    /// Identifies a person as sent (names, emails, account names, free text):
    /// only in raw topics, dead letters and the roster.
    Personal,
    /// A keyed hash of a person: stable, not reversible without the key.
    Pseudonymous,
    /// Nothing about a person.
    None,
}

/// One column (or nested field, `parent.child`).
#[derive(Clone, Debug, Serialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Type as the schema states it.
    pub data_type: String,
    /// What it holds.
    pub description: String,
    /// How identifying it is.
    pub privacy: Privacy,
}

/// A topic or a table.
#[derive(Clone, Debug, Serialize)]
pub struct Dataset {
    /// Topic or table name.
    pub name: String,
    /// `topic`, `lake table` or `PostgreSQL table`.
    pub kind: &'static str,
    /// What it holds.
    pub description: String,
    /// Encoding or storage.
    pub format: String,
    /// How long data stays.
    pub retention: String,
    /// Which stage writes it from what, and who reads it.
    pub lineage: String,
    /// Where it is (broker topic, directory, schema.table).
    pub location: String,
    /// Its columns.
    pub columns: Vec<Column>,
}

/// The whole catalogue.
#[derive(Clone, Debug, Serialize)]
pub struct Catalog {
    /// Topics, then lake tables, then PostgreSQL tables, then the erasure
    /// audit logs.
    pub datasets: Vec<Dataset>,
}

/// Why no catalogue could be built.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A column lacks its description or privacy class.
    #[error(
        "{dataset}: column `{column}` has no {what}; add it to the schema (schemas/avro/*.avsc, or the lake schema in sink/src/delta/schema.rs)"
    )]
    Missing {
        /// Record or table.
        dataset: String,
        /// The column.
        column: String,
        /// What is missing.
        what: &'static str,
    },
    /// A schema is not valid JSON.
    #[error("schema {record}: {reason}")]
    Schema {
        /// The record.
        record: String,
        /// The parser's message.
        reason: String,
    },
}

fn record_columns(record: &str) -> Result<Vec<Column>, CatalogError> {
    let (_, text) = lap_schemas::AVRO_SCHEMAS
        .iter()
        .find(|(r, _)| *r == record)
        .expect("a record lap defines");
    avro::columns(record, text)
}

fn retention(t: &TopicSpec) -> String {
    match (t.compact, t.retention_ms) {
        (true, _) => "compacted: the latest record per key, kept".into(),
        (false, ms) if ms < 0 => "kept forever".into(),
        (false, ms) if ms % 86_400_000 == 0 => format!("{} days", ms / 86_400_000),
        (false, ms) => format!("{} hours", ms / 3_600_000),
    }
}

/// One column holding a whole JSON message, for topics without a schema.
fn json_value(description: &str, privacy: Privacy) -> Vec<Column> {
    vec![Column {
        name: "value".into(),
        data_type: "JSON".into(),
        description: description.into(),
        privacy,
    }]
}

/// Table columns from an Arrow schema, described by the record they store
/// (`record`'s Avro docs; struct children as `parent.child`), plus the
/// partition column.
fn table_columns(
    table: &str,
    fields: &[&Field],
    record: &[Column],
    partition: (&str, &str),
    prefix: &str,
    type_name: &dyn Fn(&DataType) -> String,
) -> Result<Vec<Column>, CatalogError> {
    let mut out = Vec::new();
    for f in fields {
        let name = format!("{prefix}{}", f.name());
        let column =
            if name == partition.0 {
                Column {
                    name: name.clone(),
                    data_type: "string (date)".into(),
                    description: partition.1.into(),
                    privacy: Privacy::None,
                }
            } else {
                let from = record.iter().find(|c| c.name == name).ok_or_else(|| {
                    CatalogError::Missing {
                        dataset: table.into(),
                        column: name.clone(),
                        what: "description: no field of its record has that name",
                    }
                })?;
                Column {
                    data_type: type_name(f.data_type()),
                    ..from.clone()
                }
            };
        out.push(column);
        let children: Vec<&Field> = match f.data_type() {
            DataType::List(item) => match item.data_type() {
                DataType::Struct(fs) => fs.iter().map(|f| f.as_ref()).collect(),
                _ => Vec::new(),
            },
            DataType::Struct(fs) => fs.iter().map(|f| f.as_ref()).collect(),
            _ => Vec::new(),
        };
        let prefix = format!("{name}.");
        out.extend(table_columns(
            table, &children, record, partition, &prefix, type_name,
        )?);
    }
    Ok(out)
}

/// The lake's column type, as Arrow names it.
fn arrow_type(t: &DataType) -> String {
    t.to_string()
}

/// The PostgreSQL column type of a lake column (sink/migrations): nested
/// values are `jsonb`, lists of text `text[]`.
fn pg_type(t: &DataType) -> String {
    match t {
        DataType::Timestamp(..) => "timestamptz",
        DataType::Utf8 => "text",
        DataType::Int64 => "bigint",
        DataType::Int32 => "integer",
        DataType::Boolean => "boolean",
        DataType::Float64 => "double precision",
        DataType::List(item) if item.data_type() == &DataType::Utf8 => "text[]",
        _ => "jsonb",
    }
    .into()
}

/// Builds the catalogue for `cfg`.
pub fn build(cfg: &Config) -> Result<Catalog, CatalogError> {
    let t = &cfg.topics;
    let raw = "The message as the platform sent it (statement, array or envelope); holds actor identifiers, names and free text.";
    let topic = |spec: &TopicSpec, format: &str, lineage: &str, columns: Vec<Column>| Dataset {
        name: spec.name.clone(),
        kind: "topic",
        description: spec.description.clone(),
        format: format.into(),
        retention: retention(spec),
        lineage: lineage.into(),
        location: format!(
            "Kafka topic {} on {}",
            spec.name, cfg.kafka.bootstrap_servers
        ),
        columns,
    };
    let mut datasets = vec![
        topic(
            &t.raw_xapi,
            "JSON",
            "written by LMSs (or ingest's HTTP front door); read by ingest",
            json_value(raw, Privacy::Personal),
        ),
        topic(
            &t.raw_caliper,
            "JSON",
            "written by LMSs (or ingest's HTTP front door); read by ingest",
            json_value(raw, Privacy::Personal),
        ),
        topic(
            &t.events,
            "Avro LearningEvent, keyed by actor identifier",
            "written by ingest from the raw topics; read by enrich",
            record_columns("LearningEvent")?,
        ),
        topic(
            &t.dlq,
            "Avro DeadLetter",
            "written by every stage for input it cannot use; read by operators",
            record_columns("DeadLetter")?,
        ),
        topic(
            &t.roster,
            "Avro RosterRecord, keyed tenant/entity/sourcedId",
            "written by lap roster load from OneRoster exports; read by enrich and aggregate",
            record_columns("RosterRecord")?,
        ),
        topic(
            &t.enriched,
            "Avro EnrichedEvent, keyed by school (else class, else learner pseudonym)",
            "written by enrich from lap.events and lap.roster; read by aggregate and sink",
            record_columns("EnrichedEvent")?,
        ),
        topic(
            &t.unmatched,
            "Avro DeadLetter",
            "written by enrich for events no roster record matched; read by operators",
            record_columns("DeadLetter")?,
        ),
        topic(
            &t.late,
            "Avro EnrichedEvent",
            "written by aggregate for events after their week was final; read by lap backfill",
            record_columns("EnrichedEvent")?,
        ),
        topic(
            &t.indicators,
            "Avro IndicatorRow",
            "written by aggregate from lap.enriched; read by sink",
            record_columns("IndicatorRow")?,
        ),
        topic(
            &t.aggregate_state,
            "'<owner epoch> <JSON>', partition n for lap.enriched partition n, keyed task, learner:<key> or class:<id>",
            "written by aggregate after each finalisation and when it takes a partition over; read back by the partition's next owner",
            json_value(
                "The partition's owner epoch, finalised watermark and input offset read; per-learner history of final windows (values, window) and per-class history (active days, each learner's attendance on recent school days, assignments still due and their first submissions); learners by pseudonym.",
                Privacy::Pseudonymous,
            ),
        ),
    ];
    let indicator = record_columns("IndicatorRow")?;
    let event = record_columns("EnrichedEvent")?;
    let indicator_fields = indicator_schema();
    let event_fields = event_schema();
    let date_of_window = "Local date of the window's start in its time zone; the partition column.";
    let date_of_event = "UTC date of event_time; the partition column.";
    let kept = |name: &str| match cfg.sink.retention.days(name) {
        Some(days) => format!(
            "{days} days after the {} (sink.retention.{name}_days, applied by lap retention apply); a learner's rows are removed earlier by lap erase",
            if name == "events" {
                "event"
            } else {
                "window ends"
            }
        ),
        None => format!(
            "kept until erased (sink.retention.{name}_days = -1); lap erase removes a learner's rows"
        ),
    };
    let mut tables = Vec::new();
    for name in INDICATOR_TABLES {
        let fields: Vec<&Field> = indicator_fields
            .fields()
            .iter()
            .map(|f| f.as_ref())
            .collect();
        tables.push((
            name,
            format!("Indicator rows of {name}: one per (window_start, entity_id, class_id), the highest revision."),
            format!("sink (or lap run) from {} rows with table_name = {name}, MERGE by key keeping the highest revision", t.indicators.name),
            fields.clone(),
            &indicator,
            (WINDOW_DATE, date_of_window),
        ));
    }
    let fields: Vec<&Field> = event_fields.fields().iter().map(|f| f.as_ref()).collect();
    tables.push((
        "events",
        "Event-level rows: every enriched event once (by event_id).".into(),
        format!(
            "sink (or lap run) from {}, insert-only by event_id (sink.events = true)",
            t.enriched.name
        ),
        fields,
        &event,
        (EVENT_DATE, date_of_event),
    ));
    for (name, description, lineage, fields, record, partition) in &tables {
        if cfg.sink.lake.enabled {
            datasets.push(Dataset {
                name: name.to_string(),
                kind: "lake table",
                description: description.clone(),
                format: "Delta Lake (Parquet), partitioned by its date column".into(),
                retention: kept(name),
                lineage: lineage.clone(),
                location: format!("{}/{name}", cfg.sink.lake.path),
                columns: table_columns(name, fields, record, *partition, "", &arrow_type)?,
            });
        }
        if cfg.sink.postgres.enabled {
            datasets.push(Dataset {
                name: format!("{}.{name}", cfg.sink.postgres.schema),
                kind: "PostgreSQL table",
                description: description.clone(),
                format: "PostgreSQL table (migrations in sink/migrations)".into(),
                retention: kept(name),
                lineage: lineage.clone(),
                location: format!(
                    "schema {} of the sink.postgres database",
                    cfg.sink.postgres.schema
                ),
                columns: table_columns(name, fields, record, *partition, "", &pg_type)?
                    .into_iter()
                    // Nested values live inside jsonb columns.
                    .filter(|c| c.name != partition.0 && !c.name.contains('.'))
                    .collect(),
            });
        }
    }
    datasets.extend(erasure_audit(cfg));
    datasets.extend(views::datasets(cfg));
    Ok(Catalog { datasets })
}

/// The erasure audit log in each store (`lap erase`): no personal data.
fn erasure_audit(cfg: &Config) -> Vec<Dataset> {
    let column = |name: &str, data_type: &str, description: &str| Column {
        name: name.into(),
        data_type: data_type.into(),
        description: description.into(),
        privacy: Privacy::None,
    };
    // (name, PostgreSQL type, JSON type in the lake file, description)
    let fields = [
        ("erasure_id", "uuid", "string", "Random id of the erasure."),
        (
            "erased_at",
            "timestamptz",
            "string (RFC 3339)",
            "When lap erase ran.",
        ),
        ("tenant", "text", "string", "School authority."),
        (
            "reference",
            "text",
            "string",
            "The request's reference given by the operator (a ticket number, never a name).",
        ),
        (
            "resolved_by",
            "text",
            "string",
            "How the learner was found: roster sourcedId, roster identity, or sourcedId (not in the roster).",
        ),
        (
            "rows_deleted",
            "jsonb",
            "object",
            "Rows deleted per store and table.",
        ),
        (
            "tombstones",
            "jsonb",
            "object",
            "Tombstones published per topic; under `<topic> rewritten`, the class histories republished there without the learner.",
        ),
    ];
    let audit = |name: String, kind, format: &str, location: String| {
        Dataset {
        name,
        kind,
        description: "One record per lap erase: what was deleted where; holds no identifier and no pseudonym.".into(),
        format: format.into(),
        retention: "kept (proof of erasure)".into(),
        lineage: "written by lap erase after the deletions".into(),
        location,
        columns: fields
            .iter()
            .map(|(name, pg, json, description)| {
                column(name, if kind == "lake file" { json } else { pg }, description)
            })
            .collect(),
    }
    };
    let mut out = Vec::new();
    if cfg.sink.lake.enabled {
        out.push(audit(
            "erasures".into(),
            "lake file",
            "NDJSON, one record per line",
            format!("{}/{AUDIT_DIR}/{AUDIT_FILE}", cfg.sink.lake.path),
        ));
    }
    if cfg.sink.postgres.enabled {
        let schema = &cfg.sink.postgres.schema;
        out.push(audit(
            format!("{schema}.erasures"),
            "PostgreSQL table",
            "PostgreSQL table (migration 0003_erasures.sql)",
            format!("schema {schema} of the sink.postgres database"),
        ));
    }
    out
}
