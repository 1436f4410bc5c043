//! The transport-free aggregate: admits events into window state, emits
//! open windows provisionally, finalises weeks once the watermark passes
//! their end plus the allowed lateness, and says which input messages that
//! releases and what to checkpoint.
//!
//! **Finalisation is per ISO week**: a week's seven daily windows and the
//! weekly window become final together, at the week's end + allowed
//! lateness. A day therefore always counts the same events as its week,
//! and "late" has one meaning: the event's week is final. Daily rows are
//! provisional until then (refreshed every provisional interval).
//!
//! **Restarts**: counted events stay unacknowledged until their week is
//! final, so after a crash they are replayed from the committed offsets.
//! What finalisation changed (history, and the watermark it reached per
//! partition) is checkpointed after the final rows are durable; a replayed
//! event of a week final under its partition's checkpointed watermark was
//! already counted (or sent to the late topic) and is skipped.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, LazyLock};

use lap_runtime::config::{AggregateConfig, FlagConfig};
use lap_runtime::transport::{MessageId, TopicPartition};
use lap_schemas::{Action, EnrichedEvent, IndicatorRow, Role, WindowKind};

use crate::finish::{RowContext, finish};
use crate::history::History;
use crate::sql::{Computed, Queries, SqlError};
use crate::store::{ClassKey, FastSet, Inserted, Store};
use crate::table::{TableInfo, learner_table};
use crate::unchanged::Unchanged;
use crate::watermark::Watermarks;
use crate::window::{Calendar, Day, Window};

/// Runs the queries over one chunk's events; `None` when it has none.
fn compute(
    store: &Store,
    cal: &Calendar,
    queries: &Queries,
    selection: &[(Window, Option<FastSet<ClassKey>>)],
) -> Result<Option<(Vec<Computed>, TableInfo)>, EngineError> {
    let refs: Vec<_> = selection.iter().map(|(w, c)| (*w, c.as_ref())).collect();
    let (batch, info) = learner_table(store, cal, &refs)?;
    if batch.num_rows() == 0 {
        return Ok(None);
    }
    Ok(Some((queries.run(&batch)?, info)))
}

/// Windows with the classes to compute in each (`None`: every class).
type Selected = Vec<(Window, Option<FastSet<ClassKey>>)>;

/// One step of an emission in progress (see [`Engine::step`]). Planning
/// steps expand into the others when they run, so an emission sees the
/// state every step before it left, exactly as if it ran in one call.
#[derive(Debug)]
enum Step {
    /// Plans the provisional rows of every window with new events.
    Provisional { now_ms: i64 },
    /// Plans the final rows of every week that closes at or before `wm`.
    Finalise { wm: i64, now_ms: i64 },
    /// Computes and finishes the rows of one chunk of classes.
    Chunk {
        kind: WindowKind,
        selection: Selected,
        is_final: bool,
        now_ms: i64,
    },
    /// Drops a finalised week's state; its held messages become releasable.
    DropWeek(Window),
    /// Ends a finalisation: hands out the released messages and the
    /// checkpoint of what it changed.
    Checkpoint,
}

/// Failures of the aggregate itself (never caused by one bad event).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// An indicator query failed.
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// Building the `events` table failed.
    #[error("building the events table: {0}")]
    Table(#[from] datafusion::arrow::error::ArrowError),
}

/// Time and privacy settings of the engine.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Allowed lateness, µs.
    pub lateness_us: i64,
    /// Out-of-orderness bound of partition watermarks, µs.
    pub bound_us: i64,
    /// Idle-partition timeout, ms of wall-clock time.
    pub idle_ms: i64,
    /// k of small-group suppression.
    pub min_group_size: u32,
    /// Flag thresholds.
    pub flags: FlagConfig,
    /// Most events one run of the indicator SQL sees. A run's memory (the
    /// Arrow table, DataFusion's hash tables, the computed values) grows
    /// with its events, so a larger emission runs in chunks of whole classes.
    pub chunk_events: usize,
}

