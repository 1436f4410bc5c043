//! The `events` table the indicator SQL reads (docs/indicators.md).
//!
//! One row per effective learner event of a window: deduplicated, voided
//! and voiding events left out. `entity` is what a query groups by: the
//! learner's pseudonym in the learner grain, the class id in the class
//! grain, the school id in the school grain (where `class_id` is NULL and
//! `event_class_id` still names the event's class). Events without a class
//! appear in the learner grain only, events without a school not in the
//! school grain. Rows are in a fixed order (window, class, learner, time,
//! event hash), so a query sees the same input however the events arrived.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::compute::{filter_record_batch, is_not_null};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::logical_expr::SortExpr;
use datafusion::prelude::col;

use crate::store::{ClassDay, ClassKey, Ev, FastSet, Store};
use crate::window::{Calendar, Window};
use lap_schemas::WindowKind;

/// Which rows a query's `entity` column describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grain {
    /// One learner in one class.
    Learner,
    /// One class.
    Class,
    /// One school.
    School,
}

/// A row's key: grain, window start, class (NULL for schools), entity.
pub type RowKey = (Grain, i64, Option<Arc<str>>, Arc<str>);

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Schema of the `events` table.
pub fn schema() -> SchemaRef {
    let f = |name: &str, t: DataType, null: bool| Field::new(name, t, null);
    Arc::new(Schema::new(vec![
        f("window_start", ts(), false),
        f("window_end", ts(), false),
        f("entity", DataType::Utf8, false),
        f("person_key", DataType::Utf8, false),
        f("class_id", DataType::Utf8, true),
        f("school_id", DataType::Utf8, true),
        f("course_id", DataType::Utf8, true),
        f("event_time", ts(), false),
        f("event_hash", DataType::Int64, false),
        f("action", DataType::Utf8, false),
        f("verb", DataType::Utf8, false),
        f("object_id", DataType::Utf8, false),
        f("object_type", DataType::Utf8, true),
        f("score_scaled", DataType::Float64, true),
        f("success", DataType::Boolean, true),
        f("completion", DataType::Boolean, true),
        f("duration_ms", DataType::Int64, true),
        f("response_value", DataType::Float64, true),
        f(
            "objective_ids",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            false,
        ),
        f("due_time", ts(), true),
        f("event_class_id", DataType::Utf8, true),
        f("week_end", ts(), false),
    ]))
}

/// Which windows and classes to put in a table: `None` means every class.
pub type Selection<'a> = [(Window, Option<&'a FastSet<ClassKey>>)];

/// What a table's rows say about its classes, for the rows SQL cannot make.
#[derive(Debug, Default)]
pub struct TableInfo {
    /// Distinct learners per (window start, class): the class rows' contributors.
    pub contributors: HashMap<(i64, Arc<str>), u32>,
    /// Distinct learners per (window start, school): the school rows'.
    pub school_contributors: HashMap<(i64, Arc<str>), u32>,
    /// School of each class.
    pub schools: HashMap<Arc<str>, Arc<str>>,
    /// The classes with events in the table.
    pub classes: BTreeSet<Arc<str>>,
    /// Newest event time behind each row.
    pub newest: HashMap<RowKey, i64>,
}

impl TableInfo {
    fn newest(&mut self, key: RowKey, time: i64) {
        let t = self.newest.entry(key).or_insert(time);
        *t = (*t).max(time);
    }
}

