//! What a chunk's rows look back on beyond their own window: for each of
//! its classes, every open day's activity, attendance, assignments and
//! submissions (from window state), to be merged with the final days'
//! (from [`History`]).
//!
//! A row of day D may need the days before it: the learner's absences
//! over the look-back, the class days since their last activity, an
//! assignment announced last week. Final days are in history; the open
//! ones (this week, and last week while it is within the allowed lateness)
//! are only in window state, so they are read from there for every
//! emission. Only days up to the row's own window count, so a final row
//! sees exactly what a batch run sees: the final weeks before it and its
//! own week.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use lap_schemas::{Action, WindowKind};

use crate::history::{History, WeekFacts};
use crate::reference::Members;
use crate::store::{ClassDay, FastMap, Store};
use crate::window::{Calendar, Day, Window};

/// One class's events of one day, summarised.
#[derive(Debug, Default)]
struct DaySummary {
    /// Learners with any event.
    active: BTreeSet<Arc<str>>,
    /// Learners with attendance taken: whether they were absent (no
    /// attended or tardy record, at least one absent one).
    attendance: BTreeMap<Arc<str>, bool>,
    /// (object id, event time, due time) of events carrying a due time.
    assignments: Vec<(Arc<str>, i64, i64)>,
    /// (learner, object id, time) of submissions.
    submissions: Vec<(Arc<str>, Arc<str>, i64)>,
}

fn summarise(slot: &ClassDay) -> DaySummary {
    let mut s = DaySummary::default();
    let mut present: BTreeMap<Arc<str>, (bool, bool)> = BTreeMap::new();
    for e in slot.events.iter().filter(|e| !e.removed) {
        s.active.insert(e.person.clone());
        match e.action {
            Action::Attended | Action::Tardy => {
                present.entry(e.person.clone()).or_default().0 = true
            }
            Action::Absent => present.entry(e.person.clone()).or_default().1 = true,
            _ => {}
        }
        if e.due != i64::MIN {
            s.assignments.push((e.object.clone(), e.time, e.due));
        }
        if e.action == Action::Submitted {
            s.submissions
                .push((e.person.clone(), e.object.clone(), e.time));
        }
    }
    s.attendance = present
        .into_iter()
        .map(|(p, (here, away))| (p, away && !here))
        .collect();
    s
}

/// What `class` did on the days of `week`, for its history once the week
/// is final.
pub fn week_facts(store: &Store, cal: &Calendar, week: Window, class: &Arc<str>) -> WeekFacts {
    let mut facts = WeekFacts::default();
    for day in week.days() {
        let Some(slot) = store
            .day(day)
            .and_then(|d| d.classes.get(&Some(class.clone())))
        else {
            continue;
        };
        let s = summarise(slot);
        let start = cal.day_start(day);
        facts
            .attendance
            .extend(s.attendance.into_iter().map(|(p, a)| (p, start, a)));
        facts.assignments.extend(s.assignments);
        facts.submissions.extend(s.submissions);
    }
    facts
}

/// A class and a learner, or a class and an object.
type Pair = (Arc<str>, Arc<str>);

/// A class, a learner and an object.
type Triple = (Arc<str>, Arc<str>, Arc<str>);

/// An assignment: class, object id, due time, start of the week it became
/// known (`i64::MIN`: from final weeks).
pub type Assignment = (Arc<str>, Arc<str>, i64, i64);

/// A first submission: class, learner, object id, time.
pub type Submission = (Arc<str>, Arc<str>, Arc<str>, i64);

/// The open days of a chunk's classes.
#[derive(Debug, Default)]
pub struct Lookback {
    /// Class → starts of open days with any of its events.
    class_days: FastMap<Arc<str>, BTreeSet<i64>>,
    /// (class, learner) → starts of open days with their events.
    learner_days: FastMap<Pair, BTreeSet<i64>>,
    /// (class, learner) → open days' attendance: day start → absent.
    attendance: FastMap<Pair, BTreeMap<i64, bool>>,
    /// (class, object id) → (start of the first week an event told of it,
    /// (time, due time) of the latest event about it).
    assignments: FastMap<Pair, (i64, (i64, i64))>,
    /// (class, learner, object id) → first submission time.
    submissions: FastMap<Triple, i64>,
}

/// The assignments and first submissions a chunk's SQL reads.
#[derive(Debug, Default)]
pub struct Work {
    /// (class, object id, due time, start of the week it became known;
    /// `i64::MIN` for one known from final weeks). The due time is the one
    /// the latest event about the assignment gave.
    pub assignments: Vec<Assignment>,
    /// (class, learner, object id, first submission time).
    pub submitted: Vec<Submission>,
}

