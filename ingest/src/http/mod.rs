//! The HTTP front door: xAPI `statements` and `about` resources and a
//! Caliper endpoint, for LMSs that cannot write to Kafka.
//!
//! A request is authenticated (HTTP Basic for xAPI, Bearer for Caliper),
//! size-limited, and validated with exactly the rules the Kafka path uses.
//! Valid records are produced to the raw topic and the response is sent only
//! once the broker confirmed the write with `acks=all`; the ingest operator
//! then turns them into events like any other raw message. Rejected inputs
//! get the spec's status code and are also dead-lettered with the client id.

mod auth;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use lap_runtime::config::IngestConfig;
use lap_runtime::transport::{OutRecord, RecordSink};
use lap_schemas::{Origin, OriginKind, encode};
use serde::Deserialize;
use serde_json::json;

pub use self::auth::{Clients, Scope};
use crate::caliper::{self, Item};
use crate::dedupe::{Seen, uuid_key};
use crate::metrics::IngestMetrics;
use crate::operator::{SharedLog, now_us};
use crate::problem::{Path, Problems, dead_letter};
use crate::xapi::{ACCEPTED_VERSIONS, VOIDED, XapiVersion};
use crate::{CLIENT_HEADER, XAPI_VERSION_HEADER, read};

/// What the handlers share.
pub struct HttpState<K> {
    /// Validation limits.
    pub cfg: IngestConfig,
    /// Allowed clients.
    pub clients: Clients,
    /// Where raw records and dead letters go.
    pub sink: K,
    /// Raw xAPI topic.
    pub raw_xapi: Arc<str>,
    /// Raw Caliper topic.
    pub raw_caliper: Arc<str>,
    /// Dead-letter topic.
    pub dlq: Arc<str>,
    /// Statement ids already seen (shared with the operator).
    pub log: SharedLog,
    /// Request metrics.
    pub metrics: IngestMetrics,
}

/// The router serving `/xapi/statements`, `/xapi/about` and `/caliper`.
pub fn router<K: RecordSink>(state: HttpState<K>) -> Router {
    Router::new()
        .route(
            "/xapi/statements",
            post(post_statements::<K>).put(put_statement::<K>),
        )
        .route("/xapi/about", get(about))
        .route("/caliper", post(post_caliper::<K>))
        .with_state(Arc::new(state))
}

/// A response with a JSON error body naming the code, message and problems.
fn error(
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
    problems: Option<&Problems>,
) -> Response {
    let problems: Vec<_> = problems
        .map(|p| {
            p.0.iter()
                .map(|p| json!({"code": p.code, "path": p.path, "message": p.message}))
                .collect()
        })
        .unwrap_or_default();
    let body = json!({"error": code, "message": message.into(), "problems": problems});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// Checks credentials, content type and size; returns the client id and body.
async fn admit<K>(
    state: &HttpState<K>,
    req: Request,
    scope: Scope,
) -> Result<(String, HeaderMap, Bytes), Response> {
    let (parts, body) = req.into_parts();
    let client = state
        .clients
        .authenticate(&parts.headers, scope)
        .map_err(|why| {
            let challenge = match scope {
                Scope::Xapi => "Basic realm=\"lap\"",
                Scope::Caliper => "Bearer realm=\"lap\"",
            };
            let mut r = error(StatusCode::UNAUTHORIZED, "auth", why, None);
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
            r
        })?;
    if !is_json(&parts.headers) {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content_type",
            "send Content-Type: application/json (attachments in multipart/mixed are not accepted)",
            None,
        ));
    }
    let limit = state.cfg.max_message_bytes;
    let body = to_bytes(body, limit).await.map_err(|_| {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "input.too_large",
            format!("request body exceeds {limit} bytes (ingest.max_message_bytes)"),
            None,
        )
    })?;
    Ok((client, parts.headers, body))
}

/// Dead-letters a rejected request body; the response does not wait on it
/// failing (the client already gets the reason), but it is awaited so the
/// record is durable before the connection closes.
async fn dead_letter_request<K: RecordSink>(
    state: &HttpState<K>,
    format: &str,
    client: &str,
    problems: &Problems,
    body: &[u8],
) {
    for p in &problems.0 {
        state
            .metrics
            .rejected
            .with_label_values(&[format, p.code])
            .inc();
    }
    let origin = Origin {
        kind: OriginKind::Http,
        topic: None,
        partition: None,
        offset: None,
        client_id: Some(client.to_string()),
        path: None,
        line: None,
        index: None,
    };
    let Ok(payload) = encode(&dead_letter(format, origin, problems, body, now_us())) else {
        return;
    };
    if let Ok(pending) = state
        .sink
        .send(OutRecord::new(
            state.dlq.clone(),
            None,
            Bytes::from(payload),
        ))
        .await
        && let Err(e) = pending.await
    {
        tracing::warn!(error = %e, "could not dead-letter a rejected HTTP request");
    }
}

