//! Event rows into PostgreSQL: one binary `COPY` straight into `events`,
//! and only when that meets an id stored already, a `COPY` into a staging
//! table and an `INSERT … SELECT` that leaves the stored ids alone.
//!
//! `COPY` cannot skip rows already stored, and a stored id only comes with
//! a replay (a restart, a rebalance). So the `COPY` into `events` runs in
//! a savepoint: when it fails on the key it is rolled back, and the batch
//! is copied again into this connection's staging table (see
//! [`copy::staging`]), from which `INSERT … ON CONFLICT (tenant,
//! event_id) DO NOTHING` moves the new ids. Measured in `psql`, 400,000
//! events in batches of 20,000 with the migrations' indexes: the staging
//! route took 10.3-10.8 s with `ON CONFLICT` on every batch and 8.1 s
//! without (a speculative insertion costs the server for every row,
//! conflicting or not) on one machine; on another, 3.6-4.1 s through the
//! staging table against 3.4-3.6 s straight into `events`.

use std::sync::Arc;

use lap_schemas::records::EnrichedEvent;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Statement, Transaction};

use super::copy::{self, Column, Value};

/// The statements [`write`] runs, prepared once per connection.
pub(super) struct Statements {
    /// `COPY` of a batch straight into `events`.
    copy: Statement,
    /// `COPY` of a batch into the staging table.
    stage: Statement,
    /// Moves the staged rows whose ids are not stored yet into `events`.
    insert_new: Statement,
}

impl Statements {
    /// Creates the staging table on a freshly migrated `client` and
    /// prepares the statements.
    pub(super) async fn prepare(client: &Client) -> Result<Self, tokio_postgres::Error> {
        let staging = copy::staging(client, "events").await?;
        Ok(Statements {
            copy: client.prepare(&copy::statement("events", &COLUMNS)).await?,
            stage: client.prepare(&copy::statement(&staging, &COLUMNS)).await?,
            insert_new: client
                .prepare(&format!(
                    "INSERT INTO events SELECT * FROM {staging}
                     ON CONFLICT (tenant, event_id) DO NOTHING"
                ))
                .await?,
        })
    }
}

/// Writes `events` into `events` within `tx` (see the module's comment:
/// straight in, in a savepoint; through the staging table, skipping
/// stored ids, when that fails on the key); returns the number of rows
/// inserted.
pub(super) async fn write(
    tx: &mut Transaction<'_>,
    statements: &Statements,
    events: &[Arc<EnrichedEvent>],
) -> Result<u64, tokio_postgres::Error> {
    let attempt = tx.savepoint("lap_events_all").await?;
    match copy::rows(
        &attempt,
        &statements.copy,
        &COLUMNS,
        events.iter().map(Arc::as_ref),
    )
    .await
    {
        Ok(inserted) => {
            attempt.commit().await?;
            Ok(inserted)
        }
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            attempt.rollback().await?;
            copy::rows(
                tx,
                &statements.stage,
                &COLUMNS,
                events.iter().map(Arc::as_ref),
            )
            .await?;
            tx.execute(&statements.insert_new, &[]).await
        }
        Err(e) => Err(e),
    }
}

/// True when a text value `event` would be copied with holds U+0000,
/// which PostgreSQL refuses in `text`: such an event must be dead-lettered
/// before it reaches a write, or it would fail every retry of its batch.
/// Walks exactly the values [`write`] sends.
pub fn holds_nul(event: &EnrichedEvent) -> bool {
    COLUMNS.iter().any(|(_, _, value)| match value(event) {
        Value::Text(text) => text.is_some_and(|t| t.contains('\0')),
        Value::Texts(texts) => texts.iter().any(|t| t.contains('\0')),
        // JSON escapes U+0000, and `jsonb` refuses the escape.
        Value::Json(json) => json.as_ref().is_ok_and(|t| t.contains("\\u0000")),
        Value::Int(_) | Value::Int4(_) | Value::Float(_) | Value::Bool(_) | Value::Micros(_) => {
            false
        }
    })
}

/// Every column of `events`, with how each event fills it.
const COLUMNS: [Column<EnrichedEvent>; 33] = [
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

#[cfg(test)]
mod tests {
    use serde_json::{Value as Json, json};

    use super::*;

    /// An event with no optional field set: every text field the record
    /// has is then set in turn below.
    fn bare() -> Json {
        json!({
            "event_id": "e-1", "source": "xapi", "spec_version": "1.0.3",
            "event_time": 0, "stored_time": 0, "tenant": "t1", "person_key": "p1",
            "role": "learner", "school_id": null, "class_id": null, "course_id": null,
            "term_id": null, "subject_codes": [], "grades": [], "action": "scored",
            "verb": "v", "object_id": "o", "object_type": null, "object_name": null,
            "score_scaled": null, "score_raw": null, "score_min": null, "score_max": null,
            "success": null, "completion": null, "duration_ms": null,
            "response_value": null, "response_text": null, "registration": null,
            "session_id": null, "objective_ids": [], "due_time": null, "voids": null
        })
    }

    #[test]
    fn a_nul_in_any_text_field_is_found() {
        let event = |json: Json| serde_json::from_value::<EnrichedEvent>(json);
        let clean = event(bare()).expect("the bare event is an EnrichedEvent");
        assert!(!holds_nul(&clean));
        let mut found = Vec::new();
        for field in bare().as_object().unwrap().keys() {
            // A field that is no text (a number, a symbol) refuses both.
            for text in [json!("a\u{0}b"), json!(["ok", "a\u{0}b"])] {
                let mut json = bare();
                json[field] = text;
                if let Ok(e) = event(json) {
                    assert!(holds_nul(&e), "a NUL in {field} was not found");
                    found.push(field.clone());
                }
            }
        }
        // Every text field of the record, single and listed: a field added
        // to the record but not to `COLUMNS` fails above.
        assert_eq!(found.len(), 19, "{found:?}");
    }
}
