//! Binary `COPY` of records into PostgreSQL, shared by event and indicator
//! rows: a table's columns as (name, type, how a record fills it), and the
//! writer that streams records through them.
//!
//! Why binary `COPY`: the server stores the values as they are, where an
//! `INSERT` of a JSON document had it parse the document first, which took
//! it more time than the insert itself (20,000 events: 286 of ~480 ms).

use std::error::Error;

use bytes::{BufMut, BytesMut};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::{Client, Statement, Transaction};

/// A column: its name in the table, its type there, and how to read it
/// from a record `R`.
pub(super) type Column<R> = (&'static str, Type, for<'a> fn(&'a R) -> Value<'a>);

/// Creates this connection's staging table for `table` (migrated
/// already) and returns its name: temporary, so neither WAL-logged nor
/// shared, emptied at each commit, and `LIKE table`, so `SELECT *` from it
/// lines up with `table` column by column.
pub(super) async fn staging(client: &Client, table: &str) -> Result<String, tokio_postgres::Error> {
    client
        .batch_execute(&format!(
            "CREATE TEMP TABLE IF NOT EXISTS lap_{table}_in (LIKE {table}) ON COMMIT DELETE ROWS"
        ))
        .await?;
    Ok(format!("pg_temp.lap_{table}_in"))
}

/// The `COPY` of `columns` into `table`.
pub(super) fn statement<R>(table: &str, columns: &[Column<R>]) -> String {
    let names: Vec<&str> = columns.iter().map(|(name, _, _)| *name).collect();
    format!(
        "COPY {table} ({}) FROM STDIN (FORMAT binary)",
        names.join(", ")
    )
}

/// Streams `rows` through `copy` (a prepared [`statement`] of the same
/// `columns`); returns the number of rows copied.
pub(super) async fn rows<'r, R: 'r>(
    tx: &Transaction<'_>,
    copy: &Statement,
    columns: &[Column<R>],
    rows: impl IntoIterator<Item = &'r R>,
) -> Result<u64, tokio_postgres::Error> {
    let types: Vec<Type> = columns.iter().map(|(_, ty, _)| ty.clone()).collect();
    let writer = BinaryCopyInWriter::new(tx.copy_in(copy).await?, &types);
    let mut writer = std::pin::pin!(writer);
    let mut values = Vec::with_capacity(columns.len());
    for row in rows {
        values.clear();
        values.extend(columns.iter().map(|(_, _, value)| value(row)));
        writer.as_mut().write_raw(values.iter()).await?;
    }
    writer.finish().await
}

/// One field of a record, as `COPY` sends it. Each variant encodes through
/// the client's own checked encoding, so a variant in a column of another
/// type is an error, not bytes the server misreads.
#[derive(Debug)]
pub(super) enum Value<'a> {
    Text(Option<&'a str>),
    Texts(&'a [String]),
    Int(Option<i64>),
    Int4(Option<i32>),
    Float(Option<f64>),
    Bool(Option<bool>),
    /// µs since the Unix epoch, sent as a `timestamptz`.
    Micros(Option<i64>),
    /// A document serialised to JSON text, sent as `jsonb`.
    Json(serde_json::Result<String>),
}

/// µs from the Unix epoch to PostgreSQL's (2000-01-01 UTC), the origin of
/// its binary timestamps.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// The version byte that starts `jsonb`'s binary form (the JSON text follows).
const JSONB_VERSION: u8 = 1;

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
        let only = |expected: &Type, what: &str| {
            if ty == expected {
                Ok(())
            } else {
                Err(format!("{what} cannot be sent as {ty}"))
            }
        };
        match self {
            Value::Text(v) => v.to_sql_checked(ty, out),
            Value::Texts(v) => v.to_sql_checked(ty, out),
            Value::Int(v) => v.to_sql_checked(ty, out),
            Value::Int4(v) => v.to_sql_checked(ty, out),
            Value::Float(v) => v.to_sql_checked(ty, out),
            Value::Bool(v) => v.to_sql_checked(ty, out),
            Value::Micros(None) => Ok(IsNull::Yes),
            Value::Micros(Some(micros)) => {
                only(&Type::TIMESTAMPTZ, "a timestamp")?;
                let since_2000 = micros
                    .checked_sub(PG_EPOCH_MICROS)
                    .ok_or_else(|| format!("timestamp {micros} µs is out of range"))?;
                out.put_i64(since_2000);
                Ok(IsNull::No)
            }
            Value::Json(json) => {
                only(&Type::JSONB, "a JSON document")?;
                let text = json.as_ref().map_err(|e| e.to_string())?;
                out.put_u8(JSONB_VERSION);
                out.put_slice(text.as_bytes());
                Ok(IsNull::No)
            }
        }
    }
}