/// Builds the learner-grain table for the selected windows, its rows in
/// [`sort_order`]; derive the class grain with [`class_grain`].
pub fn learner_table(
    store: &Store,
    cal: &Calendar,
    selection: &Selection<'_>,
) -> Result<(RecordBatch, TableInfo), ArrowError> {
    let mut b = Builders::default();
    let mut info = TableInfo::default();
    let mut rows: Vec<Row<'_>> = Vec::new();
    for &(window, classes) in selection {
        let (start, end) = (cal.start(window), cal.end(window));
        let week_end = cal.end(Window::of(WindowKind::Weekly, window.first));
        for day in window.days() {
            let Some(state) = store.day(day) else {
                continue;
            };
            for (class, slot) in &state.classes {
                if classes.is_some_and(|set| !set.contains(class)) {
                    continue;
                }
                rows.extend(
                    slot.events
                        .iter()
                        .filter(|e| !e.removed)
                        .map(|e| ((start, end, week_end), class, slot, e)),
                );
            }
        }
    }
    rows.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
    let mut last: Option<(i64, &ClassKey, &Arc<str>)> = None;
    let mut in_school: HashSet<(i64, &Arc<str>, &Arc<str>)> = HashSet::new();
    for ((start, end, week_end), class, slot, e) in rows {
        let school = slot.school.as_ref();
        info.newest(
            (Grain::Learner, start, class.clone(), e.person.clone()),
            e.time,
        );
        if let Some(c) = class {
            info.classes.insert(c.clone());
            info.newest((Grain::Class, start, Some(c.clone()), c.clone()), e.time);
            if let Some(school) = school {
                info.schools
                    .entry(c.clone())
                    .or_insert_with(|| school.clone());
            }
            if last != Some((start, class, &e.person)) {
                *info.contributors.entry((start, c.clone())).or_default() += 1;
            }
        }
        if let Some(school) = school {
            info.newest((Grain::School, start, None, school.clone()), e.time);
            if in_school.insert((start, school, &e.person)) {
                *info
                    .school_contributors
                    .entry((start, school.clone()))
                    .or_default() += 1;
            }
        }
        last = Some((start, class, &e.person));
        b.push((start, end, week_end), class, slot, e);
    }
    Ok((b.finish()?, info))
}

/// A window's start, end and the end of its ISO week.
type Bounds = (i64, i64, i64);

/// A row of [`learner_table`] before it is built: the window's bounds,
/// class, the class's day, the event.
type Row<'a> = (Bounds, &'a ClassKey, &'a ClassDay, &'a Ev);

/// What [`learner_table`] orders rows by: [`sort_order`]'s columns as the
/// table stores them (`event_hash` is the key's low 64 bits, signed).
fn order_key<'a>(r: &Row<'a>) -> (i64, &'a ClassKey, &'a Arc<str>, i64, i64) {
    (r.0.0, r.1, &r.3.person, r.3.time, r.3.key as i64)
}

/// The order of the rows of a table from [`learner_table`], and of its
/// [`class_grain`]: window, class (rows without one first), entity,
/// learner, time, event hash. Declared to DataFusion with the table, so a
/// query whose window function partitions and orders by these columns
/// (`activity`'s `LEAD … OVER (PARTITION BY window_start, class_id,
/// entity, person_key ORDER BY event_time, event_hash)`) reads the rows as
/// they are instead of sorting them again on every emission. In the class
/// grain `entity` is the class id, so the order holds there too.
pub fn sort_order() -> Vec<SortExpr> {
    let asc = |name: &str, nulls_first: bool| col(name).sort(true, nulls_first);
    vec![
        asc("window_start", false),
        asc("class_id", true),
        asc("entity", false),
        asc("person_key", false),
        asc("event_time", false),
        asc("event_hash", false),
    ]
}

/// The class grain of a learner-grain table: rows with a class, `entity`
/// replaced by the class id.
pub fn class_grain(learner: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = learner.schema();
    let class_col = schema.index_of("class_id")?;
    let entity_col = schema.index_of("entity")?;
    let mask = is_not_null(learner.column(class_col))?;
    let rows = filter_record_batch(learner, &mask)?;
    let mut columns: Vec<ArrayRef> = rows.columns().to_vec();
    columns[entity_col] = rows.column(class_col).clone();
    RecordBatch::try_new(schema, columns)
}

/// The school grain of a learner-grain table: rows with a school, `entity`
/// replaced by the school id and `class_id` NULL (a row per school, not
/// per class; `event_class_id` keeps the class). The rows stay in
/// [`sort_order`]: with `class_id` NULL throughout it orders by entity,
/// then learner, and the learner grain's rows were in school order within
/// each class, not overall, so they are sorted again here.
pub fn school_grain(learner: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    use datafusion::arrow::array::new_null_array;
    use datafusion::arrow::compute::{SortColumn, lexsort_to_indices, take_record_batch};
    let schema = learner.schema();
    let school_col = schema.index_of("school_id")?;
    let class_col = schema.index_of("class_id")?;
    let entity_col = schema.index_of("entity")?;
    let mask = is_not_null(learner.column(school_col))?;
    let rows = filter_record_batch(learner, &mask)?;
    let mut columns: Vec<ArrayRef> = rows.columns().to_vec();
    columns[entity_col] = rows.column(school_col).clone();
    columns[class_col] = new_null_array(&DataType::Utf8, rows.num_rows());
    let regrained = RecordBatch::try_new(schema.clone(), columns)?;
    let keys: Vec<SortColumn> = [
        "window_start",
        "entity",
        "person_key",
        "event_time",
        "event_hash",
    ]
    .iter()
    .map(|name| {
        Ok(SortColumn {
            values: regrained.column(schema.index_of(name)?).clone(),
            options: None,
        })
    })
    .collect::<Result<_, ArrowError>>()?;
    let order = lexsort_to_indices(&keys, None)?;
    take_record_batch(&regrained, &order)
}