impl Lookback {
    /// Reads the open days of `classes` before `until` from `store` (days
    /// after the chunk's windows' weeks say nothing about them).
    pub fn build(
        store: &Store,
        cal: &Calendar,
        classes: &BTreeSet<Arc<str>>,
        until: Day,
    ) -> Lookback {
        let mut lb = Lookback::default();
        for (day, state) in store.days().take_while(|(d, _)| *d < until) {
            let start = cal.day_start(day);
            let week_start = cal.start(Window::of(WindowKind::Weekly, day));
            for (class, slot) in &state.classes {
                let Some(class) = class.as_ref().filter(|c| classes.contains(*c)) else {
                    continue;
                };
                let s = summarise(slot);
                if !s.active.is_empty() {
                    lb.class_days
                        .entry(class.clone())
                        .or_default()
                        .insert(start);
                }
                for p in s.active {
                    lb.learner_days
                        .entry((class.clone(), p))
                        .or_default()
                        .insert(start);
                }
                for (p, absent) in s.attendance {
                    lb.attendance
                        .entry((class.clone(), p))
                        .or_default()
                        .insert(start, absent);
                }
                for (o, time, due) in s.assignments {
                    let a = lb
                        .assignments
                        .entry((class.clone(), o))
                        .or_insert((week_start, (time, due)));
                    a.0 = a.0.min(week_start);
                    a.1 = a.1.max((time, due));
                }
                for (p, o, t) in s.submissions {
                    let first = lb.submissions.entry((class.clone(), p, o)).or_insert(t);
                    *first = (*first).min(t);
                }
            }
        }
        lb
    }

    /// The assignments and first submissions of `classes`, from history
    /// and the open days.
    pub fn work(&self, history: &History, classes: &BTreeSet<Arc<str>>) -> Work {
        let mut known = self.assignments.clone();
        let mut first = self.submissions.clone();
        for class in classes {
            let Some(h) = history.classes.get(class) else {
                continue;
            };
            for (o, latest) in &h.assignments {
                let a = known
                    .entry((class.clone(), o.clone()))
                    .or_insert((i64::MIN, *latest));
                a.0 = i64::MIN;
                a.1 = a.1.max(*latest);
            }
            for (learner, objects) in &h.submitted {
                for (o, t) in objects {
                    let f = first
                        .entry((class.clone(), learner.clone(), o.clone()))
                        .or_insert(*t);
                    *f = (*f).min(*t);
                }
            }
        }
        let mut work = Work {
            assignments: known
                .into_iter()
                .map(|((c, o), (from, (_, due)))| (c, o, due, from))
                .collect(),
            submitted: first
                .into_iter()
                .map(|((c, p, o), t)| (c, p, o, t))
                .collect(),
        };
        work.assignments.sort();
        work.submitted.sort();
        work
    }

    /// The learner's newest `n` school days in `class` that start before
    /// `end`, oldest first: (day start, absent).
    pub fn school_days(
        &self,
        history: &History,
        class: &Arc<str>,
        learner: &Arc<str>,
        end: i64,
        n: usize,
    ) -> Vec<(i64, bool)> {
        let mut days: BTreeMap<i64, bool> = history
            .classes
            .get(class)
            .and_then(|h| h.attendance.get(learner))
            .cloned()
            .unwrap_or_default();
        if let Some(open) = self.attendance.get(&(class.clone(), learner.clone())) {
            days.extend(open.iter().map(|(d, a)| (*d, *a)));
        }
        let mut recent: Vec<(i64, bool)> = days
            .range(..end)
            .rev()
            .take(n)
            .map(|(d, a)| (*d, *a))
            .collect();
        recent.reverse();
        recent
    }

    /// Days of `class` with activity, from the start of `day` back, since
    /// the learner's last activity: (days missed, the learner's last
    /// active day if known).
    pub fn days_inactive(
        &self,
        history: &History,
        class: &Arc<str>,
        learner: &Arc<str>,
        day: i64,
    ) -> (usize, Option<i64>) {
        let h = history.classes.get(class);
        let mut class_days: BTreeSet<i64> = h.map(|h| h.active_days.clone()).unwrap_or_default();
        if let Some(open) = self.class_days.get(class) {
            class_days.extend(open.iter().copied());
        }
        let open_last = self
            .learner_days
            .get(&(class.clone(), learner.clone()))
            .and_then(|d| d.range(..=day).next_back().copied());
        let final_last = h.and_then(|h| h.last_active.get(learner).copied());
        let last = open_last.max(final_last);
        let missed = match last {
            Some(l) if l >= day => 0,
            Some(l) => class_days.range(l + 1..=day).count(),
            None => class_days.range(..=day).count(),
        };
        (missed, last)
    }
}

/// The learners of `class` a row is due for: the class list from the
/// roster, or (without one) every learner the class has seen active.
pub fn learners_of(
    members: &BTreeMap<String, Members>,
    history: &History,
    class: &Arc<str>,
) -> Vec<Arc<str>> {
    match members.get(&**class) {
        Some(m) if !m.learners.is_empty() => {
            m.learners.iter().map(|l| Arc::from(l.as_str())).collect()
        }
        _ => history
            .classes
            .get(class)
            .map(|h| h.last_active.keys().cloned().collect())
            .unwrap_or_default(),
    }
}
