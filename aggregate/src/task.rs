//! A task: everything the aggregate keeps for one input partition.
//!
//! Enrich keys `lap.enriched` by school, so a school's events, and with
//! them its classes' and learners', all arrive on one partition. A task
//! therefore holds whole schools: their open days' events (the window
//! state), the partition's watermark and the watermark its weeks were
//! finalised at, and the history its classes' later windows look back on.
//! Nothing in one task reads another, so an instance computes the same
//! rows for a partition whatever else it reads, and a partition can move
//! to another instance with its changelog.

use std::collections::HashMap;

use lap_runtime::transport::MessageId;
use lap_schemas::{Action, EnrichedEvent, Role, WindowKind};

use crate::changelog::{Restored, TASK, TaskRecord, stamp};
use crate::engine::Admitted;
use crate::history::History;
use crate::revision::Revisions;
use crate::store::{Inserted, Store};
use crate::unchanged::Unchanged;
use crate::watermark::Watermark;
use crate::window::{Calendar, Day, Window};

/// The state of one input partition.
#[derive(Debug)]
pub struct Task {
    /// Events of the open days.
    pub(crate) store: Store,
    /// The partition's event-time progress.
    pub(crate) watermark: Watermark,
    /// Highest watermark a finalisation ran at (restored, then raised).
    pub(crate) final_wm: i64,
    /// The partition's watermark when finalisation last looked: evidence up
    /// to it is complete for provisional rows.
    pub(crate) current_wm: i64,
    /// The watermark the last provisional emission judged flags at: days
    /// ending after it are recomputed when the watermark passes them.
    pub(crate) judged_wm: i64,
    /// Offsets below this were read by an earlier owner: an event among
    /// them whose week is final was counted (or sent late) back then.
    read_below: i64,
    /// One past the highest offset admitted.
    read_upto: i64,
    /// What later windows look back on.
    pub(crate) history: History,
    /// Revisions of this owner's rows.
    pub(crate) revisions: Revisions,
    /// Week end + lateness by week start day, cached.
    closes: HashMap<Day, i64>,
    /// What the open windows' provisional rows last said.
    pub(crate) unchanged: Unchanged,
    /// What the finalisation in progress has released and emitted so far.
    pub(crate) finalised: (Vec<MessageId>, usize),
}

impl Task {
    /// A task continuing from `restored`, its rows revised from `revisions`.
    pub fn new(restored: Restored, revisions: Revisions, watermark: Watermark) -> Task {
        Task {
            store: Store::default(),
            watermark,
            final_wm: restored.task.final_watermark,
            current_wm: i64::MIN,
            judged_wm: i64::MIN,
            read_below: restored.task.read_below,
            read_upto: restored.task.read_below,
            history: restored.history,
            revisions,
            closes: HashMap::new(),
            unchanged: Unchanged::default(),
            finalised: (Vec::new(), 0),
        }
    }

    /// When `week` closes: its end plus the allowed lateness.
    pub(crate) fn closes(&mut self, cal: &Calendar, lateness_us: i64, week: Window) -> i64 {
        *self
            .closes
            .entry(week.first)
            .or_insert_with(|| cal.end(week).saturating_add(lateness_us))
    }

    /// Forgets a finalised week's close.
    pub(crate) fn forget_week(&mut self, week: Window) {
        self.closes.remove(&week.first);
    }

    /// Admits one event read from `from` (`None` in a batch run) at input
    /// time `input_ms`.
    pub fn admit(
        &mut self,
        cal: &Calendar,
        lateness_us: i64,
        e: &EnrichedEvent,
        from: Option<&MessageId>,
        input_ms: i64,
    ) -> Admitted {
        self.watermark.observe(e.event_time, input_ms);
        let offset = from.map(|m| m.offset);
        if let Some(o) = offset {
            self.read_upto = self.read_upto.max(o + 1);
        }
        if e.role != Role::Learner {
            return Admitted::NotLearner;
        }
        let day = cal.day_of(e.event_time);
        let closes = self.closes(cal, lateness_us, Window::of(WindowKind::Weekly, day));
        if closes <= self.final_wm {
            return match offset {
                Some(o) if o < self.read_below => Admitted::AlreadyFinal,
                _ => Admitted::Late,
            };
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

    /// The `task` changelog record as of now.
    pub fn task_record(&self) -> (String, String) {
        let record = TaskRecord {
            final_watermark: self.final_wm,
            read_below: self.read_upto,
        };
        (TASK.to_string(), stamp(self.revisions.epoch(), &record))
    }

    /// Changelog records of what finalisation changed: history, then the
    /// task record.
    pub fn checkpoint(&mut self) -> Vec<(String, String)> {
        let epoch = self.revisions.epoch();
        let mut out: Vec<(String, String)> = self
            .history
            .take_changes()
            .into_iter()
            .map(|(k, json)| (k, format!("{epoch} {json}")))
            .collect();
        out.push(self.task_record());
        out
    }
}
