//! A teacher's digest choice: how often they get the new and worsening
//! flags of their classes by e-mail (none, daily, weekly).

use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::layout;
use crate::digest::Frequency;
use crate::directory::Role;
use crate::server::{PageError, Signed, Views};

/// The choices, with what each means.
const CHOICES: [(Frequency, &str); 3] = [
    (
        Frequency::Daily,
        "Daily: each school morning, when a flag is new or worse",
    ),
    (
        Frequency::Weekly,
        "Weekly: once a week, when a flag is new or worse",
    ),
    (Frequency::None, "Never"),
];

/// The signed-in teacher's choice, or 404 for anyone else.
async fn current(views: &Views, signed: &Signed) -> Result<Frequency, PageError> {
    if signed.viewer.role != Role::Teacher {
        return Err(PageError::NotFound);
    }
    let prefs = views.backend.digest_prefs().await?;
    Ok(prefs
        .get(&signed.viewer.person)
        .copied()
        .unwrap_or(views.options.digest_default))
}

/// `GET /digest`.
pub async fn page(State(views): State<Arc<Views>>, signed: Signed) -> Result<Response, PageError> {
    let chosen = current(&views, &signed).await?;
    let body = html! {
        h1 { "Your digest" }
        p { "A digest lists, per class, how many early-warning flags are new or have worsened since the previous one, with a link to the class. It names no learner: the names are here, after you sign in." }
        form method="post" action="/digest" {
            input type="hidden" name="csrf" value=(signed.csrf);
            fieldset {
                legend { "How often do you want it?" }
                @for (f, text) in CHOICES {
                    div {
                        input type="radio" name="frequency" id={"f-" (f.as_str())} value=(f.as_str()) checked[f == chosen];
                        label for={"f-" (f.as_str())} { (text) }
                    }
                }
            }
            button type="submit" { "Save" }
        }
    };
    Ok(layout("Your digest", Some((&signed.viewer, &signed.csrf)), body).into_response())
}

/// The form of `POST /digest`.
#[derive(Deserialize)]
pub struct DigestForm {
    csrf: String,
    frequency: String,
}

/// `POST /digest`: saves the choice.
pub async fn save(
    State(views): State<Arc<Views>>,
    signed: Signed,
    Form(form): Form<DigestForm>,
) -> Result<Response, PageError> {
    signed.check(&form.csrf)?;
    current(&views, &signed).await?;
    let frequency = Frequency::parse(&form.frequency).ok_or_else(|| {
        PageError::BadForm(format!(
            "`{}` is not one of daily, weekly, none",
            form.frequency
        ))
    })?;
    views
        .backend
        .set_digest_pref(
            &signed.viewer.person,
            frequency,
            chrono::Utc::now().timestamp_micros(),
        )
        .await?;
    Ok(Redirect::to("/digest").into_response())
}
