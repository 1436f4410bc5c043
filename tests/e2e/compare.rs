//! Indicator rows from PostgreSQL, a lake (through `lap query`) and
//! `lap backfill`'s NDJSON, reduced to what they say, and the rule by
//! which a still-running stream's tables must agree with a finished
//! reference run.

use std::collections::BTreeMap;
use std::path::Path;

use lap_schemas::IndicatorRow;
use serde_json::Value;

/// The indicator tables.
pub const TABLES: [&str; 6] = [
    "learner_daily",
    "learner_weekly",
    "class_daily",
    "class_weekly",
    "school_daily",
    "school_weekly",
];

/// A row's key: table, window start (µs), entity, class.
pub type Key = (String, i64, String, Option<String>);

/// What a row says, values rounded to 1e-6 so stores' float text agrees.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Emission counter of the row.
    pub revision: i64,
    /// Whether the window was closed when the row was emitted.
    pub is_final: bool,
    /// Learners (or events) behind the row.
    pub contributors: i64,
    /// Small-group suppression.
    pub suppressed: bool,
    /// Indicator values in millionths; null ones left out (stores differ
    /// in whether they spell a null map entry out).
    pub values: BTreeMap<String, i64>,
    /// Flag codes, sorted.
    pub flags: Vec<String>,
}

impl Row {
    /// The row without its emission bookkeeping (revision, finality).
    pub fn content(&self) -> (i64, bool, &BTreeMap<String, i64>, &[String]) {
        (
            self.contributors,
            self.suppressed,
            &self.values,
            &self.flags,
        )
    }
}

fn millionths(x: f64) -> i64 {
    (x * 1e6).round() as i64
}

fn codes(flags: &Value) -> Vec<String> {
    let mut codes: Vec<String> = flags
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["code"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    codes.sort();
    codes
}

fn values(map: &Value) -> BTreeMap<String, i64> {
    map.as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), millionths(v.as_f64()?))))
                .collect()
        })
        .unwrap_or_default()
}

/// A row of `lap backfill`'s output.
pub fn from_indicator_row(r: &IndicatorRow) -> (Key, Row) {
    let key = (
        r.table_name.clone(),
        r.window_start,
        r.entity_id.clone(),
        r.class_id.clone(),
    );
    let mut flags: Vec<String> = r.flags.iter().map(|f| f.code.clone()).collect();
    flags.sort();
    let row = Row {
        revision: r.revision,
        is_final: r.is_final,
        contributors: r.contributors as i64,
        suppressed: r.suppressed,
        values: r
            .indicators
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), millionths((*v)?))))
            .collect(),
        flags,
    };
    (key, row)
}

/// Every indicator row of the sink's PostgreSQL schema.
pub async fn postgres_rows(client: &tokio_postgres::Client, schema: &str) -> BTreeMap<Key, Row> {
    let mut rows = BTreeMap::new();
    for table in TABLES {
        let sql = format!(
            "SELECT entity_id, class_id, (extract(epoch FROM window_start) * 1000000)::bigint, revision, \
             is_final, contributors::bigint, suppressed, indicators::text, flags::text FROM {schema}.{table}"
        );
        for r in client.query(&sql, &[]).await.unwrap() {
            let key = (table.to_string(), r.get(2), r.get(0), r.get(1));
            let row = Row {
                revision: r.get(3),
                is_final: r.get(4),
                contributors: r.get(5),
                suppressed: r.get(6),
                values: values(&serde_json::from_str(r.get(7)).unwrap()),
                flags: codes(&serde_json::from_str(r.get(8)).unwrap()),
            };
            rows.insert(key, row);
        }
    }
    rows
}

/// Every indicator row of the lake at `lake`, read with `lap query`.
pub fn lake_rows(config: &Path, lake: &Path) -> BTreeMap<Key, Row> {
    let mut rows = BTreeMap::new();
    for table in TABLES {
        let sql = format!(
            "SELECT entity_id, class_id, CAST(window_start AS BIGINT) AS ws, revision, is_final, \
             contributors, suppressed, indicators, flags FROM {table}"
        );
        for r in query(config, lake, &sql) {
            let key = (
                table.to_string(),
                r["ws"].as_i64().unwrap(),
                r["entity_id"].as_str().unwrap().to_string(),
                r["class_id"].as_str().map(String::from),
            );
            let row = Row {
                revision: r["revision"].as_i64().unwrap(),
                is_final: r["is_final"].as_bool().unwrap(),
                contributors: r["contributors"].as_i64().unwrap(),
                suppressed: r["suppressed"].as_bool().unwrap(),
                values: values(&r["indicators"]),
                flags: codes(&r["flags"]),
            };
            rows.insert(key, row);
        }
    }
    rows
}

