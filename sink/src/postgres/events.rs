//! Event rows into PostgreSQL: a binary `COPY` into a staging table, then
//! one `INSERT … SELECT … ON CONFLICT DO NOTHING` into `events`.
//!
//! Why not one `INSERT` of a JSON document, as the indicator tables do:
//! event rows are most of the volume, and the server spent more time
//! parsing the JSON than inserting (20,000 events: 286 of ~480 ms), while
//! binary `COPY` hands it values it stores as they are. `COPY` alone cannot
//! skip rows already stored (a replay after a restart), hence the staging
//! table: a temporary one per connection, so neither WAL-logged nor shared,
//! emptied at each commit. It is created `LIKE events` after the
//! migrations, so `SELECT *` lines up with `events` column by column.

use std::error::Error;

use bytes::{BufMut, BytesMut};
use lap_schemas::records::EnrichedEvent;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::{Statement, Transaction};

/// Creates this connection's staging table (run after the migrations).
pub(super) const CREATE_STAGING: &str =
    "CREATE TEMP TABLE lap_events_in (LIKE events) ON COMMIT DELETE ROWS";

/// Moves the staged rows into `events`, leaving ids already stored alone.
pub(super) const INSERT_STAGED: &str = "INSERT INTO events SELECT * FROM pg_temp.lap_events_in
    ON CONFLICT (tenant, event_id) DO NOTHING";

/// The `COPY` of every column this build writes into the staging table.
pub(super) fn copy_statement() -> String {
    let names: Vec<&str> = COLUMNS.iter().map(|(name, _, _)| *name).collect();
    format!(
        "COPY pg_temp.lap_events_in ({}) FROM STDIN (FORMAT binary)",
        names.join(", ")
    )
}

/// Streams `events` into the staging table through `copy` (a prepared
/// [`copy_statement`]); returns the number of rows staged.
pub(super) async fn stage(
    tx: &Transaction<'_>,
    copy: &Statement,
    events: &[EnrichedEvent],
) -> Result<u64, tokio_postgres::Error> {
    let types: Vec<Type> = COLUMNS.iter().map(|(_, ty, _)| ty.clone()).collect();
    let writer = BinaryCopyInWriter::new(tx.copy_in(copy).await?, &types);
    let mut writer = std::pin::pin!(writer);
    for e in events {
        let values: [Value<'_>; COLUMNS.len()] = std::array::from_fn(|i| (COLUMNS[i].2)(e));
        writer.as_mut().write_raw(values.iter()).await?;
    }
    writer.finish().await
}

/// A column: its name in `events`, its type there, and how to read it from
/// an event.
type Column = (
    &'static str,
    Type,
    for<'a> fn(&'a EnrichedEvent) -> Value<'a>,
);