impl EngineOptions {
    /// The options of an `[aggregate]` config section.
    pub fn from_config(c: &AggregateConfig) -> EngineOptions {
        EngineOptions {
            lateness_us: c.allowed_lateness_s as i64 * 1_000_000,
            bound_us: c.max_out_of_orderness_s as i64 * 1_000_000,
            idle_ms: c.idle_partition_s as i64 * 1000,
            min_group_size: c.min_group_size,
            flags: c.flags.clone(),
            chunk_events: c.max_query_events.max(1),
        }
    }
}

/// What happened to one admitted event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admitted {
    /// Counted in its windows; its message is held until the week is final.
    Counted,
    /// A voiding event, applied (or waiting for its target); held.
    Voiding,
    /// Same event id as a counted event: counts once.
    Duplicate,
    /// Its void arrived first: never counts.
    AlreadyVoided,
    /// Its week is final: goes to the late topic.
    Late,
    /// Its week was final before a restart: already counted or sent late.
    AlreadyFinal,
    /// Not a learner's event: indicators describe learners.
    NotLearner,
}

impl Admitted {
    /// The input message must stay unacknowledged.
    pub fn holds(self) -> bool {
        matches!(self, Admitted::Counted | Admitted::Voiding)
    }

    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            Admitted::Counted => "counted",
            Admitted::Voiding => "voiding",
            Admitted::Duplicate => "duplicate",
            Admitted::AlreadyVoided => "already_voided",
            Admitted::Late => "late",
            Admitted::AlreadyFinal => "already_final",
            Admitted::NotLearner => "not_learner",
        }
    }
}

/// What one emission produced.
#[derive(Debug, Default)]
pub struct Emission {
    /// Indicator rows, in window order (empty from the `*_into` methods,
    /// which hand them out as they go).
    pub rows: Vec<IndicatorRow>,
    /// Held messages whose weeks are now final.
    pub released: Vec<MessageId>,
    /// State-topic records (key, JSON) to write once the rows are durable.
    pub checkpoint: Vec<(String, String)>,
    /// Provisional rows not handed out because they equal the last row
    /// sent for their key (see [`crate::unchanged`]).
    pub unchanged: usize,
}

/// Runs an emission that streams its rows, collecting them into `rows`.
fn collected(
    run: impl FnOnce(&mut dyn FnMut(IndicatorRow)) -> Result<Emission, EngineError>,
) -> Result<Emission, EngineError> {
    let mut rows = Vec::new();
    let mut emission = run(&mut |row| rows.push(row))?;
    emission.rows = rows;
    Ok(emission)
}

/// Watermark partition of events admitted without a message (backfill).
static LOCAL: LazyLock<TopicPartition> = LazyLock::new(|| TopicPartition {
    topic: Arc::from("local"),
    partition: 0,
});

/// Window state, watermarks, history and the indicator queries.
#[derive(Debug)]
pub struct Engine {
    cal: Calendar,
    opts: EngineOptions,
    queries: Queries,
    /// A second session for batch work: with it, two chunks of an emission
    /// run their SQL at once, one per core (see [`Engine::with_helper`]).
    helper: Option<Queries>,
    store: Store,
    watermarks: Watermarks,
    history: History,
    /// Watermark each partition's weeks were final under before a restart.
    floors: HashMap<TopicPartition, i64>,
    /// Highest watermark finalisation ran at.
    final_wm: i64,
    revision: i64,
    /// Week end + lateness by week start day, cached.
    closes: HashMap<Day, i64>,
    /// The emission in progress, one chunk per [`Engine::step`].
    steps: VecDeque<Step>,
    /// What the finalisation in progress has released and emitted so far.
    finalised: (Vec<MessageId>, usize),
    /// What the open windows' provisional rows last said.
    unchanged: Unchanged,
}

impl Engine {
    /// An empty engine.
    pub fn new(cal: Calendar, opts: EngineOptions, queries: Queries) -> Engine {
        let keep = (opts.flags.falling_windows.max(opts.flags.inactive_days) as usize + 1).max(2);
        Engine {
            watermarks: Watermarks::new(opts.bound_us, opts.idle_ms),
            history: History::new(keep),
            cal,
            opts,
            queries,
            helper: None,
            store: Store::default(),
            floors: HashMap::new(),
            final_wm: i64::MIN,
            revision: 0,
            closes: HashMap::new(),
            steps: VecDeque::new(),
            finalised: (Vec::new(), 0),
            unchanged: Unchanged::default(),
        }
    }