/// `lap query --format json SQL` over `lake`, one value per row.
pub fn query(config: &Path, lake: &Path, sql: &str) -> Vec<Value> {
    let lake = lake.to_str().unwrap();
    let (ok, out) = crate::common::lap(config, &["query", "--lake", lake, "--format", "json", sql]);
    assert!(ok, "{sql}\n{out}");
    out.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// How far a stream got: rows final, rows still provisional.
#[derive(Debug, Default)]
pub struct Progress {
    /// Rows final and equal to the reference.
    pub finals: usize,
    /// Open windows' rows whose values equal the reference.
    pub provisional: usize,
}

/// Checks a running stream's rows against a finished run's `reference`
/// (all final). The stream finalises a window only once the watermark
/// has passed its end plus the allowed lateness, so the last windows stay
/// open. Every final row must equal the reference; every window up to the
/// last final one must be complete; an open window's rows must carry the
/// reference's values (flags, `growth_*` and `submissions_missing` are
/// left out there: they compare with the learner's earlier final windows,
/// which a finished run has and the open stream does not yet, or count
/// only what is already past due); and a reference row missing from an
/// open window can only be the row of a learner without activity.
pub fn check_stream(
    got: &BTreeMap<Key, Row>,
    reference: &BTreeMap<Key, Row>,
) -> Result<Progress, String> {
    let mut horizon: BTreeMap<&str, i64> = BTreeMap::new();
    for (key, row) in got {
        if row.is_final {
            let h = horizon.entry(kind(&key.0)).or_insert(i64::MIN);
            *h = (*h).max(key.1);
        }
    }
    let mut progress = Progress::default();
    for (key, row) in got {
        let Some(want) = reference.get(key) else {
            return Err(format!("{key:?} is not in the reference: {row:?}"));
        };
        if row.is_final {
            if row.content() != want.content() {
                return Err(format!("final {key:?}\n got  {row:?}\n want {want:?}"));
            }
            progress.finals += 1;
        } else {
            let same = (row.contributors, row.suppressed, own_values(row))
                == (want.contributors, want.suppressed, own_values(want));
            if !same {
                return Err(format!(
                    "provisional {key:?}\n got  {row:?}\n want {want:?}"
                ));
            }
            progress.provisional += 1;
        }
    }
    for (key, want) in reference {
        let closed = horizon.get(kind(&key.0)).is_some_and(|h| key.1 <= *h);
        match got.get(key) {
            Some(row) if closed && !row.is_final => {
                return Err(format!("{key:?} is not final though a later window is"));
            }
            Some(_) => {}
            None if closed || want.contributors > 0 => {
                return Err(format!("missing {key:?}: {want:?}"));
            }
            None => {}
        }
    }
    Ok(progress)
}

/// Rows of a stream and of a finished run compared on everything a row
/// says (both must be complete and final).
pub fn check_equal(got: &BTreeMap<Key, Row>, want: &BTreeMap<Key, Row>) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{} rows, expected {}", got.len(), want.len()));
    }
    for (key, row) in got {
        match want.get(key) {
            Some(w) if w.content() == row.content() => {}
            other => return Err(format!("{key:?}\n got  {row:?}\n want {other:?}")),
        }
    }
    Ok(())
}

/// A row's values that depend on its own window alone, and not on how far
/// it has got.
fn own_values(row: &Row) -> BTreeMap<&str, i64> {
    row.values
        .iter()
        .filter(|(k, _)| !k.starts_with("growth_") && *k != "submissions_missing")
        .map(|(k, v)| (k.as_str(), *v))
        .collect()
}

fn kind(table: &str) -> &'static str {
    if table.ends_with("daily") {
        "daily"
    } else {
        "weekly"
    }
}
