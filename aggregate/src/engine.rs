//! The transport-free aggregate: admits events into their partition's
//! [`Task`], emits open windows provisionally, finalises a task's weeks
//! once its own partition's watermark passes their end plus the allowed
//! lateness, and says which input messages that releases and what to write
//! to the task's changelog.
//!
//! **Finalisation is per ISO week**: a week's seven daily windows and the
//! weekly window become final together, at the week's end + allowed
//! lateness. A day therefore always counts the same events as its week,
//! and "late" has one meaning: the event's week is final. Daily rows are
//! provisional until then (refreshed every provisional interval).
//!
//! **Partitions move**: [`Engine::restore`] and [`Engine::assign`] build a
//! task from its changelog when its partition is assigned,
//! [`Engine::revoke`] drops it. Counted events stay unacknowledged until
//! their week is final, so the new owner (or the same instance after a
//! crash) reads them again from the committed offset; what finalisation
//! changed is written to the changelog once the final rows are durable.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, LazyLock};

use lap_runtime::config::{AggregateConfig, FlagConfig};
use lap_runtime::transport::{MessageId, TopicPartition};
use lap_schemas::{EnrichedEvent, IndicatorRow, WindowKind};

use crate::changelog::Restored;
use crate::finish::{Earlier, RowContext, finish};
use crate::history::History;
use crate::lookback::{Lookback, week_facts};
use crate::reference::{Members, Reference};
use crate::revision::{Revisions, next_epoch};
use crate::sql::{Computed, Queries, RunInput, SqlError};
use crate::store::{ClassKey, FastMap, FastSet, Store};
use crate::table::{TableInfo, learner_table};
use crate::task::Task;
use crate::watermark::{Watermark, instant};
use crate::window::{Calendar, Day, Window};

/// What a chunk's rows are computed from besides its events.
struct ChunkInput<'a> {
    store: &'a Store,
    history: &'a History,
    members: &'a BTreeMap<String, Members>,
    /// Evidence is complete up to here (UTC µs).
    watermark: i64,
}

/// A chunk computed: values, what the table said, the open days.
type ChunkRows = (Vec<Computed>, TableInfo, Lookback);

