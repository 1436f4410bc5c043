//! The start page, sign-in and sign-out, and the page that tells a
//! learner or guardian what data is used and who looked at it.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::{layout, message, when};
use crate::directory::Role;
use crate::labels::{DATA_USED, NAMES_NOTE};
use crate::server::{COOKIE, PageError, SIGNIN_COOKIE, SignIn, Signed, Views, cookie};
use tracing::warn;

/// `GET /`: what the signed-in person may look at.
pub async fn home(State(views): State<Arc<Views>>, signed: Signed) -> Result<Response, PageError> {
    let v = &signed.viewer;
    let d = &views.directory;
    let groups: Vec<_> = views
        .backend
        .groups_of(&v.person)
        .await?
        .into_iter()
        .filter(|g| d.class(&g.class_id).is_some_and(|c| v.sees_class(c)))
        .collect();
    let body = html! {
        h1 { "Hello, " (v.name) }
        @match v.role {
            Role::Teacher => {
                h2 { "Your classes" }
                ul { @for c in v.classes.iter().filter_map(|c| d.class(c)) {
                    li { a href={"/classes/" (c.id)} { (c.title) } " (" (c.id) ")" }
                } }
                p { a href="/digest" { "Your digest of new and worsening flags" } }
            }
            Role::Leader => {
                h2 { "Your schools" }
                ul { @for s in &v.schools {
                    li { a href={"/schools/" (s)} { (d.org(s).map_or(s.as_str(), |o| o.name.as_str())) } }
                } }
            }
            Role::Guardian | Role::Learner => {
                h2 { @if v.role == Role::Guardian { "Your children" } @else { "Your progress" } }
                ul { @for l in v.learners.values() {
                    li { a href={"/learners/" (l.pseudonym)} { (l.name) } }
                } }
                p { a href="/my-data" { "Which data is used, and who looked at it" } }
            }
        }
        @if !groups.is_empty() {
            h2 { "Groups" }
            ul { @for g in &groups {
                li { a href={"/groups/" (g.id)} { (g.name) }
                    " (" (d.class(&g.class_id).map_or(g.class_id.as_str(), |c| c.title.as_str()))
                    @if g.owner != v.person { ", shared with you" } ")" }
            } }
        }
    };
    Ok(layout("Start", Some((v, &signed.csrf)), body).into_response())
}

/// `GET /signin`: with the demo sign-in, the list of people to sign in
/// as; with OpenID Connect, off to the provider, the sign-in's state in a
/// short-lived cookie.
pub async fn sign_in_page(State(views): State<Arc<Views>>) -> Response {
    if let SignIn::Oidc { client, .. } = &views.options.sign_in {
        let (url, state) = client.start();
        return (
            [(
                header::SET_COOKIE,
                format!("{SIGNIN_COOKIE}={state}; Path=/signin; HttpOnly; Secure; SameSite=Lax; Max-Age=600"),
            )],
            Redirect::to(&url),
        )
            .into_response();
    }
    let mut people: Vec<_> = views
        .directory
        .people()
        .filter_map(|p| views.directory.viewer(&p.id).map(|v| (v.role, p)))
        .collect();
    people.sort_by(|a, b| (a.0, &a.1.name).cmp(&(b.0, &b.1.name)));
    let body = html! {
        h1 { "Sign in (demo)" }
        p { "This demo has no passwords: pick anyone from the roster to see what they would see. It only runs on this computer." }
        @for role in [Role::Teacher, Role::Leader, Role::Guardian, Role::Learner] {
            @let of: Vec<_> = people.iter().filter(|(r, _)| *r == role).take(50).collect();
            @if !of.is_empty() {
                h2 { (role.as_str()) }
                ul.people {
                    @for (_, p) in of {
                        li {
                            form method="post" action="/signin" {
                                input type="hidden" name="person" value=(p.id);
                                button type="submit" { "Sign in as " (p.name) }
                            }
                        }
                    }
                }
            }
        }
    };
    layout("Sign in", None, body).into_response()
}

/// The demo sign-in form.
#[derive(Deserialize)]
pub struct SignInForm {
    person: String,
}

/// A sign-in session for `person` and the way home.
fn signed_in(views: &Views, person: &str) -> Response {
    let id = views.start_session(person);
    (
        AppendHeaders([
            (
                header::SET_COOKIE,
                format!("{COOKIE}={id}; Path=/; HttpOnly; Secure; SameSite=Lax"),
            ),
            (
                header::SET_COOKIE,
                format!(
                    "{SIGNIN_COOKIE}=; Path=/signin; HttpOnly; Secure; SameSite=Lax; Max-Age=0"
                ),
            ),
        ]),
        Redirect::to("/"),
    )
        .into_response()
}