    /// Adds a second query session, so that emissions of several chunks
    /// (a backfill) use two cores. Rows do not change: each chunk is still
    /// one single-partition run, and chunks are finished in order.
    pub fn with_helper(mut self, helper: Queries) -> Engine {
        self.helper = Some(helper);
        self
    }

    /// The indicator queries (to refresh reference tables).
    pub fn queries(&self) -> &Queries {
        &self.queries
    }

    /// Events in window state.
    pub fn events_in_state(&self) -> usize {
        self.store.len()
    }

    /// The instance watermark at input time `input_ms` (see
    /// [`Watermarks`]), if any event was seen.
    pub fn watermark(&self, input_ms: i64) -> Option<i64> {
        self.watermarks.instance(input_ms)
    }

    /// Applies one state-topic record at start; false when the key is unknown.
    pub fn restore(&mut self, key: &str, value: &str) -> bool {
        if let Some(tp) = key.strip_prefix("wm:") {
            let (Ok((topic, partition)), Ok(wm)) = (
                serde_json::from_str::<(String, i32)>(tp),
                value.parse::<i64>(),
            ) else {
                return false;
            };
            let tp = TopicPartition {
                topic: Arc::from(topic),
                partition,
            };
            let floor = self.floors.entry(tp).or_insert(wm);
            *floor = (*floor).max(wm);
            return true;
        }
        self.history.restore(key, value)
    }

    fn closes(&mut self, week: Window) -> i64 {
        let (cal, lateness) = (&self.cal, self.opts.lateness_us);
        *self
            .closes
            .entry(week.first)
            .or_insert_with(|| cal.end(week).saturating_add(lateness))
    }

    /// Admits one event read from `from` (`None` in a backfill) at input
    /// time `input_ms`: the stage's clock of time spent ready for input,
    /// which partition idleness is measured in.
    pub fn admit(
        &mut self,
        e: &EnrichedEvent,
        from: Option<&MessageId>,
        input_ms: i64,
    ) -> Admitted {
        let tp = from.map_or(&*LOCAL, |m| &m.tp);
        self.watermarks.observe(tp, e.event_time, input_ms);
        if e.role != Role::Learner {
            return Admitted::NotLearner;
        }
        let day = self.cal.day_of(e.event_time);
        let closes = self.closes(Window::of(WindowKind::Weekly, day));
        if self.floors.get(tp).is_some_and(|f| closes <= *f) {
            return Admitted::AlreadyFinal;
        }
        if closes <= self.final_wm {
            return Admitted::Late;
        }
        let (admitted, held_on) = match (&e.action, &e.voids) {
            (Action::Voided, Some(target)) => (
                Admitted::Voiding,
                self.store.void(target, day).unwrap_or(day),
            ),
            _ => match self.store.insert(day, e) {
                Inserted::Added => (Admitted::Counted, day),
                Inserted::Duplicate => return Admitted::Duplicate,
                Inserted::AlreadyVoided => return Admitted::AlreadyVoided,
            },
        };
        if let Some(m) = from {
            self.store.day_mut(held_on).held.push(m.clone());
        }
        admitted
    }

    fn next_revision(&mut self, now_us: i64) -> i64 {
        self.revision = (self.revision + 1).max(now_us);
        self.revision
    }

    /// True while an emission begun with a `begin_*` method has steps left.
    pub fn emitting(&self) -> bool {
        !self.steps.is_empty()
    }

