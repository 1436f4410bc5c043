//! Progress counts while `lap run` works and the closing summary.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

use lap_runtime::config::Config;
use lap_runtime::metrics::Metrics;
use lap_runtime::transport::memory::MemoryBroker;
use lap_schemas::{DeadLetter, IndicatorRow, decode};
use lap_sink::delta::Lake;

use super::Inputs;

/// Records on each topic so far: what the progress display shows.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    /// Messages read from the activity files.
    pub messages: u64,
    /// Events accepted by ingest (`lap.events`).
    pub events: u64,
    /// Events joined by enrich (`lap.enriched`).
    pub enriched: u64,
    /// Indicator rows emitted, provisional and final (`lap.indicators`).
    pub indicator_rows: u64,
    /// Dead letters of every stage (`lap.dlq`).
    pub dead_letters: u64,
    /// Events no roster record matched (`lap.unmatched`).
    pub unmatched: u64,
}

fn total(broker: &MemoryBroker, topic: &str) -> u64 {
    broker.end_offsets(topic).iter().sum::<i64>() as u64
}

impl Counts {
    /// Reads the counts off the broker; `messages` is the feed's counter.
    pub fn read(broker: &MemoryBroker, cfg: &Config, messages: u64) -> Counts {
        let t = &cfg.topics;
        Counts {
            messages,
            events: total(broker, &t.events.name),
            enriched: total(broker, &t.enriched.name),
            indicator_rows: total(broker, &t.indicators.name),
            dead_letters: total(broker, &t.dlq.name),
            unmatched: total(broker, &t.unmatched.name),
        }
    }
}

/// The sum of a counter family's series in Prometheus text `exposition`.
fn counter_sum(exposition: &str, family: &str) -> u64 {
    exposition
        .lines()
        .filter(|l| {
            l.strip_prefix(family)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// What a finished run did, for the closing summary.
#[derive(Clone, Debug)]
pub struct Report {
    /// Final counts per topic.
    pub counts: Counts,
    /// Roster records loaded and problems reported by the loader.
    pub roster: (usize, usize),
    /// Statements sent again with the same id and content, counted once.
    pub duplicates: u64,
    /// Events of opted-out learners, dropped at enrich.
    pub opted_out: u64,
    /// Dead letters by error code, most frequent first.
    pub reasons: Vec<(String, u64)>,
    /// Final rows per table.
    pub final_rows: BTreeMap<String, u64>,
    /// Final learner rows carrying each flag.
    pub flags: BTreeMap<String, u64>,
    /// Where the tables are.
    pub lake: Lake,
    /// Files read.
    pub files: usize,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

impl Report {
    /// Tallies the topics and metrics of a finished run.
    pub fn new(
        counts: Counts,
        broker: &MemoryBroker,
        cfg: &Config,
        metrics: &Metrics,
        inputs: &Inputs,
        roster: (usize, usize),
        elapsed: Duration,
    ) -> Report {
        let mut reasons: HashMap<String, u64> = HashMap::new();
        for m in broker.read_all(&cfg.topics.dlq.name) {
            let code = m
                .payload
                .as_deref()
                .and_then(|p| decode::<DeadLetter>(p).ok())
                .map_or_else(|| "undecodable".to_string(), |d| d.error_code);
            *reasons.entry(code).or_default() += 1;
        }
        let mut reasons: Vec<(String, u64)> = reasons.into_iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        // A window may be emitted final more than once (a replayed
        // finalisation); count each key once.
        let mut finals: HashMap<(String, i64, String, Option<String>), IndicatorRow> =
            HashMap::new();
        for m in broker.read_all(&cfg.topics.indicators.name) {
            let Some(row) = m
                .payload
                .as_deref()
                .and_then(|p| decode::<IndicatorRow>(p).ok())
            else {
                continue;
            };
            if row.is_final {
                let key = (
                    row.table_name.clone(),
                    row.window_start,
                    row.entity_id.clone(),
                    row.class_id.clone(),
                );
                finals.insert(key, row);
            }
        }
        let (mut final_rows, mut flags) = (BTreeMap::new(), BTreeMap::new());
        for row in finals.values() {
            *final_rows.entry(row.table_name.clone()).or_default() += 1;
            for f in &row.flags {
                *flags.entry(f.code.clone()).or_default() += 1;
            }
        }
        let exposition = metrics.render();
        Report {
            counts,
            roster,
            duplicates: counter_sum(&exposition, "lap_ingest_duplicates_total"),
            opted_out: counter_sum(&exposition, "lap_enrich_opted_out_total"),
            reasons,
            final_rows,
            flags,
            lake: inputs.lake.clone(),
            files: inputs.activity.len(),
            elapsed,
        }
    }
}

/// `n` with thousands separators.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        let n = thousands;
        writeln!(f, "lap run finished in {:.1} s", self.elapsed.as_secs_f64())?;
        writeln!(
            f,
            "  read        {} messages from {} files; roster: {} records, {} problems",
            n(c.messages),
            self.files,
            n(self.roster.0 as u64),
            self.roster.1
        )?;
        writeln!(
            f,
            "  ingest      {} events accepted; {} duplicates counted once",
            n(c.events),
            n(self.duplicates)
        )?;
        writeln!(
            f,
            "  dead letters {} (lap.dlq, original bytes kept)",
            n(c.dead_letters)
        )?;
        for (code, k) in self.reasons.iter().take(5) {
            writeln!(f, "              {:>7}  {code}", n(*k))?;
        }
        writeln!(
            f,
            "  enrich      {} events joined and pseudonymised; opted out (dropped) {}; unmatched (lap.unmatched) {}",
            n(c.enriched),
            n(self.opted_out),
            n(c.unmatched)
        )?;
        let rows: Vec<String> = self
            .final_rows
            .iter()
            .map(|(t, k)| format!("{t} {}", n(*k)))
            .collect();
        writeln!(f, "  aggregate   final rows: {}", rows.join(", "))?;
        let flags: Vec<String> = self
            .flags
            .iter()
            .map(|(t, k)| format!("{t} {}", n(*k)))
            .collect();
        writeln!(
            f,
            "  flags       {} (final learner rows)",
            if flags.is_empty() {
                "none".to_string()
            } else {
                flags.join(", ")
            }
        )?;
        writeln!(f, "  lake        {}", self.lake)?;
        let lake = &self.lake;
        // The program as it was invoked (e.g. target/debug/lap under cargo
        // run), so the examples can be pasted as they are.
        let lap = std::env::args().next().unwrap_or_else(|| "lap".into());
        writeln!(f, "\nTry:")?;
        writeln!(
            f,
            "  {lap} query --lake {lake} \"SELECT entity_id AS class, window_start, indicators['activity_events'] AS events, indicators['mean_score'] AS mean_score, suppressed FROM class_weekly ORDER BY class, window_start\""
        )?;
        writeln!(
            f,
            "  {lap} query --lake {lake} \"SELECT class_id, window_start, f['code'] AS flag, f['reason'] AS reason FROM (SELECT class_id, window_start, unnest(flags) AS f FROM learner_weekly) ORDER BY class_id, window_start LIMIT 20\""
        )?;
        write!(
            f,
            "  {lap} query --lake {lake} --format csv \"SELECT action, COUNT(*) AS events FROM events GROUP BY action ORDER BY events DESC\""
        )
    }
}
