//! The `events` table's rows are in the order declared to DataFusion
//! (`table::sort_order`), which lets the plans skip sorting them: a row out
//! of that order would silently give `LEAD` the wrong next event.

mod common;

use common::{at, ev};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::{SortColumn, SortOptions, lexsort_to_indices};
use datafusion::logical_expr::Expr;
use lap_aggregate::store::{Inserted, Store};
use lap_aggregate::table::{class_grain, learner_table, sort_order};
use lap_aggregate::window::{Calendar, Window};
use lap_schemas::{Action, WindowKind};

/// True when `batch`'s rows already are in `sort_order()`.
fn in_declared_order(batch: &RecordBatch) -> bool {
    let columns: Vec<SortColumn> = sort_order()
        .iter()
        .map(|s| {
            let Expr::Column(c) = &s.expr else {
                panic!("sort order by a column, not {}", s.expr)
            };
            SortColumn {
                values: batch.column_by_name(&c.name).expect("column").clone(),
                options: Some(SortOptions {
                    descending: !s.asc,
                    nulls_first: s.nulls_first,
                }),
            }
        })
        .collect();
    let order = lexsort_to_indices(&columns, None).expect("sortable");
    order
        .values()
        .iter()
        .enumerate()
        .all(|(position, &row)| row as usize == position)
}

#[test]
fn rows_arrive_in_the_declared_order_however_the_events_did() {
    let cal = Calendar::new("UTC").unwrap();
    let mut store = Store::default();
    let mut count = 0;
    // Two days, three learners, two classes and no class, ties in time
    // (decided by the event hash, half of which have their top bit set),
    // inserted newest day, last learner and last class first.
    for (d, day) in ["2026-03-03", "2026-03-02"].iter().enumerate() {
        for person in ["p3", "p1", "p2"] {
            for class in [Some("c2"), None, Some("c1")] {
                for i in 0..12 {
                    let time = format!("{day} {:02}:00", 9 + i % 3);
                    let mut e = ev(
                        &format!("e-{d}-{person}-{class:?}-{i}"),
                        person,
                        &time,
                        Action::Viewed,
                        "r1",
                    );
                    e.class_id = class.map(Into::into);
                    let inserted = store.insert(cal.day_of(at(&time)), &e);
                    assert!(matches!(inserted, Inserted::Added));
                    count += 1;
                }
            }
        }
    }
    let days: Vec<Window> = ["2026-03-03", "2026-03-02"]
        .iter()
        .map(|d| Window::of(WindowKind::Daily, cal.day_of(at(&format!("{d} 12:00")))))
        .collect();
    // The selection lists the later day first.
    let selection: Vec<_> = days.iter().map(|w| (*w, None)).collect();
    let (learner, _) = learner_table(&store, &cal, &selection).unwrap();
    assert_eq!(learner.num_rows(), count);
    assert!(in_declared_order(&learner));
    let class = class_grain(&learner).unwrap();
    assert_eq!(class.num_rows(), count / 3 * 2);
    assert!(in_declared_order(&class));
}
