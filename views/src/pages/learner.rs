//! One learner, for their teachers (in the teacher's classes only), their
//! guardians and themselves: trends per class, open flags with what drove
//! them, and for teachers the actions on each flag.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use lap_schemas::IndicatorRow;
use lap_sink::select::Selection;
use maud::html;
use serde::Deserialize;

use super::{csv as csv_response, freshness, layout_live, record_access, table_of, trends};
use crate::calendar::{calendar, marks};
use crate::chart::date;
use crate::directory::{Learner, Role};
use crate::labels;
use crate::present::open_flags;
use crate::server::{PageError, Signed, Views};
use crate::store::{Action, FlagAction};

/// Longest note a resolution may carry: a reminder, not a case file.
const NOTE_MAX: usize = 280;

/// The learner `key` if `signed` may see them, and their rows of
/// `table` in the classes the viewer may see them in (guardians and the
/// learner also see rows outside any class).
async fn rows_of<'a>(
    views: &Views,
    signed: &'a Signed,
    key: &str,
    table: &'static str,
) -> Result<(&'a Learner, Vec<IndicatorRow>), PageError> {
    let learner = signed.viewer.learner(key).ok_or(PageError::NotFound)?;
    let sel = Selection::ever().of_entities(vec![learner.pseudonym.clone()]);
    let teacher = signed.viewer.role == Role::Teacher;
    let rows = views
        .backend
        .rows(table, &sel)
        .await?
        .into_iter()
        .filter(|r| match &r.class_id {
            Some(c) => learner.classes.contains(c),
            None => !teacher,
        })
        .collect();
    Ok((learner, rows))
}

/// `GET /learners/{learner}`.
pub async fn page(
    State(views): State<Arc<Views>>,
    signed: Signed,
    Path(key): Path<String>,
) -> Result<Response, PageError> {
    let (learner, rows) = rows_of(&views, &signed, &key, "learner_weekly").await?;
    let daily = rows_of(&views, &signed, &key, "learner_daily").await?.1;
    let actions = views
        .backend
        .flag_actions(std::slice::from_ref(&learner.pseudonym))
        .await?;
    let mut all = rows.clone();
    all.extend(daily.iter().cloned());
    let flags = open_flags(&all, &actions);
    record_access(
        &views,
        &signed.viewer,
        [learner.pseudonym.as_str()],
        "learner",
    )
    .await?;

    let teacher = signed.viewer.role == Role::Teacher;
    let mut classes: Vec<Option<String>> = rows.iter().map(|r| r.class_id.clone()).collect();
    classes.dedup();
    classes.sort();
    classes.dedup();
    let title_of = |c: &Option<String>| match c {
        Some(c) => views
            .directory
            .class(c)
            .map_or(c.clone(), |k| k.title.clone()),
        None => "Outside any class".to_string(),
    };
    let body = html! {
        h1 { (learner.name) }
        h2 { "Open flags" }
        @if flags.is_empty() {
            p { "No open flags." }
        }
        @for (i, f) in flags.iter().enumerate() {
            section.flag aria-labelledby={"flag-" (i)} {
                h3 id={"flag-" (i)} { (labels::flag(&f.flag.code)) " · " (title_of(&f.class_id)) }
                p { (f.flag.reason) }
                p.small {
                    (f.window_kind.as_str()) " window from " (date(f.window_start))
                    @if !f.is_final { " (provisional)" }
                    @if f.acknowledged { " · acknowledged by a teacher" }
                }
                @if !f.flag.evidence.is_empty() {
                    table {
                        caption { "What raised it" }
                        tbody { @for (k, v) in &f.flag.evidence {
                            tr { th scope="row" { (k.replace('_', " ")) } td { (format!("{v:.2}")) } }
                        } }
                    }
                }
                @if teacher {
                    form method="post" action={"/learners/" (learner.pseudonym) "/flags"} {
                        input type="hidden" name="csrf" value=(signed.csrf);
                        input type="hidden" name="code" value=(f.flag.code);
                        input type="hidden" name="class_id" value=(f.class_id.as_deref().unwrap_or(""));
                        input type="hidden" name="window_start" value=(f.window_start);
                        label for={"note-" (i)} { "Note (kept with the resolution, at most " (NOTE_MAX) " characters)" }
                        input id={"note-" (i)} type="text" name="note" maxlength=(NOTE_MAX);
                        button type="submit" name="action" value="acknowledged" { "Acknowledge" }
                        button type="submit" name="action" value="resolved" { "Resolve" }
                        button type="submit" name="action" value="not_useful" { "Not useful" }
                    }
                }
            }
        }
        @for (i, c) in classes.iter().enumerate() {
            @let of: Vec<IndicatorRow> = rows.iter().filter(|r| &r.class_id == c).cloned().collect();
            section {
                h2 { (title_of(c)) }
                @if let Some(last) = of.last() {
                    (freshness(last))
                    @for cleared in &last.cleared_flags {
                        p.cleared { (labels::flag(&cleared.code)) " was raised earlier and cleared by data that arrived later." }
                    }
                }
                (trends(&views, &format!("class{i}"), &of, Some(&format!("/learners/{}/learner_weekly.csv", learner.pseudonym))))
                @let days = marks(&daily.iter().filter(|r| &r.class_id == c).cloned().collect::<Vec<_>>());
                @if !days.is_empty() {
                    h3 { "Attendance by day" }
                    (calendar(&title_of(c), &days))
                }
            }
        }
        @if rows.is_empty() { p { "No weekly rows yet." } }
        @if !teacher { p { a href="/my-data" { "Which data is used, and who looked at it" } } }
    };
    let live = format!("/learners/{}/live", learner.pseudonym);
    Ok(layout_live(
        &learner.name,
        Some((&signed.viewer, &signed.csrf)),
        Some(&live),
        body,
    )
    .into_response())
}