    /// Runs the emission in progress up to and including its next chunk of
    /// classes (two with a helper session, one per core; see
    /// [`EngineOptions::chunk_events`]), handing that chunk's rows to `out`.
    /// The service hands them to the producer before it calls again, so
    /// only one chunk's rows are ever in memory. The messages a
    /// finalisation releases and its checkpoint come with the call that
    /// ends it; otherwise the
    /// returned [`Emission`] is empty. Nothing else may touch the engine
    /// until [`Engine::emitting`] is false.
    pub fn step(&mut self, out: &mut dyn FnMut(IndicatorRow)) -> Result<Emission, EngineError> {
        let mut done = Emission::default();
        while let Some(step) = self.steps.pop_front() {
            match step {
                Step::Provisional { now_ms } => self.plan_provisional(now_ms),
                Step::Finalise { wm, now_ms } => self.plan_finalise(wm, now_ms),
                Step::DropWeek(week) => {
                    self.finalised.0.extend(self.store.drop_week(week));
                    self.closes.remove(&week.first);
                    self.unchanged.forget_until(self.cal.end(week));
                }
                Step::Checkpoint => {
                    let em = self.checkpoint();
                    done.released.extend(em.released);
                    done.checkpoint.extend(em.checkpoint);
                }
                Step::Chunk {
                    kind,
                    selection,
                    is_final,
                    now_ms,
                } => {
                    let mut chunks = vec![selection];
                    if self.helper.is_some()
                        && let Some(Step::Chunk {
                            kind: k,
                            is_final: f,
                            ..
                        }) = self.steps.front()
                        && (*k, *f) == (kind, is_final)
                        && let Some(Step::Chunk { selection, .. }) = self.steps.pop_front()
                    {
                        chunks.push(selection);
                    }
                    done.unchanged = self.run_chunks(kind, &chunks, is_final, now_ms, out)?;
                    return Ok(done);
                }
            }
        }
        Ok(done)
    }

    /// Computes `chunks` (the second one on the helper session, at the same
    /// time) and finishes their rows in order, leaving out provisional rows
    /// that repeat the last ones sent; returns how many it left out.
    fn run_chunks(
        &mut self,
        kind: WindowKind,
        chunks: &[Selected],
        is_final: bool,
        now_ms: i64,
        out: &mut dyn FnMut(IndicatorRow),
    ) -> Result<usize, EngineError> {
        let (store, cal, queries) = (&self.store, &self.cal, &self.queries);
        let computed = match (&self.helper, chunks) {
            (Some(helper), [first, second]) => std::thread::scope(|s| {
                let other = s.spawn(|| compute(store, cal, helper, second));
                let first = compute(store, cal, queries, first);
                vec![first, other.join().expect("query thread panicked")]
            }),
            _ => chunks
                .iter()
                .map(|c| compute(store, cal, queries, c))
                .collect(),
        };
        let mut repeats = 0;
        for (chunk, done) in chunks.iter().zip(computed) {
            if let Some((computed, info)) = done? {
                let finished = self.finish_chunk(kind, chunk, computed, &info, is_final, now_ms);
                if is_final {
                    self.finalised.1 += finished.len();
                }
                for row in finished {
                    if self.unchanged.is_repeat(&row) {
                        repeats += 1;
                    } else {
                        out(row);
                    }
                }
            }
        }
        Ok(repeats)
    }

    /// Queues a step for every chunk of `selection` (one window kind) in
    /// `planned`, in order.
    fn plan_rows(
        &self,
        planned: &mut Vec<Step>,
        kind: WindowKind,
        selection: &[(Window, Option<FastSet<ClassKey>>)],
        is_final: bool,
        now_ms: i64,
    ) {
        planned.extend(
            self.chunks(selection)
                .into_iter()
                .map(|selection| Step::Chunk {
                    kind,
                    selection,
                    is_final,
                    now_ms,
                }),
        );
    }

    /// Puts `planned` at the front of the queue, in order.
    fn run_next(&mut self, planned: Vec<Step>) {
        for step in planned.into_iter().rev() {
            self.steps.push_front(step);
        }
    }

    /// Runs every step left, for callers that collect a whole emission.
    fn drain(&mut self, out: &mut dyn FnMut(IndicatorRow)) -> Result<Emission, EngineError> {
        let mut all = Emission::default();
        while self.emitting() {
            let em = self.step(out)?;
            all.released.extend(em.released);
            all.checkpoint.extend(em.checkpoint);
            all.unchanged += em.unchanged;
        }
        Ok(all)
    }

