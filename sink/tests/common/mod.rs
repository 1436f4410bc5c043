//! Rows, a private schema per test on the real PostgreSQL server, and a
//! TCP proxy that can cut the sink off from it.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::sync::Arc;

use lap_runtime::config::PostgresConfig;
use lap_runtime::testkit::{POSTGRES_ENV, service, unique};
use lap_schemas::{
    Action, EnrichedEvent, EntityKind, Flag, IndicatorRow, Role, SourceStandard, WindowKind,
};
use lap_sink::postgres::PgStore;
use lap_sink::rows::{INDICATOR_TABLES, Rows};
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};

/// Monday 2026-09-07 00:00 UTC in µs.
pub const MONDAY: i64 = 1_788_739_200_000_000;
/// One day in µs.
pub const DAY: i64 = 86_400_000_000;

/// A schema of its own on the test server, dropped on `drop`.
pub struct Db {
    /// The sink's settings for this schema.
    pub config: PostgresConfig,
    /// A client with `search_path` set to the schema.
    pub client: Client,
    url: String,
}

impl Db {
    /// `None` (skipped with a reason) when no test server is configured.
    pub async fn new() -> Option<Db> {
        let url = service(POSTGRES_ENV)?;
        let schema = unique("sink").replace('-', "_");
        let config = PostgresConfig {
            enabled: true,
            url: url.clone(),
            schema: schema.clone(),
            ..PostgresConfig::default()
        };
        let mut conn: tokio_postgres::Config = url.parse().unwrap();
        conn.options(format!("-c search_path={schema}"));
        let (client, connection) = conn
            .connect(NoTls)
            .await
            .expect("test PostgreSQL reachable");
        tokio::spawn(connection);
        Some(Db {
            config,
            client,
            url,
        })
    }

    /// A store on this schema.
    pub fn store(&self) -> PgStore {
        PgStore::new(&self.config, None).unwrap()
    }

