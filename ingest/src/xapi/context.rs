//! Result, Context and Attachments (xAPI Data 2.4.5–2.4.6, 2.4.11).

use lap_schemas::{Actor, EventResult};

use super::objects::{self, ObjectKind};
use super::{Walk, XapiVersion, agents, extensions, lang_map, timestamp};
use crate::check::{self, Keys, XAPI, get};
use crate::json::Json;
use crate::problem::Path;
use crate::time::{TimeRules, parse_duration_ms, parse_timestamp};

/// lap's documented context (or activity definition) extension carrying an
/// assignment's due time as an ISO 8601 timestamp. xAPI has no standard
/// property for it; Caliper's equivalent is `dateToSubmit`.
pub const DUE_EXTENSION: &str = "https://lap-analytics.org/xapi/extensions/due-time";

/// cmi5's session id context extension.
pub const CMI5_SESSION: &str = "https://w3id.org/xapi/cmi5/context/extensions/sessionid";

const CONTEXT_KEYS_V1: Keys = Keys::new(&[
    "registration",
    "instructor",
    "team",
    "contextActivities",
    "revision",
    "platform",
    "language",
    "statement",
    "extensions",
]);
const CONTEXT_KEYS_V2: Keys = Keys::new(&[
    "registration",
    "instructor",
    "team",
    "contextActivities",
    "revision",
    "platform",
    "language",
    "statement",
    "extensions",
    "contextAgents",
    "contextGroups",
]);
const SCORE_KEYS: Keys = Keys::new(&["scaled", "raw", "min", "max"]);
const CONTEXT_ACTIVITIES_KEYS: Keys = Keys::new(&["parent", "grouping", "category", "other"]);
const CONTEXT_AGENT_KEYS: Keys = Keys::new(&["objectType", "agent", "relevantTypes"]);
const CONTEXT_GROUP_KEYS: Keys = Keys::new(&["objectType", "group", "relevantTypes"]);
const RESULT_KEYS: Keys = Keys::new(&[
    "score",
    "success",
    "completion",
    "response",
    "duration",
    "extensions",
]);
const ATTACHMENT_KEYS: Keys = Keys::new(&[
    "usageType",
    "display",
    "description",
    "contentType",
    "length",
    "sha2",
    "fileUrl",
]);

/// What the context contributes to the event.
#[derive(Default)]
pub(crate) struct ContextInfo<'j, 'a> {
    pub registration: Option<String>,
    pub platform: Option<String>,
    pub instructor: Option<Actor>,
    /// parent ids, then grouping ids.
    pub class_refs: Vec<String>,
    pub category_ids: Vec<String>,
    pub objective_ids: Vec<String>,
    pub session_id: Option<String>,
    pub extensions: Option<&'j Json<'a>>,
    pub due_time: Option<i64>,
}

/// The due time in lap's extension, if present and parseable.
pub(crate) fn due_from(ext: Option<&Json<'_>>) -> Option<i64> {
    let s = ext?.get(DUE_EXTENSION)?.as_str()?;
    parse_timestamp(s, TimeRules::Xapi1).ok()
}

/// Validates `result`; returns it normalised and its extensions.
pub(crate) fn result<'j, 'a>(
    v: &'j Json<'a>,
    path: &Path<'_>,
    w: &mut Walk<'_>,
) -> Option<(EventResult, Option<&'j Json<'a>>)> {
    let members = check::object(v, path, "a Result", &RESULT_KEYS, XAPI, w.probs)?;
    let mut r = EventResult::default();
    if let Some(s) = get(members, "score") {
        score(s, &path.key("score"), &mut r, w);
    }
    r.success = get(members, "success")
        .and_then(|b| check::boolean(b, &path.key("success"), XAPI, w.probs));
    r.completion = get(members, "completion")
        .and_then(|b| check::boolean(b, &path.key("completion"), XAPI, w.probs));
    r.response = get(members, "response")
        .and_then(|s| check::string(s, &path.key("response"), XAPI, w.probs))
        .map(str::to_string);
    if let Some(d) = get(members, "duration") {
        let p = path.key("duration");
        if let Some(s) = check::string(d, &p, XAPI, w.probs) {
            match parse_duration_ms(s) {
                Ok(ms) => r.duration_ms = Some(ms),
                Err(e) => w.probs.add("xapi.duration", &p, e.message),
            }
        }
    }
    let ext = get(members, "extensions");
    if let Some(e) = ext {
        extensions(e, &path.key("extensions"), w);
    }
    Some((r, ext))
}

