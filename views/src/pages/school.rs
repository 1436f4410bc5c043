//! A school, for its leaders: the school's trend, its classes' newest
//! weeks (suppressed below k like every group), and how often teachers
//! found each flag not useful. No learner rows, no names.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use lap_sink::select::Selection;
use maud::html;

use super::{csv as csv_response, freshness, indicator_table, layout, shown, table_of, trends};
use crate::directory::Org;
use crate::labels;
use crate::server::{PageError, Signed, Views};

/// Columns of the class table.
const CLASS_COLUMNS: [&str; 4] = [
    "activity_events",
    "mean_score",
    "attendance_rate",
    "wellbeing_index",
];

fn school<'a>(views: &'a Views, signed: &Signed, id: &str) -> Result<&'a Org, PageError> {
    if !signed.viewer.schools.contains(id) {
        return Err(PageError::NotFound);
    }
    views.directory.org(id).ok_or(PageError::NotFound)
}

/// `GET /schools/{school}`.
pub async fn page(
    State(views): State<Arc<Views>>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let org = school(&views, &signed, &id)?;
    let sel = Selection::ever().of_entities(vec![org.id.clone()]);
    let weekly = views.backend.rows("school_weekly", &sel).await?;
    let classes = views
        .backend
        .rows("class_weekly", &Selection::ever().of_school(&org.id))
        .await?;
    let newest_week = classes.iter().map(|r| r.window_start).max();
    let not_useful = views.backend.not_useful_counts().await?;
    let body = html! {
        h1 { (org.name) }
        @match weekly.last() {
            None => p { "No weekly rows for this school yet." },
            Some(row) => {
                h2 { "Newest week" }
                (freshness(row))
                (indicator_table(&views, "Indicators of the newest week", row))
                h2 { "Trend over the term" }
                (trends(&views, "school", &weekly, Some(&format!("/schools/{}/school_weekly.csv", org.id))))
            }
        }
        h2 { "Classes in the newest week" }
        table {
            caption { "Each class's newest weekly row; classes with fewer than " (views.options.min_group_size) " active learners show no values" }
            thead { tr {
                th scope="col" { "Class" }
                th scope="col" { "Learners" }
                @for c in CLASS_COLUMNS { th scope="col" { (labels::indicator(c).0) } }
            } }
            tbody { @for r in classes.iter().filter(|r| Some(r.window_start) == newest_week) {
                tr {
                    th scope="row" { a href={"/classes/" (r.entity_id)} {
                        (views.directory.class(&r.entity_id).map_or(r.entity_id.as_str(), |c| c.title.as_str()))
                    } }
                    td { (r.contributors) }
                    @for c in CLASS_COLUMNS { td { (labels::value(c, shown(&views, r, c))) } }
                }
            } }
        }
        h2 { "Flags teachers marked not useful" }
        @if not_useful.is_empty() { p { "None so far." } } @else {
            table {
                caption { "Counts per flag, to help tune the thresholds" }
                thead { tr { th scope="col" { "Flag" } th scope="col" { "Marked not useful" } } }
                tbody { @for (code, n) in &not_useful { tr { th scope="row" { (labels::flag(code)) } td { (n) } } } }
            }
        }
    };
    Ok(layout(&org.name, Some((&signed.viewer, &signed.csrf)), body).into_response())
}

/// `GET /schools/{school}/{school_weekly|school_daily}.csv`.
pub async fn csv(
    State(views): State<Arc<Views>>,
    signed: Signed,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let org = school(&views, &signed, &id)?;
    let table = table_of(&file, "school_")?;
    let sel = Selection::ever().of_entities(vec![org.id.clone()]);
    let rows = views.backend.rows(table, &sel).await?;
    Ok(csv_response(&views, &format!("{}-{file}", org.id), &rows))
}
