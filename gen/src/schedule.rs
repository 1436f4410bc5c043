//! The school year, day by day: each lesson's acts become messages with an
//! arrival time, and messages leave in arrival order (a device that was
//! offline delivers days later, after the records of the days between).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use serde_json::{Value, json};

use crate::activity::{Act, Kind, Traits, lesson};
use crate::noise::{corrupt_caliper, corrupt_xapi, unknown_actor};
use crate::plan::{Plan, Platform};
use crate::render::{caliper, envelope, xapi};
use crate::rng::Rng;
use crate::{Archetype, GenError, Options, Output, Standard, Summary, roster};

/// A record with the time it arrives.
type Timed = (DateTime<Utc>, Value);

/// Messages waiting for their arrival time, in arrival order.
type Queue = BTreeMap<(DateTime<Utc>, u64), (Standard, String)>;

struct Day<'a> {
    opts: &'a Options,
    plan: &'a Plan,
    rng: Rng,
    queue: Queue,
    seq: u64,
    summary: Summary,
}

fn check(opts: &Options) -> Result<(), GenError> {
    let sizes = [
        ("schools", opts.schools),
        ("cohorts per school", opts.cohorts_per_school),
        ("learners per cohort", opts.learners_per_cohort),
        ("subjects", opts.subjects),
        ("days", opts.days),
    ];
    if let Some((name, _)) = sizes.iter().find(|(_, n)| *n == 0) {
        return Err(GenError::Options(format!("{name} must be at least 1")));
    }
    let shares = [
        ("invalid share", opts.invalid_share),
        ("duplicate share", opts.duplicate_share),
        ("void share", opts.void_share),
        ("offline share", opts.offline_share),
        ("unknown share", opts.unknown_share),
    ];
    if let Some((name, v)) = shares.iter().find(|(_, v)| !(0.0..=1.0).contains(v)) {
        return Err(GenError::Options(format!(
            "{name} is {v}; give a share between 0 and 1"
        )));
    }
    Ok(())
}

/// Generates the school year of `opts` into `out` and says what it holds.
pub fn generate(opts: &Options, out: &mut dyn Output) -> Result<Summary, GenError> {
    check(opts)?;
    let plan = Plan::deal(opts);
    // Activity draws from its own stream, so the plan alone can be redealt.
    let mut rng = Rng::new(opts.seed.wrapping_add(1));
    let end = opts.start + Duration::days(opts.days as i64 - 1);
    let io = |path: &'static str| {
        move |source| GenError::Io {
            path: path.to_string(),
            source,
        }
    };
    out.roster(&roster::files(&plan, opts.start, end))
        .map_err(io("the roster export"))?;
    let traits = Traits::new(&plan, opts.days, &mut rng);
    let mut day = Day {
        opts,
        plan: &plan,
        rng,
        queue: Queue::new(),
        seq: 0,
        summary: Summary::default(),
    };
    for d in 0..opts.days {
        let date = opts.start + Duration::days(d as i64);
        if !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            for c in 0..plan.classes.len() {
                let acts = lesson(&plan, &traits, c, date, d, &mut day.rng);
                let mut by_learner: Vec<Vec<Act>> = Vec::new();
                for act in acts {
                    match by_learner.last_mut() {
                        Some(group) if group[0].learner == act.learner => group.push(act),
                        _ => by_learner.push(vec![act]),
                    }
                }
                for group in by_learner {
                    day.send(c, group);
                }
            }
        }
        let next = (date + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc();
        day.flush(Some(next), out)
            .map_err(io("the activity files"))?;
    }
    day.flush(None, out).map_err(io("the activity files"))?;
    let mut summary = day.summary;
    summary.learners = plan.learners.len();
    summary.classes = plan.classes.len();
    let mut counts: HashMap<Archetype, usize> = HashMap::new();
    for l in &plan.learners {
        *counts.entry(l.archetype).or_default() += 1;
    }
    summary.archetypes = counts.into_iter().collect();
    summary.archetypes.sort();
    Ok(summary)
}