/// Runs the queries over one chunk's events; `None` when it has none.
fn compute(
    input: &ChunkInput<'_>,
    cal: &Calendar,
    queries: &Queries,
    selection: &[(Window, Option<FastSet<ClassKey>>)],
) -> Result<Option<ChunkRows>, EngineError> {
    let refs: Vec<_> = selection.iter().map(|(w, c)| (*w, c.as_ref())).collect();
    let (batch, info) = learner_table(input.store, cal, &refs)?;
    if batch.num_rows() == 0 {
        return Ok(None);
    }
    let until = selection
        .iter()
        .map(|(w, _)| Window::of(WindowKind::Weekly, w.first).end_day())
        .max()
        .unwrap_or(Day(i32::MAX));
    let lookback = Lookback::build(input.store, cal, &info.classes, until);
    let members = info
        .classes
        .iter()
        .filter_map(|c| Some((c, input.members.get(&**c)?)))
        .flat_map(|(c, m)| {
            let school: Option<Arc<str>> = m.school.as_deref().map(Arc::from);
            m.learners
                .iter()
                .map(move |l| (c.clone(), school.clone(), Arc::from(l.as_str())))
        })
        .collect();
    let run = RunInput {
        members,
        work: lookback.work(input.history, &info.classes),
        watermark: input.watermark,
    };
    Ok(Some((queries.run(&batch, &run)?, info, lookback)))
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
    /// Plans the final rows of every task's weeks that close at or before
    /// its watermark at input time `input_ms` (every week when `None`).
    Finalise { input_ms: Option<i64>, now_ms: i64 },
    /// Computes and finishes the rows of one chunk of a task's classes.
    Chunk {
        task: TopicPartition,
        kind: WindowKind,
        selection: Selected,
        is_final: bool,
        now_ms: i64,
    },
    /// Drops a finalised week's state; its held messages become releasable.
    DropWeek(TopicPartition, Window),
    /// Ends a task's finalisation: hands out the released messages and the
    /// changelog records of what it changed.
    Checkpoint(TopicPartition),
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
    /// After this many ms of the stage's input time without an event, a
    /// partition's watermark follows the input clock.
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

/// A changelog record: the partition (the task's input partition number),
/// key and value.
pub type ChangelogRecord = (i32, String, String);

/// A partition taken on by [`Engine::assign`].
#[derive(Debug)]
pub struct Assigned {
    /// The changelog record fencing earlier owners.
    pub record: ChangelogRecord,
    /// The task's epoch.
    pub epoch: i64,
    /// Changelog records read.
    pub records: u64,
    /// Of them, written by owners that had already lost the partition.
    pub stale: u64,
    /// Of them, not understood.
    pub unknown: u64,
}

/// What one emission produced.
#[derive(Debug, Default)]
pub struct Emission {
    /// Indicator rows, in window order (empty from the `*_into` methods,
    /// which hand them out as they go).
    pub rows: Vec<IndicatorRow>,
    /// Held messages whose weeks are now final.
    pub released: Vec<MessageId>,
    /// Changelog records to write once the rows are durable.
    pub checkpoint: Vec<ChangelogRecord>,
    /// Provisional rows not handed out because they equal the last row
    /// sent for their key (see [`crate::unchanged`]).
    pub unchanged: usize,
    /// Flags raised on a row that did not have them, by code.
    pub raised: BTreeMap<String, u64>,
    /// Flags a row had and no longer has, by code.
    pub cleared: BTreeMap<String, u64>,
}

impl Emission {
    /// Adds `other`'s counts and hand-outs to this one.
    fn absorb(&mut self, other: Emission) {
        self.released.extend(other.released);
        self.checkpoint.extend(other.checkpoint);
        self.unchanged += other.unchanged;
        for (mine, theirs) in [
            (&mut self.raised, other.raised),
            (&mut self.cleared, other.cleared),
        ] {
            for (code, n) in theirs {
                *mine.entry(code).or_default() += n;
            }
        }
    }
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

/// The task of events admitted without a message (a batch run).
static LOCAL: LazyLock<TopicPartition> = LazyLock::new(|| TopicPartition {
    topic: Arc::from("local"),
    partition: -1,
});

/// The indicator queries and the tasks of the partitions this instance owns.
#[derive(Debug)]
pub struct Engine {
    cal: Calendar,
    opts: EngineOptions,
    queries: Queries,
    /// A second DataFusion session for batch work: with it, two chunks of an emission
    /// run their SQL at once, one per core (see [`Engine::with_helper`]).
    helper: Option<Queries>,
    tasks: BTreeMap<TopicPartition, Task>,
    /// Class lists from the roster.
    members: Arc<BTreeMap<String, Members>>,
    /// Changelogs being read back, by partition.
    restoring: HashMap<TopicPartition, Restored>,
    /// Revisions of a batch run, from its start; `None` in a stream.
    batch: Option<Revisions>,
    /// The emission in progress, one chunk per [`Engine::step`].
    steps: VecDeque<Step>,
}

impl Engine {
    /// An engine owning no partition yet.
    pub fn new(cal: Calendar, opts: EngineOptions, queries: Queries) -> Engine {
        Engine {
            cal,
            opts,
            queries,
            helper: None,
            tasks: BTreeMap::new(),
            members: Arc::default(),
            restoring: HashMap::new(),
            batch: None,
            steps: VecDeque::new(),
        }
    }

    /// Adds a second DataFusion session, so that emissions of several chunks
    /// (a backfill) use two cores. Rows do not change: each chunk is still
    /// one single-partition run, and chunks are finished in order.
    pub fn with_helper(mut self, helper: Queries) -> Engine {
        self.helper = Some(helper);
        self
    }

    /// Takes the curriculum, questionnaire and class lists of `reference`.
    pub fn set_reference(&mut self, reference: &Reference) -> Result<(), SqlError> {
        self.queries.set_reference(reference)?;
        if let Some(helper) = &self.helper {
            helper.set_reference(reference)?;
        }
        self.members = Arc::new(reference.members.clone());
        Ok(())
    }

    /// Events in window state, over every task.
    pub fn events_in_state(&self) -> usize {
        self.tasks.values().map(|t| t.store.len()).sum()
    }

    /// The partitions this engine holds a task for.
    pub fn partitions(&self) -> impl Iterator<Item = &TopicPartition> {
        self.tasks.keys()
    }

    /// The watermark of `tp`'s task at input time `input_ms`, if it has
    /// read an event.
    pub fn watermark(&self, tp: &TopicPartition, input_ms: i64) -> Option<i64> {
        self.tasks.get(tp)?.watermark.at(input_ms)
    }

    /// Windows kept per learner and class day in history.
    fn keep(&self) -> usize {
        let f = &self.opts.flags;
        (f.falling_windows.max(f.inactive_days) as usize + 1).max(2)
    }

    fn new_watermark(&self) -> Watermark {
        Watermark::new(self.opts.bound_us, self.opts.idle_ms)
    }

    /// Applies the next record of `tp`'s changelog while `tp` is being
    /// assigned (see [`crate::changelog`]).
    pub fn restore(&mut self, tp: &TopicPartition, key: &str, value: Option<&str>) {
        let keep = self.keep();
        self.restoring
            .entry(tp.clone())
            .or_insert_with(|| Restored::new(History::new(keep)))
            .apply(key, value);
    }

    /// Takes `tp` on with what its changelog held, in an epoch above every
    /// earlier owner's (wall clock `now_ms`). The returned record fences
    /// them: it must be durable before the task emits anything.
    pub fn assign(&mut self, tp: &TopicPartition, now_ms: i64) -> Assigned {
        let keep = self.keep();
        let restored = self
            .restoring
            .remove(tp)
            .unwrap_or_else(|| Restored::new(History::new(keep)));
        let epoch = next_epoch(restored.epoch, now_ms);
        let assigned = Assigned {
            record: (tp.partition, String::new(), String::new()),
            epoch,
            records: restored.records,
            stale: restored.stale,
            unknown: restored.unknown,
        };
        let task = Task::new(restored, Revisions::stream(epoch), self.new_watermark());
        let (key, value) = task.task_record();
        self.tasks.insert(tp.clone(), task);
        Assigned {
            record: (tp.partition, key, value),
            ..assigned
        }
    }

    /// Drops `tp`'s task: its open windows, its held messages (which its
    /// next owner reads again) and its history (in the changelog).
    pub fn revoke(&mut self, tp: &TopicPartition) {
        self.tasks.remove(tp);
        self.restoring.remove(tp);
    }

    /// The task of `tp`, created without a changelog when the transport
    /// never announced the partition (a batch run, or a test feeding
    /// messages by hand).
    fn task_mut(&mut self, tp: &TopicPartition, now_ms: i64) -> &mut Task {
        if !self.tasks.contains_key(tp) {
            let keep = self.keep();
            let revisions = self
                .batch
                .unwrap_or_else(|| Revisions::stream(next_epoch(0, now_ms)));
            let task = Task::new(
                Restored::new(History::new(keep)),
                revisions,
                self.new_watermark(),
            );
            self.tasks.insert(tp.clone(), task);
        }
        self.tasks.get_mut(tp).expect("inserted above")
    }

    /// Admits one event read from `from` (`None` in a batch run) at input
    /// time `input_ms`: the stage's clock of time spent ready for input,
    /// which partition idleness is measured in.
    pub fn admit(
        &mut self,
        e: &EnrichedEvent,
        from: Option<&MessageId>,
        input_ms: i64,
    ) -> Admitted {
        let tp = from.map_or(&*LOCAL, |m| &m.tp).clone();
        let (lateness, cal) = (self.opts.lateness_us, self.cal.clone());
        self.task_mut(&tp, crate::revision::now_ms())
            .admit(&cal, lateness, e, from, input_ms)
    }

    /// True while an emission begun with a `begin_*` method has steps left.
    pub fn emitting(&self) -> bool {
        !self.steps.is_empty()
    }

    /// Runs the emission in progress up to and including its next chunk of
    /// classes (two with a second DataFusion session, one per core; see
    /// [`EngineOptions::chunk_events`]), handing that chunk's rows to `out`.
    /// The service hands them to the producer before it calls again, so
    /// only one chunk's rows are ever in memory. The messages a
    /// finalisation releases and its changelog records come with the call
    /// that ends a task's finalisation; otherwise the returned
    /// [`Emission`] is empty. Nothing else may touch the engine until
    /// [`Engine::emitting`] is false.
    pub fn step(&mut self, out: &mut dyn FnMut(IndicatorRow)) -> Result<Emission, EngineError> {
        let mut done = Emission::default();
        while let Some(step) = self.steps.pop_front() {
            match step {
                Step::Provisional { now_ms } => self.plan_provisional(now_ms),
                Step::Finalise { input_ms, now_ms } => self.plan_finalise(input_ms, now_ms),
                Step::DropWeek(tp, week) => {
                    if let Some(task) = self.tasks.get_mut(&tp) {
                        let (cal, lookback) = (&self.cal, self.opts.flags.absence_lookback_days);
                        let week_end = cal.end(week);
                        let classes: BTreeSet<Arc<str>> = week
                            .days()
                            .filter_map(|d| task.store.day(d))
                            .flat_map(|d| d.classes.keys().flatten().cloned())
                            .collect();
                        for class in &classes {
                            let facts = week_facts(&task.store, cal, week, class);
                            task.history
                                .record_week(class, facts, week_end, lookback as usize);
                        }
                        task.finalised.0.extend(task.store.drop_week(week));
                        task.forget_week(week);
                        task.unchanged.forget_until(self.cal.end(week));
                    }
                }
                Step::Checkpoint(tp) => {
                    if let Some(task) = self.tasks.get_mut(&tp) {
                        task.history.forget_departed(&self.members);
                        let (released, rows) = std::mem::take(&mut task.finalised);
                        let changed = rows > 0 || !released.is_empty();
                        done.released.extend(released);
                        if changed && tp != *LOCAL {
                            let records = task.checkpoint().into_iter();
                            done.checkpoint
                                .extend(records.map(|(k, v)| (tp.partition, k, v)));
                        }
                    }
                }
                Step::Chunk {
                    task,
                    kind,
                    selection,
                    is_final,
                    now_ms,
                } => {
                    let mut chunks = vec![selection];
                    if self.helper.is_some()
                        && let Some(Step::Chunk {
                            task: t,
                            kind: k,
                            is_final: f,
                            ..
                        }) = self.steps.front()
                        && (t, *k, *f) == (&task, kind, is_final)
                        && let Some(Step::Chunk { selection, .. }) = self.steps.pop_front()
                    {
                        chunks.push(selection);
                    }
                    done.absorb(self.run_chunks(&task, kind, &chunks, is_final, now_ms, out)?);
                    return Ok(done);
                }
            }
        }
        Ok(done)
    }

    /// Computes `chunks` of `tp`'s task (the second one on the second
    /// DataFusion session, at the same time) and finishes their rows in order, leaving
    /// out provisional rows that repeat the last ones sent; returns what
    /// it left out and the flags it raised and cleared.
    fn run_chunks(
        &mut self,
        tp: &TopicPartition,
        kind: WindowKind,
        chunks: &[Selected],
        is_final: bool,
        now_ms: i64,
        out: &mut dyn FnMut(IndicatorRow),
    ) -> Result<Emission, EngineError> {
        let mut done = Emission::default();
        let Some(task) = self.tasks.get_mut(tp) else {
            return Ok(done);
        };
        let watermark = if is_final { i64::MAX } else { task.current_wm };
        let input = ChunkInput {
            store: &task.store,
            history: &task.history,
            members: &self.members,
            watermark,
        };
        let (cal, queries) = (&self.cal, &self.queries);
        let computed = match (&self.helper, chunks) {
            (Some(helper), [first, second]) => std::thread::scope(|s| {
                let other = s.spawn(|| compute(&input, cal, helper, second));
                let first = compute(&input, cal, queries, first);
                vec![first, other.join().expect("query thread panicked")]
            }),
            _ => chunks
                .iter()
                .map(|c| compute(&input, cal, queries, c))
                .collect(),
        };
        for (chunk, computed) in chunks.iter().zip(computed) {
            let Some((computed, info, lookback)) = computed? else {
                continue;
            };
            let ends: HashMap<i64, i64> = chunk
                .iter()
                .map(|(w, _)| (self.cal.start(*w), self.cal.end(*w)))
                .collect();
            let ctx = RowContext {
                kind,
                ends: &ends,
                cal: &self.cal,
                revision: task.revisions.take(),
                emitted: now_ms.saturating_mul(1000),
                is_final,
                watermark,
                min_group_size: self.opts.min_group_size,
                flags: &self.opts.flags,
            };
            let mut earlier = Earlier {
                history: &mut task.history,
                lookback: &lookback,
                members: &self.members,
            };
            let finished = finish(&ctx, computed, &info, &mut earlier);
            if is_final {
                task.finalised.1 += finished.len();
            }
            for mut row in finished {
                let settled = task.unchanged.settle(&mut row);
                for (counts, codes) in [
                    (&mut done.raised, settled.raised),
                    (&mut done.cleared, settled.cleared),
                ] {
                    for code in codes {
                        *counts.entry(code).or_default() += 1;
                    }
                }
                if settled.repeat {
                    done.unchanged += 1;
                } else {
                    out(row);
                }
            }
        }
        Ok(done)
    }

    /// Queues a step for every chunk of `selection` (one window kind of
    /// `tp`'s task) in `planned`, in order.
    fn plan_rows(
        &self,
        planned: &mut Vec<Step>,
        tp: &TopicPartition,
        kind: WindowKind,
        selection: &[(Window, Option<FastSet<ClassKey>>)],
        is_final: bool,
        now_ms: i64,
    ) {
        let Some(task) = self.tasks.get(tp) else {
            return;
        };
        planned.extend(
            chunks(&task.store, selection, self.opts.chunk_events)
                .into_iter()
                .map(|selection| Step::Chunk {
                    task: tp.clone(),
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
            all.absorb(self.step(out)?);
        }
        Ok(all)
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
        let mut planned = Vec::new();
        let tps: Vec<TopicPartition> = self.tasks.keys().cloned().collect();
        for tp in &tps {
            let task = self.tasks.get_mut(tp).expect("listed above");
            // Days that ended since the last provisional emission: their
            // rows' flags may now be judged (inactive the morning after).
            let ended = (task.judged_wm, task.current_wm);
            let daily = stale_windows(&task.store, &self.cal, ended);
            task.judged_wm = task.judged_wm.max(task.current_wm);
            task.store.clear_dirty();
            let mut weekly: BTreeMap<Window, FastSet<ClassKey>> = BTreeMap::new();
            for (day, classes) in &daily {
                weekly
                    .entry(Window::of(WindowKind::Weekly, day.first))
                    .or_default()
                    .extend(classes.iter().flatten().cloned());
            }
            let weekly: Vec<_> = weekly.into_iter().map(|(w, c)| (w, Some(c))).collect();
            self.plan_rows(&mut planned, tp, WindowKind::Daily, &daily, false, now_ms);
            self.plan_rows(&mut planned, tp, WindowKind::Weekly, &weekly, false, now_ms);
        }
        self.run_next(planned);
    }

    /// Finalises the weeks each task's watermark at `now_ms` has passed,
    /// input time and wall clock being the same (tests, a single batch).
    pub fn finalise_due(&mut self, now_ms: i64) -> Result<Emission, EngineError> {
        self.begin_finalise_due(now_ms, now_ms);
        collected(|out| self.drain(out))
    }

    /// Begins finalising the weeks each task's watermark at input time
    /// `input_ms` has passed, to be run with [`Engine::step`]; `now_ms`
    /// (wall clock) stamps the rows.
    pub fn begin_finalise_due(&mut self, input_ms: i64, now_ms: i64) {
        self.steps.push_back(Step::Finalise {
            input_ms: Some(input_ms),
            now_ms,
        });
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
            input_ms: None,
            now_ms,
        });
    }

    fn plan_finalise(&mut self, input_ms: Option<i64>, now_ms: i64) {
        let mut planned = Vec::new();
        let tps: Vec<TopicPartition> = self.tasks.keys().cloned().collect();
        for tp in &tps {
            let (cal, lateness) = (self.cal.clone(), self.opts.lateness_us);
            let task = self.tasks.get_mut(tp).expect("listed above");
            let wm = match input_ms {
                None => i64::MAX,
                Some(t) => match task.watermark.at(t) {
                    Some(wm) => wm,
                    None => continue,
                },
            };
            task.current_wm = wm;
            task.final_wm = task.final_wm.max(wm);
            let weeks: BTreeSet<Window> = task
                .store
                .days()
                .map(|(d, _)| Window::of(WindowKind::Weekly, d))
                .collect();
            let mut due = Vec::new();
            for week in weeks {
                if task.closes(&cal, lateness, week) > task.final_wm {
                    break;
                }
                // A stream's weeks close on its watermark: say why.
                if let Some(input_ms) = input_ms {
                    tracing::info!(
                        partition = %format!("{}/{}", tp.topic, tp.partition),
                        week = %week.first,
                        watermark = %instant(task.final_wm),
                        progress = %task.watermark.describe(input_ms),
                        "week final"
                    );
                }
                let days: Vec<_> = week
                    .days()
                    .filter(|d| task.store.day(*d).is_some())
                    .map(|d| (Window::of(WindowKind::Daily, d), None))
                    .collect();
                due.push((week, days));
            }
            for (week, days) in due {
                self.plan_rows(&mut planned, tp, WindowKind::Daily, &days, true, now_ms);
                self.plan_rows(
                    &mut planned,
                    tp,
                    WindowKind::Weekly,
                    &[(week, None)],
                    true,
                    now_ms,
                );
                planned.push(Step::DropWeek(tp.clone(), week));
            }
            planned.push(Step::Checkpoint(tp.clone()));
        }
        self.run_next(planned);
    }

    /// Backfill: admits `events` into one task whose revisions rank above
    /// every stream's, and finalises every week.
    pub fn run_batch<'a>(
        &mut self,
        events: impl IntoIterator<Item = &'a EnrichedEvent>,
        now_ms: i64,
    ) -> Result<Emission, EngineError> {
        self.batch = Some(Revisions::batch(now_ms.saturating_mul(1000)));
        for e in events {
            self.admit(e, None, now_ms);
        }
        self.finalise_all(now_ms)
    }
}

/// The daily windows a provisional emission recomputes, with their
/// classes: every class of a day that ended in the watermark range `ended`
/// (its flags can now be judged), and every class with a new event on the
/// day or on an earlier open day (a day's flags look back on the days
/// before it), widened to every class of the same school on the day
/// (school rows need them all).
fn stale_windows(store: &Store, cal: &Calendar, ended: (i64, i64)) -> Selected {
    let mut first_dirty: FastMap<ClassKey, Day> = FastMap::default();
    for (day, state) in store.days() {
        for class in &state.dirty {
            first_dirty.entry(class.clone()).or_insert(day);
        }
    }
    let mut out = Vec::new();
    for (day, state) in store.days() {
        let end = cal.end(Window::of(WindowKind::Daily, day));
        let just_ended = ended.0 < end && end <= ended.1;
        let stale: FastSet<ClassKey> = state
            .classes
            .keys()
            .filter(|c| just_ended || first_dirty.get(*c).is_some_and(|d| *d <= day))
            .cloned()
            .collect();
        if stale.is_empty() {
            continue;
        }
        let schools: FastSet<&Arc<str>> = stale
            .iter()
            .filter_map(|c| state.classes.get(c)?.school.as_ref())
            .collect();
        let widened: FastSet<ClassKey> = state
            .classes
            .iter()
            .filter(|(c, slot)| {
                stale.contains(*c) || slot.school.as_ref().is_some_and(|s| schools.contains(s))
            })
            .map(|(c, _)| c.clone())
            .collect();
        out.push((Window::of(WindowKind::Daily, day), Some(widened)));
    }
    out
}

/// Splits `selection` into selections of whole schools with about
/// `chunk_events` events each (a class without a school on its own).
/// Every query groups by class or school, so the rows do not depend on the
/// split.
fn chunks(
    store: &Store,
    selection: &[(Window, Option<FastSet<ClassKey>>)],
    chunk_events: usize,
) -> Vec<Selected> {
    /// A chunk's unit: a school, or a class without one.
    #[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
    enum Unit {
        School(Arc<str>),
        Class(ClassKey),
    }
    let mut per_unit: BTreeMap<Unit, (usize, FastSet<ClassKey>)> = BTreeMap::new();
    for (window, classes) in selection {
        for state in window.days().filter_map(|d| store.day(d)) {
            for (class, slot) in &state.classes {
                if classes.as_ref().is_none_or(|set| set.contains(class)) {
                    let unit = match &slot.school {
                        Some(s) => Unit::School(s.clone()),
                        None => Unit::Class(class.clone()),
                    };
                    let entry = per_unit.entry(unit).or_default();
                    entry.0 += slot.events.len();
                    entry.1.insert(class.clone());
                }
            }
        }
    }
    let mut groups: Vec<FastSet<ClassKey>> = vec![FastSet::default()];
    let mut size = 0;
    for (_, (n, classes)) in per_unit {
        if size > 0 && size + n > chunk_events {
            groups.push(FastSet::default());
            size = 0;
        }
        groups.last_mut().expect("one group").extend(classes);
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