/// Score rules: scaled in [-1, 1]; min < max; min ≤ raw ≤ max. The event's
/// `score_scaled` is normalised to 0..1: from raw/min/max when raw and max
/// are given (min defaults to 0), else the reported scaled score clamped to
/// 0..1 (negative scaled scores are penalties; they count as 0).
fn score(v: &Json<'_>, path: &Path<'_>, r: &mut EventResult, w: &mut Walk<'_>) {
    let Some(members) = check::object(v, path, "a Score", &SCORE_KEYS, XAPI, w.probs) else {
        return;
    };
    let num = |k: &str, w: &mut Walk<'_>| {
        get(members, k).and_then(|n| check::number(n, &path.key(k), XAPI, w.probs))
    };
    let scaled = num("scaled", w);
    r.score_raw = num("raw", w);
    r.score_min = num("min", w);
    r.score_max = num("max", w);
    if let Some(s) = scaled
        && !(-1.0..=1.0).contains(&s)
    {
        w.probs.add(
            "xapi.score.scaled_range",
            &path.key("scaled"),
            format!("{s} is outside [-1, 1]"),
        );
    }
    if let (Some(min), Some(max)) = (r.score_min, r.score_max)
        && min >= max
    {
        w.probs.add(
            "xapi.score.min_max",
            &path.key("min"),
            format!("min {min} must be less than max {max}"),
        );
    }
    if let Some(raw) = r.score_raw {
        if let Some(min) = r.score_min.filter(|m| raw < *m) {
            w.probs.add(
                "xapi.score.raw_range",
                &path.key("raw"),
                format!("raw {raw} is below min {min}"),
            );
        }
        if let Some(max) = r.score_max.filter(|m| raw > *m) {
            w.probs.add(
                "xapi.score.raw_range",
                &path.key("raw"),
                format!("raw {raw} is above max {max}"),
            );
        }
    }
    r.score_scaled = match (r.score_raw, r.score_max) {
        (Some(raw), Some(max)) if max > r.score_min.unwrap_or(0.0) => {
            let min = r.score_min.unwrap_or(0.0);
            Some(((raw - min) / (max - min)).clamp(0.0, 1.0))
        }
        _ => scaled.map(|s| s.clamp(0.0, 1.0)),
    };
}

/// Validates `context`. `object_kind` is the kind of the statement's (or
/// SubStatement's) object, when it was valid: `revision` and `platform`
/// describe an Activity, so they are allowed only when the object is one.
pub(crate) fn context<'j, 'a>(
    v: &'j Json<'a>,
    path: &Path<'_>,
    object_kind: Option<ObjectKind>,
    w: &mut Walk<'_>,
) -> Option<ContextInfo<'j, 'a>> {
    let keys = match w.version {
        XapiVersion::V1 => &CONTEXT_KEYS_V1,
        XapiVersion::V2 => &CONTEXT_KEYS_V2,
    };
    let members = check::object(v, path, "a Context", keys, XAPI, w.probs)?;
    let mut info = ContextInfo {
        registration: get(members, "registration")
            .and_then(|r| objects::uuid(r, &path.key("registration"), w)),
        ..ContextInfo::default()
    };
    info.instructor = get(members, "instructor")
        .and_then(|i| agents::agent_or_group(i, &path.key("instructor"), false, w));
    if let Some(t) = get(members, "team") {
        let p = path.key("team");
        if t.get("objectType").and_then(Json::as_str) != Some("Group") {
            w.probs.add(
                "xapi.context.team",
                &p,
                "team must be a Group (objectType \"Group\")",
            );
        } else {
            agents::agent_or_group(t, &p, true, w);
        }
    }
    for key in ["revision", "platform"] {
        let Some(val) = get(members, key) else {
            continue;
        };
        let p = path.key(key);
        let s = check::string(val, &p, XAPI, w.probs).map(str::to_string);
        if let Some(kind) = object_kind.filter(|k| *k != ObjectKind::Activity) {
            w.probs.add(
                "xapi.context.revision_platform",
                &p,
                format!(
                    "`{key}` may only be used when the statement's object is an Activity, and here it is {}",
                    kind.label()
                ),
            );
        }
        if key == "platform" {
            info.platform = s;
        }
    }
    if let Some(l) = get(members, "language") {
        let p = path.key("language");
        if let Some(s) = check::string(l, &p, XAPI, w.probs)
            && !check::is_language_tag(s)
        {
            w.probs.add(
                "xapi.language_tag",
                &p,
                format!("`{s}` is not an RFC 5646 language tag"),
            );
        }
    }
    if let Some(s) = get(members, "statement") {
        objects::statement_ref(s, &path.key("statement"), w);
    }
    if let Some(e) = get(members, "extensions") {
        let p = path.key("extensions");
        extensions(e, &p, w);
        info.session_id = e
            .get(CMI5_SESSION)
            .and_then(Json::as_str)
            .map(str::to_string);
        if let Some(due) = e.get(DUE_EXTENSION) {
            let dp = p.key(DUE_EXTENSION);
            info.due_time = timestamp(due, &dp, w);
        }
        info.extensions = Some(e);
    }
    if let Some(ca) = get(members, "contextActivities") {
        context_activities(ca, &path.key("contextActivities"), &mut info, w);
    }
    for (key, keys, inner, object_type) in [
        (
            "contextAgents",
            &CONTEXT_AGENT_KEYS,
            "agent",
            "contextAgent",
        ),
        (
            "contextGroups",
            &CONTEXT_GROUP_KEYS,
            "group",
            "contextGroup",
        ),
    ] {
        if let Some(list) = get(members, key) {
            context_agents(list, &path.key(key), keys, inner, object_type, w);
        }
    }
    Some(info)
}

