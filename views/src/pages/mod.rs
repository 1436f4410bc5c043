//! The pages, one module per page kind, and what they share: the layout,
//! freshness, indicator tables, trend charts and CSV downloads.

pub mod class;
pub mod digest;
pub mod groups;
pub mod home;
pub mod learner;
pub mod live;
pub mod school;

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use lap_schemas::IndicatorRow;
use maud::{DOCTYPE, Markup, html};

use crate::chart::{Series, date, line_chart};
use crate::directory::Viewer;
use crate::labels::{self, Unit};
use crate::present;
use crate::server::{PageError, Views};
use crate::store::Access;

/// A page with the site's header; `signed` adds the viewer's name and the
/// sign-out button.
pub fn layout(title: &str, signed: Option<(&Viewer, &str)>, body: Markup) -> Html<String> {
    layout_live(title, signed, None, body)
}

/// [`layout`] for a page that keeps itself current from the server-sent
/// events at `live` (see [`live`]).
pub fn layout_live(
    title: &str,
    signed: Option<(&Viewer, &str)>,
    live: Option<&str>,
    body: Markup,
) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · lap" }
                    link rel="stylesheet" href="/style.css";
                    @if live.is_some() {
                        script src="/live.js" defer {}
                    }
                }
                body {
                    a.skip href="#main" { "Skip to content" }
                    header {
                        nav aria-label="Site" {
                            a href="/" { "lap · learning analytics" }
                            @if let Some((viewer, csrf)) = signed {
                                span.who { (viewer.name) " (" (viewer.role.as_str()) ")" }
                                form method="post" action="/signout" {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button type="submit" { "Sign out" }
                                }
                            }
                        }
                        @if live.is_some() {
                            p #live-status role="status" aria-live="polite" {}
                        }
                    }
                    main id="main" data-live=[live] { (body) }
                }
            }
        }
        .into_string(),
    )
}

/// A page with only a heading and a sentence (errors).
pub fn message(title: &str, text: &str) -> Html<String> {
    layout(
        title,
        None,
        html! { h1 { (title) } p { (text) } p { a href="/" { "Start page" } } },
    )
}

