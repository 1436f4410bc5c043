//! From one raw message to per-record outcomes. Shared by the Kafka operator
//! and the HTTP front door so both apply exactly the same rules.

use lap_runtime::config::IngestConfig;

use crate::caliper::{self, Envelope};
use crate::json::{self, split_top_level};
use crate::problem::{Path, Problems};
use crate::xapi::{self, Statement};

/// One statement of an xAPI message: where it was, its bytes, its outcome.
#[derive(Debug)]
pub struct XapiRecord<'b> {
    /// Position in the message's array (0 for a single statement).
    pub index: usize,
    /// The statement's original bytes.
    pub bytes: &'b [u8],
    /// The normalised statement, or why it was rejected.
    pub outcome: Result<Statement, Problems>,
}

fn size_problem(len: usize, cfg: &IngestConfig) -> Option<Problems> {
    (len > cfg.max_message_bytes).then(|| {
        Problems::one(
            "input.too_large",
            &Path::Root,
            format!(
                "{len} bytes exceeds the limit of {} bytes (ingest.max_message_bytes)",
                cfg.max_message_bytes
            ),
        )
    })
}

/// Reads an xAPI message: one statement or a JSON array of them. `Err` means
/// the message as a whole is unusable (too large, not JSON, empty array);
/// otherwise each statement has its own outcome. `assign_id(i)` supplies the
/// id of statement `i` if it has none.
pub fn xapi_message<'b>(
    payload: &'b [u8],
    header_version: Option<&str>,
    cfg: &IngestConfig,
    stored_us: i64,
    assign_id: &dyn Fn(usize) -> String,
) -> Result<Vec<XapiRecord<'b>>, Problems> {
    if let Some(p) = size_problem(payload.len(), cfg) {
        return Err(p);
    }
    let parts = split_top_level(payload).map_err(|e| crate::json_problem(&e))?;
    if parts.is_empty() {
        return Err(Problems::one(
            "xapi.batch.empty",
            &Path::Root,
            "an empty array holds no statements",
        ));
    }
    if parts.len() > cfg.max_statements_per_message {
        return Err(Problems::one(
            "input.too_many",
            &Path::Root,
            format!(
                "{} statements exceed the limit of {} per message (ingest.max_statements_per_message)",
                parts.len(),
                cfg.max_statements_per_message
            ),
        ));
    }
    Ok(parts
        .into_iter()
        .enumerate()
        .map(|(index, bytes)| {
            let arena = json::Arena::for_input(bytes.len());
            let outcome = json::parse(bytes, cfg.max_depth, &arena)
                .map_err(|e| crate::json_problem(&e))
                .and_then(|tree| {
                    let id = assign_id(index);
                    let env = xapi::Envelope {
                        header_version,
                        default_version: &cfg.default_xapi_version,
                        stored_us,
                        assigned_id: &id,
                    };
                    xapi::parse_statement(&tree, &env)
                });
            XapiRecord {
                index,
                bytes,
                outcome,
            }
        })
        .collect())
}

/// Reads a Caliper envelope.
pub fn caliper_message<'b>(
    payload: &'b [u8],
    cfg: &IngestConfig,
    stored_us: i64,
) -> Result<Envelope<'b>, Problems> {
    if let Some(p) = size_problem(payload.len(), cfg) {
        return Err(p);
    }
    caliper::parse_envelope(payload, cfg.max_depth, stored_us)
}
