//! Groups of learners: a teacher picks learners of a class and sees them
//! as one group (each week the mean per learner, held back entirely below
//! k members, by the server like every group), saves the group, and
//! shares it with a colleague teaching the class or a leader of its
//! school. Colleagues see the group's values; only teachers of the class
//! see who is in it.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, RawForm, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use lap_sink::select::Selection;
use maud::{Markup, html};

use super::class::entitled_class;
use super::{freshness, indicator_table, layout, record_access, trends};
use crate::directory::{Class, Role};
use crate::present::group_rows;
use crate::server::{PageError, Signed, Views};
use crate::store::Group;

/// Longest group name.
const NAME_MAX: usize = 80;

/// The values of `key` in an `application/x-www-form-urlencoded` text.
fn values<'a>(text: &'a str, key: &'a str) -> impl Iterator<Item = String> + 'a {
    text.split('&').filter_map(move |pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| decode(v))
    })
}

/// Percent-decoding of a form value (`+` is a space).
fn decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A form's text once its CSRF token is the sign-in session's.
fn checked(signed: &Signed, form: &[u8]) -> Result<String, PageError> {
    let form = String::from_utf8_lossy(form).into_owned();
    signed.check(&values(&form, "csrf").next().unwrap_or_default())?;
    Ok(form)
}

/// The picked learners of `class` as pseudonyms, each one the teacher may
/// see in that class (else 404).
fn members(
    signed: &Signed,
    class: &Class,
    picked: impl Iterator<Item = String>,
) -> Result<Vec<String>, PageError> {
    let picked: BTreeSet<String> = picked.collect();
    let mut out = Vec::new();
    for key in picked {
        let learner = signed
            .viewer
            .learner(&key)
            .filter(|l| l.classes.contains(&class.id))
            .ok_or(PageError::NotFound)?;
        out.push(learner.pseudonym.clone());
    }
    if out.is_empty() {
        return Err(PageError::BadForm(
            "Pick at least one learner on the class page.".into(),
        ));
    }
    Ok(out)
}

/// The group page's body: who is in it (names for the class's teachers
/// only), the newest week and the trend; access records for the learners
/// named.
async fn body(
    views: &Views,
    signed: &Signed,
    class: &Class,
    title: &str,
    keys: &[String],
) -> Result<Markup, PageError> {
    let v = &signed.viewer;
    let sel = Selection::ever()
        .of_class(&class.id)
        .of_entities(keys.to_vec());
    let rows = group_rows(
        &views.backend.rows("learner_weekly", &sel).await?,
        views.options.min_group_size,
    );
    let named: Vec<&str> = if v.role == Role::Teacher {
        keys.iter()
            .filter_map(|k| v.learner(k))
            .map(|l| l.name.as_str())
            .collect()
    } else {
        Vec::new()
    };
    if !named.is_empty() {
        record_access(views, v, keys.iter().map(String::as_str), "group").await?;
    }
    Ok(html! {
        h1 { (title) }
        p { (keys.len()) " learners of " (class.title)
            @if !named.is_empty() { ": " (named.join(", ")) } }
        p { "Each value is the mean per learner over the members with a value. A week in which fewer than "
            (views.options.min_group_size) " members have rows shows no values, as for any group." }
        @match rows.last() {
            None => p { "None of them has weekly rows in this class yet." },
            Some(row) => {
                h2 { "Newest week" }
                (freshness(row))
                (indicator_table(views, "The group's newest week", row))
                h2 { "Trend over the term" }
                (trends(views, "group", &rows, None))
            }
        }
    })
}

/// `GET /classes/{class}/group?learner=…`: learners a teacher picked on
/// the class page, as one group, with a form to save it.
pub async fn picked(
    State(views): State<Arc<Views>>,
    signed: Signed,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let class = entitled_class(&views, &signed, &id)?;
    if signed.viewer.role != Role::Teacher {
        return Err(PageError::NotFound);
    }
    let keys = members(
        &signed,
        class,
        values(query.as_deref().unwrap_or_default(), "learner"),
    )?;
    let title = format!("A group of {}", class.title);
    let page = body(&views, &signed, class, &title, &keys).await?;
    let body = html! {
        (page)
        form method="post" action={"/classes/" (class.id) "/groups"} {
            input type="hidden" name="csrf" value=(signed.csrf);
            @for k in &keys { input type="hidden" name="learner" value=(k); }
            label for="group-name" { "Name (to find it again; no details about the learners)" }
            input #group-name type="text" name="name" required maxlength=(NAME_MAX);
            button type="submit" { "Save the group" }
        }
        p { a href={"/classes/" (class.id)} { "Back to " (class.title) } }
    };
    Ok(layout(&title, Some((&signed.viewer, &signed.csrf)), body).into_response())
}