/// When a time (UTC µs) was, to the minute.
pub fn when(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// How fresh `row` is and whether it may still change.
pub fn freshness(row: &IndicatorRow) -> Markup {
    html! {
        p.freshness {
            @if row.is_final {
                span.badge.final { "Final" }
            } @else {
                span.badge.provisional { "Provisional: may still change as late data arrives" }
            }
            " Window " (date(row.window_start)) " to " (date(row.window_end - 1)) ". "
            @if let Some(t) = row.newest_event_time {
                "Newest activity " (when(t)) "; "
            }
            "computed " (when(row.emitted_time)) "."
        }
    }
}

/// Whether the views show `name` of `row`: a suppressed row shows
/// nothing, and well-being of a group needs at least k contributors.
pub fn shown(views: &Views, row: &IndicatorRow, name: &str) -> Option<f64> {
    if row.suppressed {
        return None;
    }
    let group = row.entity_kind != lap_schemas::EntityKind::Learner;
    if group && labels::is_wellbeing(name) && row.contributors < views.options.min_group_size as i32
    {
        return None;
    }
    row.indicators.get(name).copied().flatten()
}

/// A table of the indicators of `row`.
pub fn indicator_table(views: &Views, caption: &str, row: &IndicatorRow) -> Markup {
    let names = present::indicator_names(std::slice::from_ref(row));
    html! {
        @if row.suppressed {
            p.suppressed {
                "Fewer than " (views.options.min_group_size)
                " learners were active in this window, so its values are not shown."
            }
        } @else {
            table {
                caption { (caption) }
                thead { tr { th scope="col" { "Indicator" } th scope="col" { "Value" } } }
                tbody {
                    @for n in &names {
                        tr {
                            th scope="row" { (labels::indicator(n).0) }
                            td { (labels::value(n, shown(views, row, n))) }
                        }
                    }
                }
            }
        }
    }
}

/// The charts a trend section shows: (title, unit, indicators).
const TRENDS: &[(&str, Unit, &[&str])] = &[
    (
        "Activity",
        Unit::Count,
        &["activity_events", "active_minutes"],
    ),
    (
        "Results",
        Unit::Percent,
        &["mean_score", "pass_rate", "curriculum_coverage"],
    ),
    ("Attendance", Unit::Percent, &["attendance_rate"]),
    (
        "Submissions",
        Unit::Count,
        &[
            "submissions_on_time",
            "submissions_late",
            "submissions_missing",
        ],
    ),
    ("Well-being", Unit::Percent, &["wellbeing_index"]),
];

/// Trend charts of `rows` (one entity, oldest first), each with its
/// numbers in a table, and a link to the CSV at `csv` if there is one.
pub fn trends(views: &Views, id: &str, rows: &[IndicatorRow], csv: Option<&str>) -> Markup {
    html! {
        @for (i, (title, unit, names)) in TRENDS.iter().enumerate() {
            @let series: Vec<Series> = names.iter()
                .map(|n| Series {
                    label: labels::indicator(n).0,
                    points: rows.iter().map(|r| (r.window_start, shown(views, r, n))).collect(),
                })
                .filter(|s| s.points.iter().any(|p| p.1.is_some()))
                .collect();
            @if !series.is_empty() {
                section.trend {
                    h3 { (title) }
                    (line_chart(&format!("{id}-{i}"), title, *unit, &series))
                    details {
                        summary { "Numbers of “" (title) "”" }
                        table {
                            caption { (title) " by window" }
                            thead { tr { th scope="col" { "Window" } @for s in &series { th scope="col" { (s.label) } } } }
                            tbody {
                                @for (j, r) in rows.iter().enumerate() {
                                    tr {
                                        th scope="row" { (date(r.window_start)) @if !r.is_final { " (provisional)" } }
                                        @for (s, n) in series.iter().zip(names.iter()) {
                                            td { (labels::value(n, s.points[j].1)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(csv) = csv {
            p { a href=(csv) download { "Download all rows as CSV" } }
        }
    }
}

/// The indicator tables a page may offer as CSV, by URL segment.
pub fn table_of(segment: &str, kind: &str) -> Result<&'static str, PageError> {
    lap_sink::rows::INDICATOR_TABLES
        .into_iter()
        .find(|t| t.starts_with(kind) && format!("{t}.csv") == segment)
        .ok_or(PageError::NotFound)
}

/// `rows` as CSV (no names, no pseudonyms: the file is about one entity
/// the viewer chose), with the values the views show.
pub fn csv(views: &Views, file: &str, rows: &[IndicatorRow]) -> Response {
    let names = present::indicator_names(rows);
    let mut out = String::from("window_start,window_end,class_id,is_final,contributors,suppressed");
    for n in &names {
        out.push(',');
        out.push_str(n);
    }
    out.push_str(",flags\n");
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{}",
            date(r.window_start),
            date(r.window_end - 1),
            r.class_id.as_deref().unwrap_or(""),
            r.is_final,
            r.contributors,
            r.suppressed
        ));
        for n in &names {
            out.push(',');
            if let Some(v) = shown(views, r, n) {
                out.push_str(&v.to_string());
            }
        }
        let codes: Vec<&str> = r.flags.iter().map(|f| f.code.as_str()).collect();
        out.push_str(&format!(",{}\n", codes.join(" ")));
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        out,
    )
        .into_response()
}

/// Records that `viewer` was shown the rows of `learners` in `view`.
pub async fn record_access(
    views: &Views,
    viewer: &Viewer,
    learners: impl IntoIterator<Item = &str>,
    view: &str,
) -> Result<(), PageError> {
    let at = chrono::Utc::now().timestamp_micros();
    let accesses: Vec<Access> = learners
        .into_iter()
        .map(|l| Access {
            at,
            viewer: viewer.person.clone(),
            role: viewer.role.as_str().to_string(),
            person_key: l.to_string(),
            view: view.to_string(),
        })
        .collect();
    if !accesses.is_empty() {
        views.backend.record_access(&accesses).await?;
    }
    Ok(())
}