/// `GET /learners/{learner}/{learner_weekly|learner_daily}.csv`.
pub async fn csv(
    State(views): State<Arc<Views>>,
    signed: Signed,
    Path((key, file)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let table = table_of(&file, "learner_")?;
    let (learner, rows) = rows_of(&views, &signed, &key, table).await?;
    record_access(
        &views,
        &signed.viewer,
        [learner.pseudonym.as_str()],
        "learner.csv",
    )
    .await?;
    Ok(csv_response(&views, &file, &rows))
}

/// A teacher's action on a flag.
#[derive(Deserialize)]
pub struct FlagForm {
    csrf: String,
    code: String,
    class_id: String,
    window_start: i64,
    action: String,
    #[serde(default)]
    note: String,
}

/// `POST /learners/{learner}/flags`: acknowledge, resolve or mark a flag
/// not useful (teachers of the flagged class only).
pub async fn flag_action(
    State(views): State<Arc<Views>>,
    signed: Signed,
    Path(key): Path<String>,
    Form(form): Form<FlagForm>,
) -> Result<Response, PageError> {
    signed.check(&form.csrf)?;
    let learner = signed.viewer.learner(&key).ok_or(PageError::NotFound)?;
    if signed.viewer.role != Role::Teacher || !learner.classes.contains(&form.class_id) {
        return Err(PageError::NotFound);
    }
    let action = Action::parse(&form.action)
        .ok_or_else(|| PageError::BadForm(format!("unknown action `{}`", form.action)))?;
    if form.note.chars().count() > NOTE_MAX {
        return Err(PageError::BadForm(format!(
            "the note has more than {NOTE_MAX} characters; keep it short and keep details about the child out of it"
        )));
    }
    views
        .backend
        .record_flag_action(&FlagAction {
            at: chrono::Utc::now().timestamp_micros(),
            viewer: signed.viewer.person.clone(),
            person_key: learner.pseudonym.clone(),
            class_id: Some(form.class_id),
            code: form.code,
            action,
            window_start: form.window_start,
            note: form.note,
        })
        .await?;
    Ok(Redirect::to(&format!("/learners/{}", learner.pseudonym)).into_response())
}
