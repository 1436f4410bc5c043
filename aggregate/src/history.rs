//! What a row needs from earlier windows: growth, and the flags that look
//! back (well-being drop, falling scores, inactivity, chronic absence,
//! missing work).
//!
//! History changes only when a window is finalised, and every entry says
//! which window it came from, so redoing a finalisation after a crash (the
//! rows were durable, the checkpoint was not) reads the same history again.
//! It is checkpointed to the compacted state topic as JSON, one key per
//! entity.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use lap_schemas::WindowKind;
use serde::{Deserialize, Serialize};

use crate::reference::Members;

/// Figures of one finalised window of a learner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Past {
    /// Window start, UTC µs.
    pub start: i64,
    /// Mean score, if the learner had attempts.
    pub mean_score: Option<f64>,
    /// Well-being index, if the learner answered.
    pub wellbeing: Option<f64>,
}

/// A learner's recent final windows in one class and window length.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LearnerHistory {
    /// Oldest first, at most [`History::keep`] entries.
    pub recent: Vec<Past>,
}

impl LearnerHistory {
    /// Entries of windows before `start`, newest first.
    pub fn before(&self, start: i64) -> impl Iterator<Item = &Past> {
        self.recent.iter().rev().filter(move |p| p.start < start)
    }

    fn record(&mut self, past: Past, keep: usize) {
        self.recent.retain(|p| p.start != past.start);
        self.recent.push(past);
        self.recent.sort_by_key(|p| p.start);
        let extra = self.recent.len().saturating_sub(keep);
        self.recent.drain(..extra);
    }
}

/// A class's recent days with activity and the learners seen in it,
/// their attendance, and the assignments still to be handed in.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassHistory {
    /// Starts of the class's recent active days (final daily windows).
    pub active_days: BTreeSet<i64>,
    /// Each learner's last active day (window start).
    pub last_active: BTreeMap<Arc<str>, i64>,
    /// Each learner's recent final school days (start of each day the
    /// class took their attendance): whether they were absent. At most
    /// the absence look-back's number of days per learner.
    #[serde(default)]
    pub attendance: BTreeMap<Arc<str>, BTreeMap<i64, bool>>,
    /// Assignments known from events of final weeks that fall due after
    /// the last final week: object id → (time of the latest event about
    /// it, the due time it gave, UTC µs). A due date moved later by the
    /// teacher is the one that counts.
    #[serde(default)]
    pub assignments: BTreeMap<Arc<str>, (i64, i64)>,
    /// Each learner's first submission of those assignments (learner →
    /// object id → event time).
    #[serde(default)]
    pub submitted: BTreeMap<Arc<str>, BTreeMap<Arc<str>, i64>>,
}

impl ClassHistory {
    /// Forgets every learner `keep` says no to; true if one was known.
    fn retain_learners(&mut self, keep: impl Fn(&str) -> bool) -> bool {
        let before = (
            self.last_active.len(),
            self.attendance.len(),
            self.submitted.len(),
        );
        self.last_active.retain(|l, _| keep(l));
        self.attendance.retain(|l, _| keep(l));
        self.submitted.retain(|l, _| keep(l));
        before
            != (
                self.last_active.len(),
                self.attendance.len(),
                self.submitted.len(),
            )
    }

    /// This class history as read from a changelog value (`<epoch> <JSON>`)
    /// with `learner` taken out, stamped with `epoch`; `None` when the value
    /// is not a class history or does not name the learner. This is how an
    /// erasure removes a learner from the class histories in the
    /// changelog, which hold every learner of a class under one key.
    pub fn erase_from_value(value: &str, learner: &str, epoch: i64) -> Option<String> {
        let (_, json) = value.split_once(' ')?;
        let mut h: ClassHistory = serde_json::from_str(json).ok()?;
        h.retain_learners(|l| l != learner)
            .then(|| crate::changelog::stamp(epoch, &h))
    }
}

/// What a final week adds to a class's history besides its active days.
#[derive(Debug, Default)]
pub struct WeekFacts {
    /// (learner, day start, absent) of every learner-day with attendance taken.
    pub attendance: Vec<(Arc<str>, i64, bool)>,
    /// (object id, event time, due time) of every event carrying a due time.
    pub assignments: Vec<(Arc<str>, i64, i64)>,
    /// (learner, object id, event time) of every submission.
    pub submissions: Vec<(Arc<str>, Arc<str>, i64)>,
}

/// Key of a learner's history.
pub type LearnerKey = (WindowKind, Option<Arc<str>>, Arc<str>);

/// All history of this instance's entities.
#[derive(Debug, Default)]
pub struct History {
    /// By (window kind, class, learner).
    pub learners: HashMap<LearnerKey, LearnerHistory>,
    /// By class.
    pub classes: HashMap<Arc<str>, ClassHistory>,
    /// Windows kept per learner and active days per class.
    pub keep: usize,
    /// Keys changed since the last checkpoint.
    changed_learners: BTreeSet<LearnerKey>,
    changed_classes: BTreeSet<Arc<str>>,
}