#[derive(Default)]
struct Builders {
    window_start: TimestampMicrosecondBuilder,
    window_end: TimestampMicrosecondBuilder,
    entity: StringBuilder,
    class_id: StringBuilder,
    school_id: StringBuilder,
    course_id: StringBuilder,
    event_time: TimestampMicrosecondBuilder,
    event_hash: Int64Builder,
    action: StringBuilder,
    verb: StringBuilder,
    object_id: StringBuilder,
    object_type: StringBuilder,
    score: Float64Builder,
    success: BooleanBuilder,
    completion: BooleanBuilder,
    duration: Int64Builder,
    response: Float64Builder,
    objectives: ListBuilder<StringBuilder>,
    due: TimestampMicrosecondBuilder,
    event_class: StringBuilder,
    week_end: TimestampMicrosecondBuilder,
}

fn number(v: f64) -> Option<f64> {
    (!v.is_nan()).then_some(v)
}

fn instant(v: i64) -> Option<i64> {
    (v != i64::MIN).then_some(v)
}

impl Builders {
    fn push(&mut self, (start, end, week_end): Bounds, class: &ClassKey, slot: &ClassDay, e: &Ev) {
        self.event_class.append_option(class.as_deref());
        self.week_end.append_value(week_end);
        self.window_start.append_value(start);
        self.window_end.append_value(end);
        self.entity.append_value(&e.person);
        self.class_id.append_option(class.as_deref());
        self.school_id.append_option(slot.school.as_deref());
        self.course_id.append_option(slot.course.as_deref());
        self.event_time.append_value(e.time);
        self.event_hash.append_value(e.key as i64);
        self.action.append_value(e.action.as_str());
        self.verb.append_value(&e.verb);
        self.object_id.append_value(&e.object);
        self.object_type.append_option(e.object_type.as_deref());
        self.score.append_option(number(e.score));
        self.success.append_option(e.success);
        self.completion.append_option(e.completion);
        self.duration.append_option(instant(e.duration_ms));
        self.response.append_option(number(e.response));
        for o in &e.objectives {
            self.objectives.values().append_value(o);
        }
        self.objectives.append(true);
        self.due.append_option(instant(e.due));
    }

    fn finish(mut self) -> Result<RecordBatch, ArrowError> {
        let utc = |b: &mut TimestampMicrosecondBuilder| -> ArrayRef {
            Arc::new(b.finish().with_timezone("UTC"))
        };
        let entity: ArrayRef = Arc::new(self.entity.finish());
        let columns: Vec<ArrayRef> = vec![
            utc(&mut self.window_start),
            utc(&mut self.window_end),
            entity.clone(),
            entity,
            Arc::new(self.class_id.finish()),
            Arc::new(self.school_id.finish()),
            Arc::new(self.course_id.finish()),
            utc(&mut self.event_time),
            Arc::new(self.event_hash.finish()),
            Arc::new(self.action.finish()),
            Arc::new(self.verb.finish()),
            Arc::new(self.object_id.finish()),
            Arc::new(self.object_type.finish()),
            Arc::new(self.score.finish()),
            Arc::new(self.success.finish()),
            Arc::new(self.completion.finish()),
            Arc::new(self.duration.finish()),
            Arc::new(self.response.finish()),
            Arc::new(self.objectives.finish()),
            utc(&mut self.due),
            Arc::new(self.event_class.finish()),
            utc(&mut self.week_end),
        ];
        RecordBatch::try_new(schema(), columns)
    }
}
