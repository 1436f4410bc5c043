//! A class: its trend over the term, its newest week, and for its
//! teachers the learners with their open flags and how the class spreads.
//! School leaders see the class rows only.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use lap_schemas::IndicatorRow;
use lap_sink::select::Selection;
use maud::{Markup, html};

use super::{
    csv as csv_response, freshness, indicator_table, layout_live, record_access, table_of, trends,
};
use crate::chart::{bins, histogram};
use crate::directory::{Class, Role};
use crate::labels::{self, Unit};
use crate::present::{newest, open_flags};
use crate::server::{PageError, Signed, Views};

/// The class `id` if `signed` may see it.
pub(crate) fn entitled_class<'a>(
    views: &'a Views,
    signed: &Signed,
    id: &str,
) -> Result<&'a Class, PageError> {
    views
        .directory
        .class(id)
        .filter(|c| signed.viewer.sees_class(c))
        .ok_or(PageError::NotFound)
}

/// Columns of the learner table: the indicators a teacher scans first.
const LEARNER_COLUMNS: [&str; 5] = [
    "activity_events",
    "active_minutes",
    "mean_score",
    "submissions_missing",
    "attendance_rate",
];

/// `GET /classes/{class}`.
pub async fn page(
    State(views): State<Arc<Views>>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let class = entitled_class(&views, &signed, &id)?;
    let v = &signed.viewer;
    let all = Selection::ever()
        .of_class(&class.id)
        .of_entities(vec![class.id.clone()]);
    let weekly = views.backend.rows("class_weekly", &all).await?;
    let latest = weekly.last();

    let learners: Vec<_> = if v.role == Role::Teacher {
        v.learners
            .values()
            .filter(|l| l.classes.contains(&class.id))
            .collect()
    } else {
        Vec::new()
    };
    let keys: Vec<String> = learners.iter().map(|l| l.pseudonym.clone()).collect();
    let (learner_rows, actions) = if keys.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        let sel = Selection::ever()
            .of_class(&class.id)
            .of_entities(keys.clone());
        (
            views.backend.rows("learner_weekly", &sel).await?,
            views.backend.flag_actions(&keys).await?,
        )
    };
    record_access(&views, v, keys.iter().map(String::as_str), "class").await?;

    let body = html! {
        h1 { (class.title) }
        p { "Class " (class.id)
            @if let Some(s) = class.school.as_deref().and_then(|s| views.directory.org(s)) { " at " (s.name) } }
        @match latest {
            None => p { "No weekly rows for this class yet." },
            Some(row) => {
                h2 { "Newest week" }
                (freshness(row))
                (indicator_table(&views, "Indicators of the newest week", row))
                h2 { "Trend over the term" }
                (trends(&views, "class", &weekly, Some(&format!("/classes/{}/class_weekly.csv", class.id))))
                p { a href={"/classes/" (class.id) "/class_daily.csv"} download { "Daily rows as CSV" } }
            }
        }
        @if v.role == Role::Teacher {
            h2 { "Learners" }
            @if learners.is_empty() {
                p { "No learners of this class can be shown." }
            } @else {
                form method="get" action={"/classes/" (class.id) "/group"} {
                table {
                    caption { "Each learner's newest week in this class" }
                    thead { tr {
                        th scope="col" { "Pick" }
                        th scope="col" { "Learner" }
                        @for c in LEARNER_COLUMNS { th scope="col" { (labels::indicator(c).0) } }
                        th scope="col" { "Open flags" }
                    } }
                    tbody { @for l in &learners {
                        @let mine: Vec<_> = learner_rows.iter().filter(|r| r.entity_id == l.pseudonym).cloned().collect();
                        @let row = newest(&mine).into_iter().last();
                        @let flags = open_flags(&mine, &actions);
                        tr {
                            td { input type="checkbox" name="learner" value=(l.pseudonym) aria-label={"Pick " (l.name) " for a group"}; }
                            th scope="row" { a href={"/learners/" (l.pseudonym)} { (l.name) } }
                            @for c in LEARNER_COLUMNS {
                                td { (labels::value(c, row.and_then(|r| r.indicators.get(c).copied().flatten()))) }
                            }
                            td { @if flags.is_empty() { "none" } @else {
                                ul.flags { @for f in &flags { li {
                                    (labels::flag(&f.flag.code))
                                    @if f.acknowledged { " (acknowledged)" }
                                } } }
                            } }
                        }
                    } }
                }
                button type="submit" { "Show the picked learners as a group" }
                }
                @if let Some(row) = latest {
                    (spread(&learner_rows, row.window_start))
                }
            }
        }
    };
    let live = format!("/classes/{}/live", class.id);
    Ok(layout_live(&class.title, Some((v, &signed.csrf)), Some(&live), body).into_response())
}

/// What the class's spread charts show: (indicator, unit).
const SPREAD: [(&str, Unit); 2] = [
    ("activity_events", Unit::Count),
    ("mean_score", Unit::Percent),
];

/// How the learners of the class spread over the week starting at
/// `week`, per indicator of [`SPREAD`]: a bar chart and its numbers. For
/// the class's teachers only, who see each learner's row anyway.
fn spread(learner_rows: &[IndicatorRow], week: i64) -> Markup {
    html! {
        h2 { "How the class spreads in the newest week" }
        @for (name, unit) in SPREAD {
            @let values: Vec<f64> = learner_rows.iter()
                .filter(|r| r.window_start == week)
                .filter_map(|r| r.indicators.get(name).copied().flatten())
                .collect();
            @let title = labels::indicator(name).0;
            @if !values.is_empty() {
                section.trend {
                    h3 { (title) }
                    (histogram(&format!("spread-{name}"), &title, unit, &values))
                    details {
                        summary { "Numbers of “" (title) "”" }
                        table {
                            caption { (title) ": learners per range" }
                            thead { tr { th scope="col" { "Range" } th scope="col" { "Learners" } } }
                            tbody { @for (range, n) in bins(unit, &values) {
                                tr { th scope="row" { (range) } td { (n) } }
                            } }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /classes/{class}/{class_weekly|class_daily}.csv`.
pub async fn csv(
    State(views): State<Arc<Views>>,
    signed: Signed,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let class = entitled_class(&views, &signed, &id)?;
    let table = table_of(&file, "class_")?;
    let sel = Selection::ever()
        .of_class(&class.id)
        .of_entities(vec![class.id.clone()]);
    let rows = views.backend.rows(table, &sel).await?;
    Ok(csv_response(&views, &format!("{}-{file}", class.id), &rows))
}