/// Every column of `events`, with how each event fills it.
const COLUMNS: [Column; 33] = [
    ("tenant", Type::TEXT, |e| Value::Text(Some(&e.tenant))),
    ("event_id", Type::TEXT, |e| Value::Text(Some(&e.event_id))),
    ("source", Type::TEXT, |e| {
        Value::Text(Some(e.source.as_str()))
    }),
    ("spec_version", Type::TEXT, |e| {
        Value::Text(Some(&e.spec_version))
    }),
    ("event_time", Type::TIMESTAMPTZ, |e| {
        Value::Micros(Some(e.event_time))
    }),
    ("stored_time", Type::TIMESTAMPTZ, |e| {
        Value::Micros(Some(e.stored_time))
    }),
    ("person_key", Type::TEXT, |e| {
        Value::Text(Some(&e.person_key))
    }),
    ("role", Type::TEXT, |e| Value::Text(Some(e.role.as_str()))),
    ("school_id", Type::TEXT, |e| {
        Value::Text(e.school_id.as_deref())
    }),
    ("class_id", Type::TEXT, |e| {
        Value::Text(e.class_id.as_deref())
    }),
    ("course_id", Type::TEXT, |e| {
        Value::Text(e.course_id.as_deref())
    }),
    ("term_id", Type::TEXT, |e| Value::Text(e.term_id.as_deref())),
    ("subject_codes", Type::TEXT_ARRAY, |e| {
        Value::Texts(&e.subject_codes)
    }),
    ("grades", Type::TEXT_ARRAY, |e| Value::Texts(&e.grades)),
    ("action", Type::TEXT, |e| {
        Value::Text(Some(e.action.as_str()))
    }),
    ("verb", Type::TEXT, |e| Value::Text(Some(&e.verb))),
    ("object_id", Type::TEXT, |e| Value::Text(Some(&e.object_id))),
    ("object_type", Type::TEXT, |e| {
        Value::Text(e.object_type.as_deref())
    }),
    ("object_name", Type::TEXT, |e| {
        Value::Text(e.object_name.as_deref())
    }),
    ("score_scaled", Type::FLOAT8, |e| {
        Value::Float(e.score_scaled)
    }),
    ("score_raw", Type::FLOAT8, |e| Value::Float(e.score_raw)),
    ("score_min", Type::FLOAT8, |e| Value::Float(e.score_min)),
    ("score_max", Type::FLOAT8, |e| Value::Float(e.score_max)),
    ("success", Type::BOOL, |e| Value::Bool(e.success)),
    ("completion", Type::BOOL, |e| Value::Bool(e.completion)),
    ("duration_ms", Type::INT8, |e| Value::Int(e.duration_ms)),
    ("response_value", Type::FLOAT8, |e| {
        Value::Float(e.response_value)
    }),
    ("response_text", Type::TEXT, |e| {
        Value::Text(e.response_text.as_deref())
    }),
    ("registration", Type::TEXT, |e| {
        Value::Text(e.registration.as_deref())
    }),
    ("session_id", Type::TEXT, |e| {
        Value::Text(e.session_id.as_deref())
    }),
    ("objective_ids", Type::TEXT_ARRAY, |e| {
        Value::Texts(&e.objective_ids)
    }),
    ("due_time", Type::TIMESTAMPTZ, |e| Value::Micros(e.due_time)),
    ("voids", Type::TEXT, |e| Value::Text(e.voids.as_deref())),
];

/// One field of an event, as COPY sends it. Each variant encodes through
/// the client's own checked encoding, so a variant in a column of another
/// type is an error, not bytes the server misreads.
#[derive(Debug)]
enum Value<'a> {
    Text(Option<&'a str>),
    Texts(&'a [String]),
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
    /// µs since the Unix epoch, sent as a `timestamptz`.
    Micros(Option<i64>),
}

/// µs from the Unix epoch to PostgreSQL's (2000-01-01 UTC), the origin of
/// its binary timestamps.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

impl ToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        self.to_sql_checked(ty, out)
    }

    fn accepts(_: &Type) -> bool {
        // Checked per variant in `to_sql_checked`.
        true
    }

    fn to_sql_checked(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match *self {
            Value::Text(v) => v.to_sql_checked(ty, out),
            Value::Texts(v) => v.to_sql_checked(ty, out),
            Value::Int(v) => v.to_sql_checked(ty, out),
            Value::Float(v) => v.to_sql_checked(ty, out),
            Value::Bool(v) => v.to_sql_checked(ty, out),
            Value::Micros(None) => Ok(IsNull::Yes),
            Value::Micros(Some(_)) if *ty != Type::TIMESTAMPTZ => {
                Err(format!("a timestamp cannot be sent as {ty}").into())
            }
            Value::Micros(Some(micros)) => {
                let since_2000 = micros
                    .checked_sub(PG_EPOCH_MICROS)
                    .ok_or_else(|| format!("timestamp {micros} µs is out of range"))?;
                out.put_i64(since_2000);
                Ok(IsNull::No)
            }
        }
    }
}