/// Produces a raw record and waits until it is durable.
async fn produce<K: RecordSink>(
    state: &HttpState<K>,
    topic: &Arc<str>,
    body: Bytes,
    headers: Vec<(String, Bytes)>,
) -> Result<(), Response> {
    let record = OutRecord {
        topic: topic.clone(),
        key: None,
        payload: Some(body),
        headers,
        partition: None,
    };
    let unavailable = |e: lap_runtime::transport::TransportError| {
        tracing::error!(error = %e, "raw topic write failed");
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the record could not be stored durably; retry later",
            None,
        )
    };
    let pending = state.sink.send(record).await.map_err(unavailable)?;
    pending.await.map_err(unavailable)?;
    Ok(())
}

fn observe<K>(state: &HttpState<K>, route: &str, started: Instant, response: Response) -> Response {
    state
        .metrics
        .http_requests
        .with_label_values(&[route, response.status().as_str()])
        .inc();
    state
        .metrics
        .http_seconds
        .with_label_values(&[route])
        .observe(started.elapsed().as_secs_f64());
    response
}

#[derive(Deserialize)]
struct PutParams {
    #[serde(rename = "statementId")]
    statement_id: Option<String>,
}

async fn post_statements<K: RecordSink>(
    State(state): State<Arc<HttpState<K>>>,
    req: Request,
) -> Response {
    let started = Instant::now();
    let r = statements(&state, req, None).await.unwrap_or_else(|r| r);
    observe(&state, "xapi_statements", started, r)
}

async fn put_statement<K: RecordSink>(
    State(state): State<Arc<HttpState<K>>>,
    Query(params): Query<PutParams>,
    req: Request,
) -> Response {
    let started = Instant::now();
    let r = match params.statement_id {
        None => error(
            StatusCode::BAD_REQUEST,
            "xapi.statement_id",
            "PUT requires the statementId parameter",
            None,
        ),
        Some(id) if !crate::check::is_uuid(&id) => error(
            StatusCode::BAD_REQUEST,
            "xapi.statement_id",
            format!("statementId `{id}` is not a UUID"),
            None,
        ),
        Some(id) => statements(&state, req, Some(id))
            .await
            .unwrap_or_else(|r| r),
    };
    observe(&state, "xapi_statements", started, r)
}

/// POST (one statement or an array; all or nothing) and PUT (one statement
/// with the id from the query string).
async fn statements<K: RecordSink>(
    state: &HttpState<K>,
    req: Request,
    put_id: Option<String>,
) -> Result<Response, Response> {
    let version_header = req
        .headers()
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
    let (client, _, body) = admit(state, req, Scope::Xapi).await?;
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
    let mut seen_in_request = std::collections::HashSet::new();
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

async fn about() -> Response {
    let body = json!({"version": ACCEPTED_VERSIONS, "extensions": {"https://lap-analytics.org/xapi/about/product": "lap ingest"}});
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn post_caliper<K: RecordSink>(
    State(state): State<Arc<HttpState<K>>>,
    req: Request,
) -> Response {
    let started = Instant::now();
    let r = caliper_request(&state, req).await.unwrap_or_else(|r| r);
    observe(&state, "caliper", started, r)
}

async fn caliper_request<K: RecordSink>(
    state: &HttpState<K>,
    req: Request,
) -> Result<Response, Response> {
    let (client, _, body) = admit(state, req, Scope::Caliper).await?;
    let problems = match read::caliper_message(&body, &state.cfg, now_us()) {
        Err(p) => p,
        Ok(envelope) => {
            let mut p = Problems::default();
            for item in envelope.items {
                if let Item::Rejected { problems, .. } = item {
                    p.0.extend(problems.0);
                }
            }
            p
        }
    };
    if !problems.is_empty() {
        dead_letter_request(state, "caliper", &client, &problems, &body).await;
        let status = if caliper::is_unsupported_version(&problems) {
            StatusCode::UNPROCESSABLE_ENTITY
        } else if problems.0.iter().any(|p| p.code == "input.too_large") {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        };
        return Err(error(
            status,
            problems.first().map_or("invalid", |p| p.code),
            problems.to_string(),
            Some(&problems),
        ));
    }
    let headers = vec![(CLIENT_HEADER.to_string(), Bytes::from(client))];
    produce(state, &state.raw_caliper, body, headers).await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from("{\"status\":\"stored\"}"),
    )
        .into_response())
}
