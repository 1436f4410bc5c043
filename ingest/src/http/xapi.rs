//! The xAPI statements resource: POST (one statement or an array, all or
//! nothing) and PUT (one statement with the id from the query string), and
//! the about resource.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use lap_runtime::transport::RecordSink;
use serde::Deserialize;
use serde_json::json;

use super::{
    HttpState, Scope, authenticate, dead_letter_request, error, observe, produce, read_body,
};
use crate::dedupe::{Seen, uuid_key};
use crate::operator::now_us;
use crate::problem::{Path, Problems};
use crate::xapi::{ACCEPTED_VERSIONS, VOIDED, XapiVersion};
use crate::{CLIENT_HEADER, XAPI_VERSION_HEADER, read};

/// The query parameters of a PUT.
#[derive(Deserialize)]
pub(super) struct PutParams {
    #[serde(rename = "statementId")]
    statement_id: Option<String>,
}

pub(super) async fn post_statements<K: RecordSink>(
    State(state): State<Arc<HttpState<K>>>,
    req: Request,
) -> Response {
    let started = Instant::now();
    let r = statements(&state, req, None).await.unwrap_or_else(|r| r);
    observe(&state, "xapi_statements", started, r)
}

pub(super) async fn put_statement<K: RecordSink>(
    State(state): State<Arc<HttpState<K>>>,
    params: Result<Query<PutParams>, QueryRejection>,
    req: Request,
) -> Response {
    let started = Instant::now();
    let put = Put(params.ok().and_then(|Query(p)| p.statement_id));
    let r = statements(&state, req, Some(put))
        .await
        .unwrap_or_else(|r| r);
    observe(&state, "xapi_statements", started, r)
}

/// A PUT's `statementId` parameter, as given (checked after authentication).
struct Put(Option<String>);

impl Put {
    /// The statement id, or why there is none (answered 400).
    fn id(self) -> Result<String, String> {
        match self.0 {
            None => Err("PUT requires the statementId parameter".into()),
            Some(id) if !crate::check::is_uuid(&id) => {
                Err(format!("statementId `{id}` is not a UUID"))
            }
            Some(id) => Ok(id),
        }
    }
}

