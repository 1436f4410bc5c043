//! From a valid Caliper event to the parts of its [`LearningEvent`] that
//! come from its entities: the result (scores, answers, durations) and the
//! context (class, platform, `session`, roles, objectives, profile).

use lap_schemas::{EventContext, EventResult};

use crate::check::{Members, get};
use crate::json::Json;
use crate::time::parse_duration_ms;

/// Scores from a generated Score (GradeEvent) or a Result entity, answers
/// from a generated Response, durations from the Response or Attempt.
pub(super) fn result(members: Members<'_, '_>, object: Option<&Json<'_>>) -> Option<EventResult> {
    let generated = get(members, "generated").filter(|g| matches!(g, Json::Object(_)));
    let mut r = EventResult::default();
    let num = |v: Option<&Json<'_>>, k: &str| v.and_then(|v| v.get(k)).and_then(Json::as_f64);
    if let Some(g) = generated {
        r.score_raw = num(Some(g), "scoreGiven").or(num(Some(g), "resultScore"));
        r.score_max = num(Some(g), "maxScore").or(num(Some(g), "maxResultScore"));
        r.response = response(g, object);
        r.duration_ms = g
            .get("duration")
            .and_then(Json::as_str)
            .and_then(|d| parse_duration_ms(d).ok());
    }
    if r.duration_ms.is_none() {
        r.duration_ms = object
            .and_then(|o| o.get("duration"))
            .and_then(Json::as_str)
            .and_then(|d| parse_duration_ms(d).ok());
    }
    if let (Some(raw), Some(max)) = (r.score_raw, r.score_max)
        && max > 0.0
    {
        r.score_min = Some(0.0);
        r.score_scaled = Some((raw / max).clamp(0.0, 1.0));
    }
    (r != EventResult::default()).then_some(r)
}

/// A Response's answer as text: `selections` joined with commas (a label is
/// translated to its scale value when the question's scale lists both), or
/// an open-ended `value`.
fn response(generated: &Json<'_>, object: Option<&Json<'_>>) -> Option<String> {
    if let Some(Json::Array(selections)) = generated.get("selections") {
        let scale = object
            .and_then(|o| o.get("question"))
            .and_then(|q| q.get("scale"));
        let labels = scale.and_then(|s| s.get("itemLabels"));
        let values = scale.and_then(|s| s.get("itemValues"));
        let translate = |sel: &str| -> String {
            if let (Some(Json::Array(l)), Some(Json::Array(v))) = (labels, values)
                && let Some(i) = l.iter().position(|x| x.as_str() == Some(sel))
                && let Some(value) = v.get(i).and_then(Json::as_str)
            {
                return value.to_string();
            }
            sel.to_string()
        };
        let parts: Vec<String> = selections
            .iter()
            .filter_map(Json::as_str)
            .map(translate)
            .collect();
        return (!parts.is_empty()).then(|| parts.join(","));
    }
    generated
        .get("value")
        .and_then(Json::as_str)
        .map(str::to_string)
}

fn id_of(v: &Json<'_>) -> Option<String> {
    match v {
        Json::Str(s) => Some(s.to_string()),
        other => other.get("id").and_then(Json::as_str).map(str::to_string),
    }
}

/// Class references (group, its parent offering, the membership's
/// organisation), platform (edApp), `session`, roles, learning objectives and
/// the governing `profile` (a 1.2 event's own, or the one a 1.1 profile
/// extension became).
pub(super) fn context(
    members: Members<'_, '_>,
    object: Option<&Json<'_>>,
    profile: Option<&str>,
) -> EventContext {
    let mut class_refs = Vec::new();
    if let Some(g) = get(members, "group") {
        class_refs.extend(id_of(g));
        class_refs.extend(g.get("subOrganizationOf").and_then(id_of));
    }
    let membership = get(members, "membership");
    if let Some(org) = membership
        .and_then(|m| m.get("organization"))
        .and_then(id_of)
        && !class_refs.contains(&org)
    {
        class_refs.push(org);
    }
    let roles = match membership.and_then(|m| m.get("roles")) {
        Some(Json::Array(rs)) => rs
            .iter()
            .filter_map(Json::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    let objective_ids = match object.and_then(|o| o.get("learningObjectives")) {
        Some(Json::Array(items)) => items.iter().filter_map(id_of).collect(),
        _ => Vec::new(),
    };
    EventContext {
        registration: None,
        platform: get(members, "edApp").and_then(id_of),
        instructor: None,
        class_refs,
        category_ids: profile.map(str::to_string).into_iter().collect(),
        objective_ids,
        session_id: get(members, "session").and_then(id_of),
        roles,
    }
}