impl History {
    /// Empty history keeping `keep` windows per entity.
    pub fn new(keep: usize) -> History {
        History {
            keep,
            ..History::default()
        }
    }

    /// Records a learner's final window.
    pub fn record_learner(&mut self, key: LearnerKey, past: Past) {
        let keep = self.keep;
        self.learners
            .entry(key.clone())
            .or_default()
            .record(past, keep);
        self.changed_learners.insert(key);
    }

    /// Records a class's final active day and who was active on it.
    pub fn record_class_day(&mut self, class: &Arc<str>, day: i64, active: &[Arc<str>]) {
        let keep = self.keep;
        let h = self.classes.entry(class.clone()).or_default();
        h.active_days.insert(day);
        while h.active_days.len() > keep {
            h.active_days.pop_first();
        }
        for learner in active {
            let last = h.last_active.entry(learner.clone()).or_insert(day);
            *last = (*last).max(day);
        }
        self.changed_classes.insert(class.clone());
    }

    /// Records what a class's final week held: attendance (the newest
    /// `lookback` days per learner are kept), assignments falling due after
    /// the week (`week_end`) and their submissions; assignments due before
    /// are settled and forgotten with their submissions.
    pub fn record_week(
        &mut self,
        class: &Arc<str>,
        facts: WeekFacts,
        week_end: i64,
        lookback: usize,
    ) {
        let h = self.classes.entry(class.clone()).or_default();
        for (learner, day, absent) in facts.attendance {
            let days = h.attendance.entry(learner).or_default();
            days.insert(day, absent);
            while days.len() > lookback {
                days.pop_first();
            }
        }
        for (object, time, due) in facts.assignments {
            let latest = h.assignments.entry(object).or_insert((time, due));
            *latest = (*latest).max((time, due));
        }
        h.assignments.retain(|_, (_, due)| *due >= week_end);
        for (learner, object, time) in facts.submissions {
            if h.assignments.contains_key(&object) {
                let first = h
                    .submitted
                    .entry(learner)
                    .or_default()
                    .entry(object)
                    .or_insert(time);
                *first = (*first).min(time);
            }
        }
        let open = &h.assignments;
        h.submitted.retain(|_, objects| {
            objects.retain(|o, _| open.contains_key(o));
            !objects.is_empty()
        });
        self.changed_classes.insert(class.clone());
    }

    /// Forgets, in every class's history, the learners who left its class
    /// list (they moved, or were erased), so the next checkpoint writes
    /// the class without them.
    pub fn forget_departed(&mut self, members: &BTreeMap<String, Members>) {
        for (class, h) in &mut self.classes {
            let Some(m) = members.get(&**class).filter(|m| !m.departed.is_empty()) else {
                continue;
            };
            if h.retain_learners(|l| !m.departed.contains(l)) {
                self.changed_classes.insert(class.clone());
            }
        }
    }

    /// Checkpoint records (key, JSON) of everything changed since the last call.
    pub fn take_changes(&mut self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for key in std::mem::take(&mut self.changed_learners) {
            if let Some(h) = self.learners.get(&key) {
                let json = serde_json::to_string(h).expect("history serialises");
                out.push((learner_state_key(&key), json));
            }
        }
        for class in std::mem::take(&mut self.changed_classes) {
            if let Some(h) = self.classes.get(&class) {
                let json = serde_json::to_string(h).expect("history serialises");
                out.push((
                    format!(
                        "class:{}",
                        serde_json::to_string(&*class).expect("id serialises")
                    ),
                    json,
                ));
            }
        }
        out
    }

    /// Restores one checkpoint record, `json` `None` for a tombstone (an
    /// erasure's), which forgets the entry; false when the key or value is
    /// not history.
    pub fn restore(&mut self, key: &str, json: Option<&str>) -> bool {
        if let Some(class) = key.strip_prefix("class:") {
            let Ok(class) = serde_json::from_str::<String>(class) else {
                return false;
            };
            let Some(json) = json else {
                self.classes.remove(class.as_str());
                return true;
            };
            return match serde_json::from_str(json) {
                Ok(h) => {
                    self.classes.insert(Arc::from(class), h);
                    true
                }
                Err(_) => false,
            };
        }
        let Some(key) = key
            .strip_prefix("learner:")
            .and_then(|rest| serde_json::from_str::<LearnerKey>(rest).ok())
        else {
            return false;
        };
        let Some(json) = json else {
            self.learners.remove(&key);
            return true;
        };
        match serde_json::from_str(json) {
            Ok(h) => {
                self.learners.insert(key, h);
                true
            }
            Err(_) => false,
        }
    }
}

/// State-topic key of a learner's history: `learner:` + JSON of the key
/// (ids may contain any character).
fn learner_state_key(key: &LearnerKey) -> String {
    format!(
        "learner:{}",
        serde_json::to_string(key).expect("key serialises")
    )
}