/// POST (one statement or an array; all or nothing) and PUT (one statement
/// with the id from the query string).
///
/// The order of the checks is the spec's: credentials (401), then the
/// version header (400), the statementId of a PUT (400), the content type
/// (415) and the size (413), and last the statements themselves.
async fn statements<K: RecordSink>(
    state: &HttpState<K>,
    req: Request,
    put: Option<Put>,
) -> Result<Response, Response> {
    let (parts, body) = req.into_parts();
    let client = authenticate(state, &parts.headers, Scope::Xapi)?;
    let version_header = parts
        .headers
        .get(XAPI_VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Some(version) = version_header else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "xapi.version_header",
            format!(
                "the X-Experience-API-Version header is required; send one of {}",
                ACCEPTED_VERSIONS.join(", ")
            ),
            None,
        ));
    };
    if let Err(msg) = XapiVersion::parse(&version, true) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "xapi.version_header",
            msg,
            None,
        ));
    }
    let put_id = put
        .map(Put::id)
        .transpose()
        .map_err(|why| error(StatusCode::BAD_REQUEST, "xapi.statement_id", why, None))?;
    let body = read_body(state, &parts.headers, body).await?;
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if put_id.is_some() && first == Some(&b'[') {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "xapi.put_array",
            "PUT takes a single statement, not an array",
            None,
        ));
    }
    let assign = |_: usize| {
        put_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
    };
    let records = match read::xapi_message(&body, Some(&version), &state.cfg, now_us(), &assign) {
        Ok(r) => r,
        Err(p) => {
            dead_letter_request(state, "xapi", &client, &p, &body).await;
            let status = if p.0.iter().any(|p| p.code == "input.too_large") {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            return Err(error(
                status,
                p.first().map_or("invalid", |p| p.code),
                p.to_string(),
                Some(&p),
            ));
        }
    };
    let mut problems = Problems::default();
    let mut accepted = Vec::new();
    for r in records {
        match r.outcome {
            Ok(stmt) => accepted.push((r.bytes, stmt)),
            Err(p) => problems.0.extend(p.0.into_iter().map(|mut x| {
                x.path = format!("$[{}]{}", r.index, x.path.trim_start_matches('$'));
                x
            })),
        }
    }
    if let Some(id) = &put_id
        && let Some((_, stmt)) = accepted.first()
        && !stmt.id_assigned
        && &stmt.event.event_id != id
    {
        problems.add(
            "xapi.statement_id",
            &Path::Root.key("id"),
            format!("id {} differs from statementId {id}", stmt.event.event_id),
        );
    }
    let mut seen_in_request = HashSet::new();
    for (_, stmt) in &accepted {
        if !seen_in_request.insert(stmt.event.event_id.clone()) {
            problems.add(
                "xapi.batch.duplicate_id",
                &Path::Root,
                format!("id {} appears twice in one request", stmt.event.event_id),
            );
        }
    }
    if !problems.is_empty() {
        dead_letter_request(state, "xapi", &client, &problems, &body).await;
        return Err(error(
            StatusCode::BAD_REQUEST,
            problems.first().map_or("invalid", |p| p.code),
            problems.to_string(),
            Some(&problems),
        ));
    }
    // Conflicts and voiding rules against statements seen before.
    let mut all_known = true;
    {
        let log = state.log.lock();
        for (_, stmt) in &accepted {
            let key = uuid_key(&stmt.event.event_id).unwrap_or_default();
            match log.check(key, stmt.fingerprint) {
                Seen::Different => {
                    let msg = format!(
                        "statement {} already exists with different content",
                        stmt.event.event_id
                    );
                    return Err(error(StatusCode::CONFLICT, "xapi.conflict", msg, None));
                }
                Seen::New => all_known = false,
                Seen::Same { .. } => {}
            }
            if stmt.event.verb == VOIDED
                && let Some(target) = stmt.event.voids.as_deref().and_then(uuid_key)
                && log.is_voiding(target)
            {
                let p = Problems::one(
                    "xapi.voiding.voiding_target",
                    &Path::Root.key("object"),
                    "a voiding statement cannot itself be voided",
                );
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "xapi.voiding.voiding_target",
                    p.to_string(),
                    Some(&p),
                ));
            }
        }
    }
    let ids: Vec<String> = accepted
        .iter()
        .map(|(_, s)| s.event.event_id.clone())
        .collect();
    if !all_known {
        let raw = with_assigned_ids(&body, &accepted);
        let headers = vec![
            (
                XAPI_VERSION_HEADER.to_string(),
                Bytes::from(version.clone()),
            ),
            (CLIENT_HEADER.to_string(), Bytes::from(client.clone())),
        ];
        produce(state, &state.raw_xapi, raw, headers).await?;
        let mut log = state.log.lock();
        for (_, stmt) in &accepted {
            let key = uuid_key(&stmt.event.event_id).unwrap_or_default();
            log.record(key, stmt.fingerprint, stmt.event.verb == VOIDED, false);
        }
    }
    let mut response = if put_id.is_some() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string(&ids).unwrap_or_default(),
        )
            .into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&version) {
        response.headers_mut().insert(XAPI_VERSION_HEADER, v);
    }
    Ok(response)
}

/// The request body with `"id"` inserted into statements that had none, so
/// the raw topic holds the ids returned to the client.
fn with_assigned_ids(body: &Bytes, accepted: &[(&[u8], crate::xapi::Statement)]) -> Bytes {
    if accepted.iter().all(|(_, s)| !s.id_assigned) {
        return body.clone();
    }
    let mut out = Vec::with_capacity(body.len() + accepted.len() * 48);
    let mut cursor = 0;
    let base = body.as_ptr() as usize;
    for (bytes, stmt) in accepted.iter().filter(|(_, s)| s.id_assigned) {
        let start = bytes.as_ptr() as usize - base;
        let brace = start + bytes.iter().position(|b| *b == b'{').unwrap_or(0);
        out.extend_from_slice(&body[cursor..=brace]);
        out.extend_from_slice(format!("\"id\":\"{}\",", stmt.event.event_id).as_bytes());
        cursor = brace + 1;
    }
    out.extend_from_slice(&body[cursor..]);
    Bytes::from(out)
}

pub(super) async fn about() -> Response {
    let body = json!({"version": ACCEPTED_VERSIONS, "extensions": {"https://lap-analytics.org/xapi/about/product": "lap ingest"}});
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
