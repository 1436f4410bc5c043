//! The HTTP front door on a real listener and the real broker, for the
//! tests that call it with a real HTTP client.

use std::collections::BTreeMap;
use std::sync::Arc;

use lap_ingest::dedupe::StatementLog;
use lap_ingest::http::{Clients, HttpState, router};
use lap_ingest::metrics::IngestMetrics;
use lap_runtime::config::{HttpClient, IngestConfig};
use lap_runtime::metrics::Metrics;
use lap_runtime::testkit;
use lap_runtime::transport::kafka::KafkaSink;
use lap_schemas::{DeadLetter, decode};
use parking_lot::Mutex;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const XAPI_SECRET: &str = "xapi-secret-for-tests";
pub const CALIPER_SECRET: &str = "caliper-token-for-tests";

/// A front door on a free local port, writing to fresh topics of the test
/// broker, with one xAPI client (`lms-a`) and one Caliper client (`lms-b`).
pub struct Server {
    pub base: String,
    pub bootstrap: String,
    pub raw_xapi: String,
    pub raw_caliper: String,
    pub dlq: String,
    pub http: reqwest::Client,
}

fn hash(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Starts a [`Server`], or `None` when no test broker is configured.
pub async fn server() -> Option<Server> {
    let bootstrap = testkit::service(testkit::KAFKA_ENV)?;
    let kafka = testkit::kafka_config(&bootstrap);
    let (raw_xapi, raw_caliper, dlq) = (
        testkit::unique("raw-xapi"),
        testkit::unique("raw-caliper"),
        testkit::unique("dlq"),
    );
    for t in [&raw_xapi, &raw_caliper, &dlq] {
        testkit::create_topic(&kafka, t, 1).await;
    }
    let mut clients = BTreeMap::new();
    clients.insert(
        "lms-a".to_string(),
        HttpClient {
            secret_sha256: hash(XAPI_SECRET),
            scopes: vec!["xapi".into()],
        },
    );
    clients.insert(
        "lms-b".to_string(),
        HttpClient {
            secret_sha256: hash(CALIPER_SECRET),
            scopes: vec!["caliper".into()],
        },
    );
    let cfg = IngestConfig {
        max_message_bytes: 64 * 1024,
        ..IngestConfig::default()
    };
    let metrics = Metrics::new("ingest-http-test");
    let state = HttpState {
        cfg,
        clients: Clients::from_config(&clients),
        sink: KafkaSink::new(&kafka, "http-test").unwrap(),
        raw_xapi: Arc::from(raw_xapi.as_str()),
        raw_caliper: Arc::from(raw_caliper.as_str()),
        dlq: Arc::from(dlq.as_str()),
        log: Arc::new(Mutex::new(StatementLog::new(1000))),
        metrics: IngestMetrics::register(&metrics),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
    Some(Server {
        base,
        bootstrap,
        raw_xapi,
        raw_caliper,
        dlq,
        http: reqwest::Client::new(),
    })
}

impl Server {
    /// Sends an xAPI request with the default version and content type.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.xapi(method, path, body).send().await.unwrap()
    }

    pub fn xapi(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> reqwest::RequestBuilder {
        self.xapi_as(method, path, body, "1.0.3", "application/json")
    }

    pub fn xapi_as(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        version: &str,
        content_type: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .basic_auth("lms-a", Some(XAPI_SECRET))
            .header("X-Experience-API-Version", version)
            .header("Content-Type", content_type)
            .body(body.to_string())
    }

    pub fn caliper(&self, body: &Value) -> reqwest::RequestBuilder {
        self.caliper_as(body, "application/json")
    }

    pub fn caliper_as(&self, body: &Value, content_type: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/caliper", self.base))
            .bearer_auth(CALIPER_SECRET)
            .header("Content-Type", content_type)
            .body(body.to_string())
    }

    pub async fn raw(&self, topic: &str) -> Vec<Value> {
        testkit::read_topic(&self.bootstrap, topic)
            .await
            .iter()
            .map(|m| serde_json::from_slice(m.payload.as_ref().unwrap()).unwrap())
            .collect()
    }

    pub async fn dead_letters(&self) -> Vec<DeadLetter> {
        testkit::read_topic(&self.bootstrap, &self.dlq)
            .await
            .iter()
            .map(|m| decode(m.payload.as_ref().unwrap()).unwrap())
            .collect()
    }
}