impl Day<'_> {
    fn enqueue(&mut self, at: DateTime<Utc>, standard: Standard, json: String) {
        self.seq += 1;
        self.queue.insert((at, self.seq), (standard, json));
    }

    fn flush(
        &mut self,
        before: Option<DateTime<Utc>>,
        out: &mut dyn Output,
    ) -> std::io::Result<()> {
        while let Some(entry) = self.queue.first_entry() {
            if before.is_some_and(|b| entry.key().0 >= b) {
                break;
            }
            let ((at, _), (standard, json)) = entry.remove_entry();
            out.message(standard, at.date_naive(), &json)?;
        }
        Ok(())
    }

    /// One learner's acts in one lesson: rendered, some of them spoiled,
    /// and queued as the learner's device would send them.
    fn send(&mut self, c: usize, acts: Vec<Act>) {
        let (opts, plan) = (self.opts, self.plan);
        let learner = &plan.learners[acts[0].learner];
        let opted_out = learner.archetype == Archetype::OptedOut;
        // An offline device delivers the lesson's work (not the teacher's
        // attendance mark) 1–5 days later, after school.
        let delay = self.rng.chance(opts.offline_share).then(|| {
            let days = i64::from(self.rng.range(1, 5));
            let date = acts[0].time.date_naive() + Duration::days(days);
            date.and_hms_opt(17, self.rng.range(0, 59), 0)
                .expect("valid time")
                .and_utc()
        });
        let (xapi_version, caliper_version) = match plan.classes[c].platform {
            Platform::Xapi(v) => (v, None),
            Platform::Caliper(v) => (if v == "1.1" { "1.0.3" } else { "2.0.0" }, Some(v)),
        };
        let (mut statements, mut events): (Vec<Timed>, Vec<Timed>) = (Vec::new(), Vec::new());
        for act in &acts {
            let arrives = match (delay, &act.kind) {
                (Some(at), k) if !matches!(k, Kind::Attendance(_)) => at,
                _ => act.time + Duration::seconds(self.rng.range(0, 30).into()),
            };
            let as_caliper = caliper_version
                .filter(|_| !matches!(act.kind, Kind::Attendance(_) | Kind::Answer { .. }));
            let records = match as_caliper {
                Some(v) => caliper(plan, act, v, &mut self.rng),
                None => vec![xapi(plan, act, xapi_version, &mut self.rng)],
            };
            for mut record in records {
                self.summary.records += 1;
                if arrives.date_naive() > act.time.date_naive() {
                    self.summary.synced_late += 1;
                }
                let spoiled = if self.rng.chance(opts.invalid_share) {
                    self.summary.invalid += 1;
                    if as_caliper.is_some() {
                        corrupt_caliper(&mut record, &mut self.rng);
                    } else {
                        corrupt_xapi(&mut record, &mut self.rng);
                    }
                    true
                } else if self.rng.chance(opts.unknown_share) {
                    self.summary.unknown_actor += 1;
                    unknown_actor(&mut record, as_caliper.is_some(), &mut self.rng);
                    true
                } else {
                    if opted_out {
                        self.summary.opted_out += 1;
                    }
                    false
                };
                if as_caliper.is_some() {
                    events.push((arrives, record));
                    continue;
                }
                if !spoiled && !opted_out {
                    self.extras(&act.kind, &record, arrives, &mut statements);
                }
                statements.push((arrives, record));
            }
        }
        self.queue_xapi(statements, delay);
        if let (Some(v), Some(last)) = (caliper_version, events.iter().map(|(t, _)| *t).max()) {
            let data = events.into_iter().map(|(_, e)| e).collect();
            self.summary.caliper_messages += 1;
            self.enqueue(last, Standard::Caliper, envelope(data, v, last).to_string());
        }
    }

    /// A retried send (a duplicate) or a voiding statement, now and then.
    fn extras(&mut self, kind: &Kind, s: &Value, at: DateTime<Utc>, out: &mut Vec<Timed>) {
        if self.rng.chance(self.opts.duplicate_share) {
            self.summary.duplicates += 1;
            self.summary.records += 1;
            let later = at + Duration::minutes(self.rng.range(1, 60).into());
            self.summary.xapi_messages += 1;
            self.enqueue(later, Standard::Xapi, s.to_string());
        }
        if matches!(kind, Kind::View { .. }) && self.rng.chance(self.opts.void_share) {
            self.summary.voiding += 1;
            self.summary.records += 1;
            let voiding = json!({
                "id": self.rng.uuid().to_string(),
                "actor": s["actor"],
                "verb": {"id": "http://adlnet.gov/expapi/verbs/voided", "display": {"en-US": "voided"}},
                "object": {"objectType": "StatementRef", "id": s["id"]},
                "timestamp": crate::render::time(at + Duration::minutes(2)),
                "version": s["version"],
            });
            out.push((at + Duration::minutes(2), voiding));
        }
    }

    /// Statements sent one per message, or (30 %) together as one array
    /// when the last of them is ready; an offline device's backlog always
    /// goes as one array when it syncs.
    fn queue_xapi(&mut self, statements: Vec<Timed>, synced: Option<DateTime<Utc>>) {
        let (backlog, live): (Vec<_>, Vec<_>) = statements
            .into_iter()
            .partition(|(at, _)| Some(*at) == synced);
        let together = !live.is_empty() && self.rng.chance(0.3);
        for (group, as_array) in [(backlog, true), (live, together)] {
            let Some(last) = group.iter().map(|(t, _)| *t).max() else {
                continue;
            };
            if as_array {
                let array = Value::Array(group.into_iter().map(|(_, s)| s).collect());
                self.summary.xapi_messages += 1;
                self.enqueue(last, Standard::Xapi, array.to_string());
            } else {
                for (at, s) in group {
                    self.summary.xapi_messages += 1;
                    self.enqueue(at, Standard::Xapi, s.to_string());
                }
            }
        }
    }
}