/// `POST /signin`: the demo sign-in.
pub async fn sign_in(
    State(views): State<Arc<Views>>,
    Form(form): Form<SignInForm>,
) -> Result<Response, PageError> {
    if !matches!(views.options.sign_in, SignIn::Demo) {
        return Err(PageError::NotFound);
    }
    views
        .directory
        .viewer(&form.person)
        .ok_or(PageError::NotFound)?;
    Ok(signed_in(&views, &form.person))
}

/// What the provider sends back.
#[derive(Deserialize)]
pub struct Callback {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: String,
}

/// `GET /signin/callback`: the provider's answer; the person whose roster
/// field matches the ID token's claim is signed in.
pub async fn callback(
    State(views): State<Arc<Views>>,
    Query(answer): Query<Callback>,
    headers: HeaderMap,
) -> Response {
    let SignIn::Oidc { client, field } = &views.options.sign_in else {
        return PageError::NotFound.into_response();
    };
    let refused =
        |why: String| (StatusCode::FORBIDDEN, message("Not signed in", &why)).into_response();
    if !answer.error.is_empty() {
        return refused(format!(
            "The sign-in was cancelled or refused ({}). Start again from the start page.",
            answer.error
        ));
    }
    if cookie(&headers, SIGNIN_COOKIE).as_deref() != Some(answer.state.as_str()) {
        return refused(
            "This sign-in was not started in this browser. Start again from the start page.".into(),
        );
    }
    let value = match client.finish(&answer.state, &answer.code).await {
        Ok(v) => v,
        Err(e) => {
            warn!(error = %e, "views: sign-in failed");
            return refused(format!("{e}."));
        }
    };
    match views.directory.find(*field, &value).and_then(|p| views.directory.viewer(&p.id)) {
        Some(viewer) => signed_in(&views, &viewer.person),
        None => refused(
            "You signed in, but the school's roster has no teacher, leader, guardian or learner with that account (or several people share it). Ask the school's administrator to check the roster.".into(),
        ),
    }
}

/// A form that only carries the CSRF token.
#[derive(Deserialize)]
pub struct TokenForm {
    csrf: String,
}

/// `POST /signout`.
pub async fn sign_out(
    State(views): State<Arc<Views>>,
    signed: Signed,
    Form(form): Form<TokenForm>,
) -> Result<Response, PageError> {
    signed.check(&form.csrf)?;
    views.end_session(&signed.session);
    Ok((
        [(
            header::SET_COOKIE,
            format!("{COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=0"),
        )],
        Redirect::to("/signin"),
    )
        .into_response())
}

/// `GET /my-data`: what data about a learner the indicators use, where
/// it comes from, and who looked at the learner's rows.
pub async fn my_data(
    State(views): State<Arc<Views>>,
    signed: Signed,
) -> Result<Response, PageError> {
    let v = &signed.viewer;
    let mut looked = Vec::new();
    if matches!(v.role, Role::Guardian | Role::Learner) {
        for l in v.learners.values() {
            looked.push((l, views.backend.accesses(&l.pseudonym).await?));
        }
    }
    let body = html! {
        h1 { "Which data is used" }
        p { (NAMES_NOTE) }
        table {
            caption { "Data about a learner, where it comes from, and what it is used for" }
            thead { tr { th scope="col" { "Data" } th scope="col" { "Comes from" } th scope="col" { "Used for" } } }
            tbody { @for (what, from, used) in DATA_USED {
                tr { td { (what) } td { (from) } td { (used) } }
            } }
        }
        p { "A learner whose family opted out of learning analytics is left out of every table and page." }
        @for (l, accesses) in &looked {
            h2 { "Who looked at " (l.name) "’s rows" }
            @if accesses.is_empty() {
                p { "Nobody yet." }
            } @else {
                table {
                    caption { "Every page that showed these rows, newest first" }
                    thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Role" } th scope="col" { "Page" } } }
                    tbody { @for a in accesses.iter().take(100) {
                        tr {
                            td { (when(a.at)) }
                            td { (views.directory.person(&a.viewer).map_or("someone no longer in the roster", |p| p.name.as_str())) }
                            td { (a.role) }
                            td { (a.view) }
                        }
                    } }
                }
            }
        }
    };
    Ok(layout("Which data is used", Some((v, &signed.csrf)), body).into_response())
}