    /// Every row of `table` as JSON text, in key order: a whole-table
    /// snapshot to compare.
    pub async fn snapshot(&self, table: &str) -> Vec<String> {
        let order = if table == "events" {
            "tenant, event_id"
        } else {
            "window_start, entity_id, class_id"
        };
        self.client
            .query(
                &format!("SELECT to_jsonb(t)::text FROM {table} t ORDER BY {order}"),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// `SELECT count(*) FROM table`.
    pub async fn count(&self, table: &str) -> i64 {
        self.client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.config.schema.clone());
        // Best effort on a fresh thread: the test's runtime may be ending.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok((c, conn)) = tokio_postgres::connect(&url, NoTls).await {
                    tokio::spawn(conn);
                    let _ = c
                        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// The rows of one batch, grouped by table as the sink's decoder groups them.
pub fn rows(indicators: Vec<IndicatorRow>, events: Vec<EnrichedEvent>) -> Rows {
    let mut r = Rows::default();
    for row in indicators {
        let table = INDICATOR_TABLES
            .iter()
            .find(|t| **t == row.table_name)
            .unwrap();
        r.indicators.entry(table).or_default().push(row);
    }
    r.events = events.into_iter().map(Arc::new).collect();
    r
}

/// A learner's weekly row with one indicator and, optionally, a flag.
pub fn indicator_row(learner: &str, week: i64, revision: i64, score: f64) -> IndicatorRow {
    IndicatorRow {
        table_name: "learner_weekly".into(),
        window_kind: WindowKind::Weekly,
        window_start: MONDAY + week * 7 * DAY,
        window_end: MONDAY + (week + 1) * 7 * DAY,
        time_zone: "UTC".into(),
        entity_kind: EntityKind::Learner,
        entity_id: learner.into(),
        class_id: Some("class-1".into()),
        school_id: Some("school-1".into()),
        revision,
        is_final: false,
        emitted_time: MONDAY + revision,
        contributors: 1,
        suppressed: false,
        indicators: BTreeMap::from([
            ("mean_score".to_string(), Some(score)),
            ("attendance_rate".to_string(), None),
        ]),
        flags: vec![],
        cleared_flags: vec![],
        newest_event_time: None,
    }
}

/// `row` with a flag attached.
pub fn flagged(mut row: IndicatorRow, code: &str) -> IndicatorRow {
    row.flags.push(Flag {
        code: code.into(),
        reason: format!("{code}: see evidence"),
        evidence: BTreeMap::from([("threshold".to_string(), 0.4)]),
    });
    row
}

/// A class's weekly row.
pub fn class_row(class: &str, week: i64, revision: i64, score: Option<f64>) -> IndicatorRow {
    IndicatorRow {
        table_name: "class_weekly".into(),
        entity_kind: EntityKind::Class,
        entity_id: class.into(),
        class_id: Some(class.into()),
        contributors: 6,
        indicators: BTreeMap::from([("mean_score".to_string(), score)]),
        ..indicator_row(class, week, revision, 0.0)
    }
}

/// An enriched event with a score.
pub fn event(id: &str, learner: &str, score: f64) -> EnrichedEvent {
    EnrichedEvent {
        event_id: id.into(),
        source: SourceStandard::Xapi,
        spec_version: "1.0.3".into(),
        event_time: MONDAY + 3_600_000_000,
        stored_time: MONDAY + 3_700_000_000,
        tenant: "t1".into(),
        person_key: learner.into(),
        role: Role::Learner,
        school_id: Some("school-1".into()),
        class_id: Some("class-1".into()),
        course_id: None,
        term_id: None,
        subject_codes: vec!["MATH".into()],
        grades: vec![],
        action: Action::Scored,
        verb: "http://adlnet.gov/expapi/verbs/scored".into(),
        object_id: "https://lms.example/quiz/1".into(),
        object_type: None,
        object_name: None,
        score_scaled: Some(score),
        score_raw: None,
        score_min: None,
        score_max: None,
        success: None,
        completion: Some(true),
        duration_ms: Some(61_000),
        response_value: None,
        response_text: None,
        registration: None,
        session_id: None,
        objective_ids: vec!["obj-1".into(), "obj-2".into()],
        due_time: None,
        voids: None,
    }
}

/// A TCP forwarder to the test server that can be taken down (connection
/// refused, open connections cut) and brought back on the same port: a
/// store outage without stopping the shared server.
pub struct Proxy {
    /// The port the sink connects to.
    pub port: u16,
    target: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// A proxy for the server of `url`, down until [`Proxy::up`].
    pub fn new(url: &str) -> Proxy {
        let cfg: tokio_postgres::Config = url.parse().unwrap();
        let host = match &cfg.get_hosts()[0] {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            other => panic!("the test server must be reached over TCP, not {other:?}"),
        };
        let port = cfg.get_ports().first().copied().unwrap_or(5432);
        Proxy {
            port: lap_runtime::testkit::free_port(),
            target: format!("{host}:{port}"),
            tasks: Arc::default(),
        }
    }

    /// Starts accepting and forwarding.
    pub async fn up(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let (target, tasks) = (self.target.clone(), self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().push(conn);
            }
        });
        self.tasks.lock().push(accept);
    }

    /// Stops accepting and cuts every open connection.
    pub fn down(&self) {
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
    }

    /// The sink's settings pointing at the proxy instead of the server.
    pub fn config(&self, db: &Db) -> PostgresConfig {
        PostgresConfig {
            url: format!("host=127.0.0.1 port={} {}", self.port, user_and_db(&db.url)),
            connect_timeout_ms: 1_000,
            ..db.config.clone()
        }
    }
}

fn user_and_db(url: &str) -> String {
    let cfg: tokio_postgres::Config = url.parse().unwrap();
    let user = cfg.get_user().unwrap_or("postgres");
    format!("user={user} dbname={}", cfg.get_dbname().unwrap_or(user))
}