    /// Splits `selection` into selections of whole classes with about
    /// `chunk_events` events each. Every query groups by class, so the
    /// rows do not depend on the split.
    fn chunks(&self, selection: &[(Window, Option<FastSet<ClassKey>>)]) -> Vec<Selected> {
        let mut per_class: BTreeMap<&ClassKey, usize> = BTreeMap::new();
        for (window, classes) in selection {
            for state in window.days().filter_map(|d| self.store.day(d)) {
                for (class, slot) in &state.classes {
                    if classes.as_ref().is_none_or(|set| set.contains(class)) {
                        *per_class.entry(class).or_default() += slot.events.len();
                    }
                }
            }
        }
        let mut groups: Vec<FastSet<ClassKey>> = vec![FastSet::default()];
        let mut size = 0;
        for (class, n) in per_class {
            if size > 0 && size + n > self.opts.chunk_events {
                groups.push(FastSet::default());
                size = 0;
            }
            groups.last_mut().expect("one group").insert(class.clone());
            size += n;
        }
        if groups.len() == 1 {
            return vec![selection.to_vec()];
        }
        groups
            .iter()
            .map(|group| {
                selection
                    .iter()
                    .map(|(w, classes)| {
                        let part = match classes {
                            Some(set) => set.intersection(group).cloned().collect(),
                            None => group.clone(),
                        };
                        (*w, Some(part))
                    })
                    .collect()
            })
            .collect()
    }

    /// Finishes the computed values of one chunk into rows.
    fn finish_chunk(
        &mut self,
        kind: WindowKind,
        selection: &[(Window, Option<FastSet<ClassKey>>)],
        computed: Vec<Computed>,
        info: &TableInfo,
        is_final: bool,
        now_ms: i64,
    ) -> Vec<IndicatorRow> {
        let ends: HashMap<i64, i64> = selection
            .iter()
            .map(|(w, _)| (self.cal.start(*w), self.cal.end(*w)))
            .collect();
        let now_us = now_ms.saturating_mul(1000);
        let ctx = RowContext {
            kind,
            ends: &ends,
            time_zone: self.cal.name(),
            revision: self.next_revision(now_us),
            emitted: now_us,
            is_final,
            min_group_size: self.opts.min_group_size,
            flags: &self.opts.flags,
        };
        finish(&ctx, computed, info, &mut self.history)
    }

    /// Emits every open window with events since the last call, provisionally.
    pub fn provisional(&mut self, now_ms: i64) -> Result<Emission, EngineError> {
        collected(|out| self.provisional_into(now_ms, out))
    }

    /// [`Engine::provisional`] handing the rows to `out` chunk by chunk
    /// instead of collecting them. The returned `rows` is empty.
    pub fn provisional_into(
        &mut self,
        now_ms: i64,
        out: &mut dyn FnMut(IndicatorRow),
    ) -> Result<Emission, EngineError> {
        self.begin_provisional(now_ms);
        self.drain(out)
    }

    /// Begins [`Engine::provisional`], to be run with [`Engine::step`].
    pub fn begin_provisional(&mut self, now_ms: i64) {
        self.steps.push_back(Step::Provisional { now_ms });
    }

    fn plan_provisional(&mut self, now_ms: i64) {
        let mut daily = Vec::new();
        let mut weekly: BTreeMap<Window, FastSet<ClassKey>> = BTreeMap::new();
        for (day, state) in self.store.days() {
            if state.dirty.is_empty() {
                continue;
            }
            daily.push((
                Window::of(WindowKind::Daily, day),
                Some(state.dirty.clone()),
            ));
            weekly
                .entry(Window::of(WindowKind::Weekly, day))
                .or_default()
                .extend(state.dirty.iter().cloned());
        }
        self.store.clear_dirty();
        let weekly: Vec<_> = weekly.into_iter().map(|(w, c)| (w, Some(c))).collect();
        let mut planned = Vec::new();
        self.plan_rows(&mut planned, WindowKind::Daily, &daily, false, now_ms);
        self.plan_rows(&mut planned, WindowKind::Weekly, &weekly, false, now_ms);
        self.run_next(planned);
    }

