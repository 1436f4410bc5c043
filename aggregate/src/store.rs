//! Window state: the effective events of every open day, compactly.
//!
//! Indicator SQL may ask anything of a window's events (distinct objects,
//! gaps between events, joins with the curriculum), so state keeps the
//! events themselves rather than partial aggregates: one [`Ev`] of about 160
//! bytes per event, strings shared through an [`Interner`], grouped by day
//! and class. A week's windows read its seven days. Duplicates (same event
//! id) are kept once, and voided events are marked removed.

use std::collections::BTreeMap;
use std::sync::Arc;

use lap_runtime::transport::MessageId;
use lap_schemas::{Action, EnrichedEvent};

use crate::window::{Day, Window};

/// Hash map with a fast, seeded-per-process hasher.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// Hash set with a fast hasher.
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// Shares repeated strings (learners, objects, verbs) between events.
#[derive(Debug, Default)]
pub struct Interner(FastSet<Arc<str>>);

impl Interner {
    /// The shared copy of `s`.
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.0.insert(a.clone());
        a
    }

    /// Forgets strings no event uses any more (after days are dropped).
    pub fn prune(&mut self) {
        self.0.retain(|a| Arc::strong_count(a) > 1);
    }
}

/// Identity of an event for deduplication: 128-bit xxh3 of its id.
pub fn event_key(event_id: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(event_id.as_bytes())
}

/// One event as window state keeps it. Missing numbers are NaN /
/// `i64::MIN` rather than `Option` to keep the struct small.
#[derive(Clone, Debug)]
pub struct Ev {
    /// [`event_key`] of the event id.
    pub key: u128,
    /// Event time, UTC microseconds.
    pub time: i64,
    /// Learner pseudonym.
    pub person: Arc<str>,
    /// Verb IRI or Caliper action.
    pub verb: Arc<str>,
    /// Object id.
    pub object: Arc<str>,
    /// Object type.
    pub object_type: Option<Arc<str>>,
    /// Learning-objective ids.
    pub objectives: Box<[Arc<str>]>,
    /// Scaled score 0..1, NaN when absent.
    pub score: f64,
    /// Numeric questionnaire answer, NaN when absent.
    pub response: f64,
    /// Reported duration in ms, `i64::MIN` when absent.
    pub duration_ms: i64,
    /// Due time (UTC µs), `i64::MIN` when absent.
    pub due: i64,
    /// Normalised action.
    pub action: Action,
    /// Success, when reported.
    pub success: Option<bool>,
    /// Completion, when reported.
    pub completion: Option<bool>,
    /// Retracted by a voiding event.
    pub removed: bool,
}

/// A class's events on one day, with the class's context.
#[derive(Debug, Default)]
pub struct ClassDay {
    /// School of the class.
    pub school: Option<Arc<str>>,
    /// Course of the class.
    pub course: Option<Arc<str>>,
    /// The events, in arrival order.
    pub events: Vec<Ev>,
}

/// Class key: `None` collects events without a class (learner rows only).
pub type ClassKey = Option<Arc<str>>;

/// One local day of state.
#[derive(Debug, Default)]
pub struct DayState {
    /// Events by class.
    pub classes: FastMap<ClassKey, ClassDay>,
    /// Classes with events since the last provisional emission.
    pub dirty: FastSet<ClassKey>,
    /// Input messages kept unacknowledged until the day's week is final.
    pub held: Vec<MessageId>,
}

/// What [`Store::insert`] did with an event.
#[derive(Debug, PartialEq, Eq)]
pub enum Inserted {
    /// Counted.
    Added,
    /// The same event id was already counted: counts once.
    Duplicate,
    /// A void for this event arrived earlier: it never counts.
    AlreadyVoided,
}

/// All open days.
#[derive(Debug, Default)]
pub struct Store {
    days: BTreeMap<Day, DayState>,
    /// Event key → day, for duplicates and voids.
    seen: FastMap<u128, Day>,
    /// Voids whose target has not arrived, with the void's day (they expire
    /// with it).
    pending_voids: FastMap<u128, Day>,
    interner: Interner,
    events: usize,
}

