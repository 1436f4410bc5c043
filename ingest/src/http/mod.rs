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
mod xapi;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use lap_runtime::config::IngestConfig;
use lap_runtime::transport::{OutRecord, RecordSink};
use lap_schemas::{Origin, OriginKind, encode};
use serde_json::json;

pub use self::auth::{Clients, Scope};
use crate::caliper::{self, Item};
use crate::metrics::IngestMetrics;
use crate::operator::{SharedLog, now_us};
use crate::problem::{Problems, dead_letter};
use crate::{CLIENT_HEADER, read};

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
            post(xapi::post_statements::<K>).put(xapi::put_statement::<K>),
        )
        .route("/xapi/about", get(xapi::about))
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

/// A request without valid credentials: why, and the scheme to challenge.
struct Unauthorized {
    why: String,
    scope: Scope,
}

impl From<Unauthorized> for Response {
    fn from(u: Unauthorized) -> Response {
        let challenge = match u.scope {
            Scope::Xapi => "Basic realm=\"lap\"",
            Scope::Caliper => "Bearer realm=\"lap\"",
        };
        let mut r = error(StatusCode::UNAUTHORIZED, "auth", u.why, None);
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        r
    }
}

/// The client a request authenticates as, or why it is answered 401.
/// Checked before anything else of the request is read: whoever is not
/// allowed to send learns nothing about what else would be wrong.
fn authenticate<K>(
    state: &HttpState<K>,
    headers: &HeaderMap,
    scope: Scope,
) -> Result<String, Unauthorized> {
    state
        .clients
        .authenticate(headers, scope)
        .map_err(|why| Unauthorized { why, scope })
}

/// Checks the content type and reads the body within the size limit.
async fn read_body<K>(
    state: &HttpState<K>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, Response> {
    if !is_json(headers) {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content_type",
            "send Content-Type: application/json (attachments in multipart/mixed are not accepted)",
            None,
        ));
    }
    let limit = state.cfg.max_message_bytes;
    to_bytes(body, limit).await.map_err(|_| {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "input.too_large",
            format!("request body exceeds {limit} bytes (ingest.max_message_bytes)"),
            None,
        )
    })
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
    let (parts, body) = req.into_parts();
    let client = authenticate(state, &parts.headers, Scope::Caliper)?;
    let body = read_body(state, &parts.headers, body).await?;
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