fn context_activities(
    v: &Json<'_>,
    path: &Path<'_>,
    info: &mut ContextInfo<'_, '_>,
    w: &mut Walk<'_>,
) {
    let Some(members) = check::object(
        v,
        path,
        "contextActivities",
        &CONTEXT_ACTIVITIES_KEYS,
        XAPI,
        w.probs,
    ) else {
        return;
    };
    let mut groupings = Vec::new();
    for (key, value) in members {
        let p = path.key(key);
        let mut take = |item: &Json<'_>, at: &Path<'_>| {
            let Some(activity) = objects::activity(item, at, w) else {
                return;
            };
            let id = activity.object.id;
            if activity.object.object_type.as_deref() == Some(objects::OBJECTIVE_TYPE) {
                info.objective_ids.push(id.clone());
            }
            match *key {
                "parent" => info.class_refs.push(id),
                "grouping" => groupings.push(id),
                "category" => info.category_ids.push(id),
                _ => {}
            }
        };
        // A single Activity is allowed and normalised to a one-element list.
        match value {
            Json::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    take(item, &p.index(i));
                }
            }
            single => take(single, &p),
        }
    }
    // Parents first, then groupings.
    info.class_refs.append(&mut groupings);
}

/// `contextAgents` or `contextGroups`: `keys` are the properties of their
/// items, among them `inner` (`agent` or `group`), the item's actor.
fn context_agents(
    v: &Json<'_>,
    path: &Path<'_>,
    keys: &Keys,
    inner: &str,
    object_type: &str,
    w: &mut Walk<'_>,
) {
    let Some(items) = check::array(v, path, XAPI, w.probs) else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let p = path.index(i);
        let Some(members) = check::object(item, &p, object_type, keys, XAPI, w.probs) else {
            continue;
        };
        if get(members, "objectType").and_then(Json::as_str) != Some(object_type) {
            w.probs.add(
                "xapi.context.agents",
                &p.key("objectType"),
                format!("objectType must be \"{object_type}\""),
            );
        }
        if let Some(a) = check::required(members, inner, &p, object_type, XAPI, w.probs) {
            let ap = p.key(inner);
            if inner == "group" && a.get("objectType").and_then(Json::as_str) != Some("Group") {
                w.probs.add(
                    "xapi.context.agents",
                    &ap,
                    "must be a Group (objectType \"Group\")",
                );
            } else {
                agents::agent_or_group(a, &ap, false, w);
            }
        }
        if let Some(types) = get(members, "relevantTypes") {
            let tp = p.key("relevantTypes");
            if let Some(list) = check::array(types, &tp, XAPI, w.probs) {
                if list.is_empty() {
                    w.probs.add(
                        "xapi.context.agents",
                        &tp,
                        "relevantTypes must not be empty",
                    );
                }
                for (j, t) in list.iter().enumerate() {
                    check::iri(t, &tp.index(j), XAPI, w.probs);
                }
            }
        }
    }
}

/// Attachment metadata (the statement-side half; multipart bodies are not accepted).
pub(crate) fn attachments(v: &Json<'_>, path: &Path<'_>, w: &mut Walk<'_>) {
    let Some(items) = check::array(v, path, XAPI, w.probs) else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let p = path.index(i);
        let Some(members) =
            check::object(item, &p, "an Attachment", &ATTACHMENT_KEYS, XAPI, w.probs)
        else {
            continue;
        };
        if let Some(u) = check::required(members, "usageType", &p, "an Attachment", XAPI, w.probs) {
            check::iri(u, &p.key("usageType"), XAPI, w.probs);
        }
        if let Some(d) = check::required(members, "display", &p, "an Attachment", XAPI, w.probs) {
            lang_map(d, &p.key("display"), w);
        }
        if let Some(d) = get(members, "description") {
            lang_map(d, &p.key("description"), w);
        }
        if let Some(c) = check::required(members, "contentType", &p, "an Attachment", XAPI, w.probs)
        {
            check::string(c, &p.key("contentType"), XAPI, w.probs);
        }
        if let Some(l) = check::required(members, "length", &p, "an Attachment", XAPI, w.probs) {
            match l {
                Json::Num(n, true) if *n >= 0.0 => {}
                other => w.probs.add(
                    "xapi.property.type",
                    &p.key("length"),
                    format!(
                        "length must be a non-negative integer, not {}",
                        other.kind()
                    ),
                ),
            }
        }
        if let Some(s) = check::required(members, "sha2", &p, "an Attachment", XAPI, w.probs) {
            check::string(s, &p.key("sha2"), XAPI, w.probs);
        }
        if let Some(f) = get(members, "fileUrl") {
            check::iri(f, &p.key("fileUrl"), XAPI, w.probs);
        }
    }
}