/// `POST /classes/{class}/groups`: saves a picked group.
pub async fn save(
    State(views): State<Arc<Views>>,
    signed: Signed,
    Path(id): Path<String>,
    RawForm(form): RawForm,
) -> Result<Response, PageError> {
    let form = checked(&signed, &form)?;
    let class = entitled_class(&views, &signed, &id)?;
    if signed.viewer.role != Role::Teacher {
        return Err(PageError::NotFound);
    }
    let keys = members(&signed, class, values(&form, "learner"))?;
    let name = values(&form, "name")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    if name.is_empty() || name.chars().count() > NAME_MAX {
        return Err(PageError::BadForm(format!(
            "Give the group a name of 1 to {NAME_MAX} characters."
        )));
    }
    let group = Group {
        id: crate::server::token()[..32].to_string(),
        created_at: chrono::Utc::now().timestamp_micros(),
        owner: signed.viewer.person.clone(),
        class_id: class.id.clone(),
        name,
        members: keys,
        shared_with: Vec::new(),
    };
    views.backend.save_group(&group).await?;
    Ok(Redirect::to(&format!("/groups/{}", group.id)).into_response())
}

/// The group `id` if `signed` owns it or was given it and may still see
/// its class.
async fn entitled_group<'a>(
    views: &'a Views,
    signed: &Signed,
    id: &str,
) -> Result<(Group, &'a Class), PageError> {
    let group = views
        .backend
        .groups_of(&signed.viewer.person)
        .await?
        .into_iter()
        .find(|g| g.id == id)
        .ok_or(PageError::NotFound)?;
    let class = entitled_class(views, signed, &group.class_id)?;
    Ok((group, class))
}

/// `GET /groups/{id}`: a saved group, and for its owner the form to share
/// it.
pub async fn page(
    State(views): State<Arc<Views>>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let (group, class) = entitled_group(&views, &signed, &id).await?;
    let v = &signed.viewer;
    let page = body(&views, &signed, class, &group.name, &group.members).await?;
    let owner = group.owner == v.person;
    let colleagues: Vec<_> = views
        .directory
        .colleagues(class)
        .into_iter()
        .filter(|p| p.id != v.person && !group.shared_with.contains(&p.id))
        .collect();
    let body = html! {
        (page)
        @if !group.shared_with.is_empty() {
            p { "Shared with: "
                @for (i, p) in group.shared_with.iter().filter_map(|p| views.directory.person(p)).enumerate() {
                    @if i > 0 { ", " } (p.name)
                } }
        }
        @if owner && !colleagues.is_empty() {
            form method="post" action={"/groups/" (group.id) "/share"} {
                input type="hidden" name="csrf" value=(signed.csrf);
                label for="share-with" { "Share with a colleague teaching this class or a leader of its school" }
                select #share-with name="person" {
                    @for p in &colleagues { option value=(p.id) { (p.name) } }
                }
                button type="submit" { "Share" }
            }
        }
    };
    Ok(layout(&group.name, Some((v, &signed.csrf)), body).into_response())
}

/// `POST /groups/{id}/share`: the owner shares the group with a colleague.
pub async fn share(
    State(views): State<Arc<Views>>,
    signed: Signed,
    Path(id): Path<String>,
    RawForm(form): RawForm,
) -> Result<Response, PageError> {
    let form = checked(&signed, &form)?;
    let (mut group, class) = entitled_group(&views, &signed, &id).await?;
    if group.owner != signed.viewer.person {
        return Err(PageError::NotFound);
    }
    let person = values(&form, "person").next().unwrap_or_default();
    if !views
        .directory
        .colleagues(class)
        .iter()
        .any(|p| p.id == person)
    {
        return Err(PageError::BadForm(
            "A group can be shared with the class's other teachers and its school's leaders only."
                .into(),
        ));
    }
    if !group.shared_with.contains(&person) {
        group.shared_with.push(person);
        views.backend.save_group(&group).await?;
    }
    Ok(Redirect::to(&format!("/groups/{}", group.id)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_decoded_and_repeated_keys_kept() {
        let form = "learner=a1&name=Reading+group+%C3%A5%2B1&learner=b2&bad=%zz";
        assert_eq!(values(form, "learner").collect::<Vec<_>>(), ["a1", "b2"]);
        assert_eq!(values(form, "name").next().unwrap(), "Reading group å+1");
        assert_eq!(values(form, "bad").next().unwrap(), "%zz");
    }
}
