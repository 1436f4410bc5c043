//! `lap backfill`: the same SQL files over archived enriched events, in
//! batch. Every event is admitted (none is late: the batch has no
//! watermark), then every week is finalised in order, so the rows equal
//! what the stream finalises for the same events, late ones included.

use std::io::BufRead;
use std::path::Path;

use lap_runtime::config::AggregateConfig;
use lap_schemas::{EnrichedEvent, IndicatorRow};

use crate::engine::{Engine, EngineError, EngineOptions};
use crate::reference::Reference;
use crate::sql::{Queries, Settings, SqlError, load};
use crate::window::{Calendar, UnknownTimeZone};

/// The engine cannot be built or a batch cannot be read or run.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Bad time zone.
    #[error(transparent)]
    TimeZone(#[from] UnknownTimeZone),
    /// Bad indicator SQL.
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// Running the queries failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// An archive file is unreadable.
    #[error("{path}: {message}")]
    Input {
        /// File (and line).
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Builds the engine an `[aggregate]` section describes:
/// one DataFusion session, one core (the service; scale it with partitions).
pub fn build_engine(cfg: &AggregateConfig, reference: &Reference) -> Result<Engine, BuildError> {
    let cal = Calendar::new(&cfg.time_zone)?;
    let mut engine = Engine::new(
        cal,
        EngineOptions::from_config(cfg),
        queries(cfg, reference)?,
    );
    engine.set_reference(reference)?;
    Ok(engine)
}

/// The engine of a batch run: with two or more cores,
/// a second DataFusion session runs every other chunk of classes on another core.
pub fn build_batch_engine(
    cfg: &AggregateConfig,
    reference: &Reference,
) -> Result<Engine, BuildError> {
    let engine = build_engine(cfg, reference)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(if cores > 1 {
        engine.with_helper(queries(cfg, reference)?)
    } else {
        engine
    })
}

fn queries(cfg: &AggregateConfig, reference: &Reference) -> Result<Queries, BuildError> {
    let dir = (!cfg.sql_dir.is_empty()).then(|| Path::new(&cfg.sql_dir));
    let files = load(dir, &cfg.indicators)?;
    let settings = Settings {
        session_gap_cap_ms: cfg.session_gap_cap_s as i64 * 1000,
    };
    Ok(Queries::new(files, reference, settings)?)
}

/// Reads an NDJSON archive of enriched events (one JSON object per line,
/// the `EnrichedEvent` fields); blank lines are skipped.
pub fn read_ndjson(path: &Path) -> Result<Vec<EnrichedEvent>, BuildError> {
    let input = |message: String| BuildError::Input {
        path: path.display().to_string(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| input(e.to_string()))?;
    let mut events = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| input(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let e = serde_json::from_str(&line).map_err(|e| BuildError::Input {
            path: format!("{}:{}", path.display(), i + 1),
            message: format!("not an EnrichedEvent: {e}"),
        })?;
        events.push(e);
    }
    Ok(events)
}

/// Final indicator rows of `events`, computed in batch.
pub fn backfill(
    cfg: &AggregateConfig,
    reference: &Reference,
    events: &[EnrichedEvent],
    now_ms: i64,
) -> Result<Vec<IndicatorRow>, BuildError> {
    let mut engine = build_batch_engine(cfg, reference)?;
    Ok(engine.run_batch(events, now_ms)?.rows)
}