impl Store {
    /// Events held in state.
    pub fn len(&self) -> usize {
        self.events
    }

    /// True when no event is held.
    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// The open days, oldest first.
    pub fn days(&self) -> impl Iterator<Item = (Day, &DayState)> {
        self.days.iter().map(|(d, s)| (*d, s))
    }

    /// One day's state.
    pub fn day(&self, day: Day) -> Option<&DayState> {
        self.days.get(&day)
    }

    /// The day state, created when missing.
    pub fn day_mut(&mut self, day: Day) -> &mut DayState {
        self.days.entry(day).or_default()
    }

    /// Adds a (non-voiding) event on `day`.
    pub fn insert(&mut self, day: Day, e: &EnrichedEvent) -> Inserted {
        let key = event_key(&e.event_id);
        if self.seen.contains_key(&key) {
            return Inserted::Duplicate;
        }
        self.seen.insert(key, day);
        if self.pending_voids.remove(&key).is_some() {
            return Inserted::AlreadyVoided;
        }
        let i = &mut self.interner;
        let ev = Ev {
            key,
            time: e.event_time,
            person: i.get(&e.person_key),
            verb: i.get(&e.verb),
            object: i.get(&e.object_id),
            object_type: e.object_type.as_deref().map(|s| i.get(s)),
            objectives: e.objective_ids.iter().map(|s| i.get(s)).collect(),
            score: e.score_scaled.unwrap_or(f64::NAN),
            response: e.response_value.unwrap_or(f64::NAN),
            duration_ms: e.duration_ms.unwrap_or(i64::MIN),
            due: e.due_time.unwrap_or(i64::MIN),
            action: e.action,
            success: e.success,
            completion: e.completion,
            removed: false,
        };
        let class: ClassKey = e.class_id.as_deref().map(|s| i.get(s));
        let school = e.school_id.as_deref().map(|s| i.get(s));
        let course = e.course_id.as_deref().map(|s| i.get(s));
        let state = self.days.entry(day).or_default();
        state.dirty.insert(class.clone());
        let slot = state.classes.entry(class).or_default();
        if slot.school.is_none() {
            slot.school = school;
        }
        if slot.course.is_none() {
            slot.course = course;
        }
        slot.events.push(ev);
        self.events += 1;
        Inserted::Added
    }

    /// Applies a voiding event seen on `void_day`: retracts the target when
    /// it is held (returning its day, now dirty), else remembers the void
    /// until `void_day` is dropped so a later-arriving target never counts.
    pub fn void(&mut self, target_id: &str, void_day: Day) -> Option<Day> {
        let key = event_key(target_id);
        let Some(&day) = self.seen.get(&key) else {
            self.pending_voids.insert(key, void_day);
            return None;
        };
        let state = self.days.get_mut(&day)?;
        for (class, slot) in state.classes.iter_mut() {
            if let Some(ev) = slot.events.iter_mut().find(|e| e.key == key && !e.removed) {
                ev.removed = true;
                state.dirty.insert(class.clone());
                return Some(day);
            }
        }
        None
    }

    /// Forgets which classes changed (after a provisional emission).
    pub fn clear_dirty(&mut self) {
        for state in self.days.values_mut() {
            state.dirty.clear();
        }
    }

    /// Drops the days of a finalised week and returns the messages they held.
    pub fn drop_week(&mut self, week: Window) -> Vec<MessageId> {
        let mut released = Vec::new();
        for day in week.days() {
            if let Some(state) = self.days.remove(&day) {
                for slot in state.classes.values() {
                    self.events -= slot.events.len();
                }
                released.extend(state.held);
            }
        }
        let end = week.end_day();
        self.seen.retain(|_, d| *d >= end);
        self.pending_voids.retain(|_, d| *d >= end);
        self.interner.prune();
        released
    }
}