    /// Finalises the weeks the watermark at `now_ms` has passed, input
    /// time and wall clock being the same (tests, a single batch).
    pub fn finalise_due(&mut self, now_ms: i64) -> Result<Emission, EngineError> {
        self.begin_finalise_due(now_ms, now_ms);
        collected(|out| self.drain(out))
    }

    /// Begins finalising the weeks the watermark at input time `input_ms`
    /// has passed, to be run with [`Engine::step`]; `now_ms` (wall clock)
    /// stamps the rows. Returns that watermark, if there is one yet.
    pub fn begin_finalise_due(&mut self, input_ms: i64, now_ms: i64) -> Option<i64> {
        let wm = self.watermarks.instance(input_ms)?;
        self.steps.push_back(Step::Finalise { wm, now_ms });
        Some(wm)
    }

    /// Finalises every open week (the input has ended, or a backfill).
    pub fn finalise_all(&mut self, now_ms: i64) -> Result<Emission, EngineError> {
        collected(|out| self.finalise_all_into(now_ms, out))
    }

    /// [`Engine::finalise_all`] handing the rows to `out` chunk by chunk.
    pub fn finalise_all_into(
        &mut self,
        now_ms: i64,
        out: &mut dyn FnMut(IndicatorRow),
    ) -> Result<Emission, EngineError> {
        self.begin_finalise_all(now_ms);
        self.drain(out)
    }

    /// Begins [`Engine::finalise_all`], to be run with [`Engine::step`].
    pub fn begin_finalise_all(&mut self, now_ms: i64) {
        self.steps.push_back(Step::Finalise {
            wm: i64::MAX,
            now_ms,
        });
    }

    fn plan_finalise(&mut self, wm: i64, now_ms: i64) {
        self.final_wm = self.final_wm.max(wm);
        let weeks: BTreeSet<Window> = self
            .store
            .days()
            .map(|(d, _)| Window::of(WindowKind::Weekly, d))
            .collect();
        let mut planned = Vec::new();
        for week in weeks {
            if self.closes(week) > self.final_wm {
                break;
            }
            tracing::info!(
                week = %week.first,
                watermark = %crate::watermark::instant(self.final_wm),
                partitions = %self.watermarks.describe(),
                "week final"
            );
            let days: Vec<_> = week
                .days()
                .filter(|d| self.store.day(*d).is_some())
                .map(|d| (Window::of(WindowKind::Daily, d), None))
                .collect();
            self.plan_rows(&mut planned, WindowKind::Daily, &days, true, now_ms);
            self.plan_rows(
                &mut planned,
                WindowKind::Weekly,
                &[(week, None)],
                true,
                now_ms,
            );
            planned.push(Step::DropWeek(week));
        }
        planned.push(Step::Checkpoint);
        self.run_next(planned);
    }

    /// The end of a finalisation: the messages it released and, when it
    /// changed anything, the checkpoint (history and the watermark reached).
    fn checkpoint(&mut self) -> Emission {
        let (released, rows) = std::mem::take(&mut self.finalised);
        let mut out = Emission {
            released,
            ..Emission::default()
        };
        if rows > 0 || !out.released.is_empty() {
            out.checkpoint = self.history.take_changes();
            let wm = self.final_wm.to_string();
            for tp in self.watermarks.partitions() {
                let key = serde_json::to_string(&(&*tp.topic, tp.partition)).expect("serialises");
                out.checkpoint.push((format!("wm:{key}"), wm.clone()));
            }
        }
        out
    }

    /// Backfill: admits `events` and finalises every week.
    pub fn run_batch<'a>(
        &mut self,
        events: impl IntoIterator<Item = &'a EnrichedEvent>,
        now_ms: i64,
    ) -> Result<Emission, EngineError> {
        for e in events {
            self.admit(e, None, now_ms);
        }
        self.finalise_all(now_ms)
    }
}
