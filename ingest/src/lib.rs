//! The ingest stage: raw xAPI statements and Caliper envelopes in, canonical
//! [`LearningEvent`](lap_schemas::LearningEvent)s and dead letters out.
//!
//! - [`xapi`] and [`caliper`] validate a record against its specification
//!   and normalise it, reporting every violated rule with a stable code and
//!   a JSON path ([`problem`]).
//! - [`read`] turns one raw message (a statement, an array of statements, an
//!   envelope) into per-record outcomes; [`Ingest`] is the transport-free
//!   [`Operator`](lap_runtime::stage::Operator) that produces events to
//!   `lap.events` and rejects to `lap.dlq`.
//! - [`http`] is the front door for LMSs that cannot write to Kafka: it
//!   validates, answers with the status codes each spec prescribes, and
//!   returns only once the record is durable in the raw topic.

pub mod caliper;
pub mod check;
pub mod dedupe;
pub mod http;
pub mod json;
pub mod metrics;
pub mod operator;
pub mod problem;
pub mod read;
pub mod time;
pub mod xapi;

pub use operator::{Ingest, IngestTopics};

use problem::{Path, Problems};

/// Kafka/HTTP header carrying the xAPI version of a raw statement message.
pub const XAPI_VERSION_HEADER: &str = "X-Experience-API-Version";
/// Kafka header naming the HTTP client a raw message came from.
pub const CLIENT_HEADER: &str = "lap-client-id";

/// The problem for input that is not acceptable JSON.
pub fn json_problem(e: &json::JsonError) -> Problems {
    let code = match e {
        json::JsonError::Syntax(_) => "json.syntax",
        json::JsonError::TooDeep(_) => "json.too_deep",
        json::JsonError::DuplicateKey(_) => "json.duplicate_key",
    };
    Problems::one(code, &Path::Root, e.to_string())
}
