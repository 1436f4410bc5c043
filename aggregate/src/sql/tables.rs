//! The tables a run of the indicator SQL reads besides `events`:
//!
//! - `settings` (one row): `session_gap_cap_ms`, `watermark`;
//! - `members` (class_id, event_class_id, school_id, person_key, entity):
//!   the learners of the run's classes from the roster, with `entity` and
//!   `class_id` of the grain as in `events`;
//! - `assignments` (class_id, object_id, due_time, known_from): what the
//!   run's classes have to hand in, known from events of final weeks
//!   (`known_from` NULL) or of the open week starting at `known_from`;
//! - `submitted` (class_id, person_key, object_id, submitted_time): each
//!   learner's first submission of those;
//! - `curriculum` (objective_id, course_id, class_id) and `questionnaire`
//!   (item_id, dimension, scale_min, scale_max, reverse_scored): lap's own
//!   roster files.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;

use super::Settings;
use crate::lookback::Work;
use crate::reference::Reference;
use crate::table::Grain;

/// What one run reads besides its events.
#[derive(Debug)]
pub struct RunInput {
    /// The learners of the run's classes.
    pub members: Vec<Member>,
    /// Their assignments and submissions.
    pub work: Work,
    /// Instant (UTC µs) up to which the run's evidence is complete.
    pub watermark: i64,
}

impl Default for RunInput {
    fn default() -> Self {
        RunInput {
            members: Vec::new(),
            work: Work::default(),
            watermark: i64::MAX,
        }
    }
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn text<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(StringArray::from_iter(values))
}

fn times(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter(values).with_timezone("UTC"))
}

/// A learner of a class: class, its school, the learner's pseudonym.
pub type Member = (Arc<str>, Option<Arc<str>>, Arc<str>);

/// The `members` table in `grain`.
pub(super) fn members_batch(members: &[Member], grain: Grain) -> RecordBatch {
    let rows: Vec<&Member> = members
        .iter()
        .filter(|(_, school, _)| grain != Grain::School || school.is_some())
        .collect();
    fn entity(grain: Grain, (class, school, person): &Member) -> Option<&str> {
        match grain {
            Grain::Learner => Some(person),
            Grain::Class => Some(class),
            Grain::School => school.as_deref(),
        }
    }
    let schema = Schema::new(vec![
        Field::new("class_id", DataType::Utf8, true),
        Field::new("event_class_id", DataType::Utf8, false),
        Field::new("school_id", DataType::Utf8, true),
        Field::new("person_key", DataType::Utf8, false),
        Field::new("entity", DataType::Utf8, false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            text(
                rows.iter()
                    .map(|(c, _, _)| (grain != Grain::School).then_some(&**c)),
            ),
            text(rows.iter().map(|(c, _, _)| Some(&**c))),
            text(rows.iter().map(|(_, s, _)| s.as_deref())),
            text(rows.iter().map(|(_, _, p)| Some(&**p))),
            text(rows.iter().map(|m| entity(grain, m))),
        ],
    )
    .expect("members columns match their schema")
}

/// The `assignments` and `submitted` tables.
pub(super) fn work_batches(work: &Work) -> (RecordBatch, RecordBatch) {
    let a = &work.assignments;
    let assignments = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("class_id", DataType::Utf8, false),
            Field::new("object_id", DataType::Utf8, false),
            Field::new("due_time", ts(), false),
            Field::new("known_from", ts(), true),
        ])),
        vec![
            text(a.iter().map(|(c, _, _, _)| Some(&**c))),
            text(a.iter().map(|(_, o, _, _)| Some(&**o))),
            times(a.iter().map(|(_, _, due, _)| Some(*due))),
            times(a.iter().map(|(_, _, _, k)| (*k != i64::MIN).then_some(*k))),
        ],
    )
    .expect("assignments columns match their schema");
    let s = &work.submitted;
    let submitted = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("class_id", DataType::Utf8, false),
            Field::new("person_key", DataType::Utf8, false),
            Field::new("object_id", DataType::Utf8, false),
            Field::new("submitted_time", ts(), false),
        ])),
        vec![
            text(s.iter().map(|(c, _, _, _)| Some(&**c))),
            text(s.iter().map(|(_, p, _, _)| Some(&**p))),
            text(s.iter().map(|(_, _, o, _)| Some(&**o))),
            times(s.iter().map(|(_, _, _, t)| Some(*t))),
        ],
    )
    .expect("submitted columns match their schema");
    (assignments, submitted)
}

/// The one-row `settings` table: `session_gap_cap_ms`, and `watermark`,
/// the instant up to which the run's evidence is complete (its
/// partition's watermark; the far future for final rows), as a UTC
/// timestamp: an assignment due after it is not missing yet.
pub(super) fn settings_batch(s: Settings, watermark: i64) -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("session_gap_cap_ms", DataType::Int64, false),
        Field::new("watermark", ts(), false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Int64Array::from(vec![s.session_gap_cap_ms])),
            Arc::new(TimestampMicrosecondArray::from(vec![watermark]).with_timezone("UTC")),
        ],
    )
    .expect("settings columns match their schema")
}

pub(super) fn curriculum_batch(r: &Reference) -> RecordBatch {
    let (mut ids, mut courses, mut classes) = (Vec::new(), Vec::new(), Vec::new());
    for (id, o) in &r.objectives {
        for c in &o.courses {
            ids.push(id.as_str());
            courses.push(Some(c.as_str()));
            classes.push(None);
        }
        for c in &o.classes {
            ids.push(id.as_str());
            courses.push(None);
            classes.push(Some(c.as_str()));
        }
    }
    let schema = Schema::new(vec![
        Field::new("objective_id", DataType::Utf8, false),
        Field::new("course_id", DataType::Utf8, true),
        Field::new("class_id", DataType::Utf8, true),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(StringArray::from(courses)),
            Arc::new(StringArray::from(classes)),
        ],
    )
    .expect("curriculum columns match their schema")
}

pub(super) fn questionnaire_batch(r: &Reference) -> RecordBatch {
    let items = &r.items;
    let schema = Schema::new(vec![
        Field::new("item_id", DataType::Utf8, false),
        Field::new("dimension", DataType::Utf8, false),
        Field::new("scale_min", DataType::Float64, false),
        Field::new("scale_max", DataType::Float64, false),
        Field::new("reverse_scored", DataType::Boolean, false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from_iter_values(items.keys())),
            Arc::new(StringArray::from_iter_values(
                items.values().map(|i| &i.dimension),
            )),
            Arc::new(Float64Array::from_iter_values(
                items.values().map(|i| i.scale_min),
            )),
            Arc::new(Float64Array::from_iter_values(
                items.values().map(|i| i.scale_max),
            )),
            Arc::new(BooleanArray::from_iter(
                items.values().map(|i| Some(i.reverse_scored)),
            )),
        ],
    )
    .expect("questionnaire columns match their schema")
}
