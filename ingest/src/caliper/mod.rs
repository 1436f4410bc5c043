//! Caliper envelopes (1.1 and 1.2): validation of the envelope and of every
//! event in it, and normalisation of each event into a [`LearningEvent`].
//! One bad event rejects only itself; a bad envelope rejects the message.

pub mod vocab;

use lap_schemas::{
    Actor, ActorKind, EventContext, EventObject, EventResult, LearningEvent, SourceStandard,
};

use self::vocab::CaliperVersion;
use crate::check::{self, CALIPER, Keys, Members, get};
use crate::json::{self, Json};
use crate::problem::{Path, Problems};
use crate::time::{TimeRules, parse_duration_ms, parse_timestamp};
use crate::xapi::compare;

const ENVELOPE_KEYS: Keys = Keys::new(&["sensor", "sendTime", "dataVersion", "data"]);
/// Event properties of Caliper 1.2; 1.1 has all but the last, `profile`.
const EVENT_NAMES_V1P2: &[&str] = &[
    "@context",
    "id",
    "type",
    "actor",
    "action",
    "object",
    "eventTime",
    "edApp",
    "generated",
    "target",
    "referrer",
    "group",
    "membership",
    "session",
    "federatedSession",
    "extensions",
    "profile",
];
const EVENT_KEYS_V1P2: Keys = Keys::new(EVENT_NAMES_V1P2);
const EVENT_KEYS_V1P1: Keys = Keys::new(EVENT_NAMES_V1P2.split_last().unwrap().1);
const ENTITY_PROPERTIES: &[&str] = &[
    "edApp",
    "generated",
    "target",
    "referrer",
    "group",
    "membership",
    "session",
    "federatedSession",
];
const CONTEXT_PREFIX: &str = "http://purl.imsglobal.org/ctx/caliper/";

/// A validated event, ready to be produced.
#[derive(Clone, Debug)]
pub struct ParsedEvent {
    /// The normalised event.
    pub event: LearningEvent,
    /// Content hash, for duplicate detection.
    pub fingerprint: u64,
}

/// One item of an envelope's `data`.
#[derive(Clone, Debug)]
pub enum Item<'b> {
    /// A valid event.
    Event(Box<ParsedEvent>),
    /// A valid entity "describe" (not an event: nothing to aggregate).
    Entity,
    /// An invalid item, with its own original bytes.
    Rejected {
        /// Position in `data`.
        index: usize,
        /// Its bytes, as sent.
        bytes: &'b [u8],
        /// Why.
        problems: Problems,
    },
}

/// A valid envelope and the outcome of each of its items.
#[derive(Clone, Debug)]
pub struct Envelope<'b> {
    /// Declared version.
    pub version: CaliperVersion,
    /// Outcome per data item.
    pub items: Vec<Item<'b>>,
}

/// Whether the problems mean "unsupported dataVersion" (HTTP 422).
pub fn is_unsupported_version(p: &Problems) -> bool {
    p.0.iter()
        .any(|p| p.code == "caliper.data_version.unsupported")
}

/// Parses and validates an envelope. `stored_us` is when it was received.
pub fn parse_envelope(
    bytes: &[u8],
    max_depth: usize,
    stored_us: i64,
) -> Result<Envelope<'_>, Problems> {
    let root = Path::Root;
    let arena = json::Arena::for_input(bytes.len());
    let tree = json::parse(bytes, max_depth, &arena).map_err(|e| crate::json_problem(&e))?;
    let mut probs = Problems::default();
    let Some(members) = check::object(
        &tree,
        &root,
        "a Caliper envelope",
        &ENVELOPE_KEYS,
        CALIPER,
        &mut probs,
    ) else {
        return Err(probs);
    };
    for key in ENVELOPE_KEYS.names() {
        check::required(
            members,
            key,
            &root,
            "a Caliper envelope",
            CALIPER,
            &mut probs,
        );
    }
    if let Some(s) = get(members, "sensor")
        .and_then(|s| check::string(s, &root.key("sensor"), CALIPER, &mut probs))
        && s.is_empty()
    {
        probs.add(
            "caliper.sensor",
            &root.key("sensor"),
            "sensor must identify the sending application",
        );
    }
    if let Some(t) = get(members, "sendTime") {
        caliper_time(t, &root.key("sendTime"), "caliper.send_time", &mut probs);
    }
    let version = get(members, "dataVersion").and_then(|d| {
        let p = root.key("dataVersion");
        let s = check::string(d, &p, CALIPER, &mut probs)?;
        let v = CaliperVersion::from_iri(s);
        if v.is_none() {
            probs.add(
                "caliper.data_version.unsupported",
                &p,
                format!(
                    "dataVersion `{s}` is not supported; use {} or {}",
                    vocab::V1P1,
                    vocab::V1P2
                ),
            );
        }
        v
    });
    let data =
        get(members, "data").and_then(|d| check::array(d, &root.key("data"), CALIPER, &mut probs));
    if data.is_some_and(<[Json<'_>]>::is_empty) {
        probs.add(
            "caliper.data.empty",
            &root.key("data"),
            "data must hold at least one event or entity",
        );
    }
    let (Some(version), Some(data), true) = (version, data, probs.is_empty()) else {
        return Err(probs);
    };
    let mut raw: Option<Vec<&[u8]>> = None;
    let data_path = root.key("data");
    let items = data
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let path = data_path.index(i);
            let mut probs = Problems::default();
            let outcome = if is_event(item) {
                event(item, &path, version, stored_us, &mut probs).map(|e| Item::Event(Box::new(e)))
            } else {
                entity(item, &path, &mut probs).map(|_| Item::Entity)
            };
            match outcome {
                Some(item) if probs.is_empty() => item,
                _ => {
                    let slices = raw.get_or_insert_with(|| data_slices(bytes));
                    Item::Rejected {
                        index: i,
                        bytes: slices.get(i).copied().unwrap_or(bytes),
                        problems: probs,
                    }
                }
            }
        })
        .collect();
    Ok(Envelope { version, items })
}

/// The original bytes of each `data` element (computed only when one is rejected).
fn data_slices(bytes: &[u8]) -> Vec<&[u8]> {
    #[derive(serde::Deserialize)]
    struct Raw<'a> {
        #[serde(borrow)]
        data: Vec<&'a serde_json::value::RawValue>,
    }
    serde_json::from_slice::<Raw<'_>>(bytes)
        .map(|r| r.data.into_iter().map(|v| v.get().as_bytes()).collect())
        .unwrap_or_default()
}

fn is_event(v: &Json<'_>) -> bool {
    v.get("action").is_some()
        || v.get("type")
            .and_then(Json::as_str)
            .is_some_and(|t| t.ends_with("Event"))
}

/// A Caliper date-time: `YYYY-MM-DDTHH:mm:ss.SSSZ`, UTC with milliseconds.
fn caliper_time(
    v: &Json<'_>,
    path: &Path<'_>,
    code: &'static str,
    probs: &mut Problems,
) -> Option<i64> {
    let s = check::string(v, path, CALIPER, probs)?;
    let shape_ok = s.len() == 24 && s.as_bytes()[19] == b'.' && s.ends_with('Z');
    match parse_timestamp(s, TimeRules::Caliper) {
        Ok(us) if shape_ok => Some(us),
        Ok(_) => {
            probs.add(
                code,
                path,
                format!("`{s}` must be UTC with milliseconds, like 2024-03-01T08:15:00.000Z"),
            );
            None
        }
        Err(e) => {
            probs.add(code, path, e.message);
            None
        }
    }
}

/// An entity: an IRI string, or an object with an IRI `id` and a `type`.
/// Returns (id, type).
fn entity_ref(
    v: &Json<'_>,
    path: &Path<'_>,
    probs: &mut Problems,
) -> Option<(String, Option<String>)> {
    match v {
        Json::Str(s) if check::is_iri(s) => Some((s.to_string(), None)),
        Json::Str(s) => {
            probs.add(
                "caliper.entity.id",
                path,
                format!("`{s}` is not an IRI identifying an entity"),
            );
            None
        }
        Json::Object(_) => {
            let (id, ty) = entity(v, path, probs)?;
            Some((id, Some(ty)))
        }
        other => {
            probs.add(
                CALIPER.type_,
                path,
                format!("must be an entity object or an IRI, not {}", other.kind()),
            );
            None
        }
    }
}

/// An entity object (also a data item that is not an event).
fn entity(v: &Json<'_>, path: &Path<'_>, probs: &mut Problems) -> Option<(String, String)> {
    let Json::Object(members) = v else {
        probs.add(
            CALIPER.type_,
            path,
            format!("an entity must be an object, not {}", v.kind()),
        );
        return None;
    };
    let id = check::required(members, "id", path, "an entity", CALIPER, probs)
        .and_then(|id| check::string(id, &path.key("id"), CALIPER, probs));
    if let Some(id) = id
        && !check::is_iri(id)
    {
        probs.add(
            "caliper.entity.id",
            &path.key("id"),
            format!("entity id `{id}` must be an IRI"),
        );
    }
    let ty = check::required(members, "type", path, "an entity", CALIPER, probs)
        .and_then(|t| check::string(t, &path.key("type"), CALIPER, probs));
    Some((id?.to_string(), ty?.to_string()))
}

fn event(
    v: &Json<'_>,
    path: &Path<'_>,
    version: CaliperVersion,
    stored_us: i64,
    probs: &mut Problems,
) -> Option<ParsedEvent> {
    let keys = match version {
        CaliperVersion::V1p1 => &EVENT_KEYS_V1P1,
        CaliperVersion::V1p2 => &EVENT_KEYS_V1P2,
    };
    let members = check::object(v, path, "a Caliper event", keys, CALIPER, probs)?;
    for key in [
        "@context",
        "id",
        "type",
        "actor",
        "action",
        "object",
        "eventTime",
    ] {
        check::required(members, key, path, "a Caliper event", CALIPER, probs);
    }
    if let Some(c) = get(members, "@context") {
        context_iri(c, &path.key("@context"), probs);
    }
    let id = get(members, "id").and_then(|id| {
        let p = path.key("id");
        let s = check::string(id, &p, CALIPER, probs)?;
        match s.strip_prefix("urn:uuid:").filter(|u| check::is_uuid(u)) {
            Some(u) => Some(u.to_ascii_lowercase()),
            None => {
                probs.add(
                    "caliper.event.id",
                    &p,
                    format!("`{s}` must be urn:uuid: followed by a UUID"),
                );
                None
            }
        }
    });
    let event_type =
        get(members, "type").and_then(|t| check::string(t, &path.key("type"), CALIPER, probs));
    let action =
        get(members, "action").and_then(|a| check::string(a, &path.key("action"), CALIPER, probs));
    if let Some(t) = event_type {
        type_and_action(t, action, members, path, version, probs);
    }
    let actor = get(members, "actor").and_then(|a| entity_ref(a, &path.key("actor"), probs));
    if let Some((_, Some(t))) = &actor
        && !vocab::AGENT_TYPES.contains(&t.as_str())
    {
        probs.add(
            "caliper.actor.type",
            &path.key("actor").key("type"),
            format!(
                "an actor must be an Agent ({}), not {t}",
                vocab::AGENT_TYPES.join(", ")
            ),
        );
    }
    let object = get(members, "object").and_then(|o| entity_ref(o, &path.key("object"), probs));
    let event_time = get(members, "eventTime")
        .and_then(|t| caliper_time(t, &path.key("eventTime"), "caliper.event_time", probs));
    for key in ENTITY_PROPERTIES {
        if let Some(e) = get(members, key) {
            entity_ref(e, &path.key(key), probs);
        }
    }
    if let Some(e) = get(members, "extensions")
        && !matches!(e, Json::Object(_))
    {
        probs.add(
            CALIPER.type_,
            &path.key("extensions"),
            format!("extensions must be an object, not {}", e.kind()),
        );
    }
    let object_json = get(members, "object");
    let due_time = object_json
        .and_then(|o| {
            o.get("dateToSubmit")
                .or_else(|| o.get("assignable").and_then(|a| a.get("dateToSubmit")))
        })
        .and_then(|d| {
            caliper_time(
                d,
                &path.key("object").key("dateToSubmit"),
                "caliper.date",
                probs,
            )
        });
    if !probs.is_empty() {
        return None;
    }
    let (actor_id, actor_type) = actor?;
    let (object_id, object_type) = object?;
    let action = action?;
    let event = LearningEvent {
        event_id: id?,
        source: SourceStandard::Caliper,
        spec_version: version.label().to_string(),
        event_time: event_time?,
        stored_time: stored_us,
        actor: Actor {
            kind: ActorKind::Iri,
            id: actor_id,
            home_page: None,
            actor_type,
        },
        action: vocab::action_for(action),
        verb: action.to_string(),
        object: EventObject {
            id: object_id,
            object_type,
            name: object_json
                .and_then(|o| o.get("name"))
                .and_then(Json::as_str)
                .map(str::to_string),
        },
        result: result(members, object_json),
        context: context(members, object_json),
        due_time,
        voids: None,
        extensions: get(members, "extensions").map(Json::to_text),
    };
    Some(ParsedEvent {
        event,
        fingerprint: compare::fingerprint(v),
    })
}

fn context_iri(v: &Json<'_>, path: &Path<'_>, probs: &mut Problems) {
    let caliper = |s: &str| s.starts_with(CONTEXT_PREFIX);
    match v {
        Json::Str(s) if caliper(s) => {}
        Json::Array(items) if items.last().and_then(Json::as_str).is_some_and(caliper) => {}
        // An inline context object appears in IMS's own examples; accepted.
        Json::Object(_) => {}
        _ => probs.add(
            "caliper.context",
            path,
            format!(
                "@context must be the Caliper context IRI ({}…), or an array ending with it",
                CONTEXT_PREFIX
            ),
        ),
    }
}

fn type_and_action(
    event_type: &str,
    action: Option<&str>,
    members: Members<'_, '_>,
    path: &Path<'_>,
    version: CaliperVersion,
    probs: &mut Problems,
) {
    let Some(allowed) = vocab::allowed_actions(version, event_type) else {
        probs.add(
            "caliper.event.type",
            &path.key("type"),
            format!(
                "`{event_type}` is not a Caliper {} event type",
                version.label()
            ),
        );
        return;
    };
    if let Some(a) = action
        && !allowed.contains(&a)
    {
        probs.add(
            "caliper.action.not_allowed",
            &path.key("action"),
            format!(
                "{event_type} does not allow the action `{a}`; allowed: {}",
                allowed.join(", ")
            ),
        );
    }
    if let Some(p) = get(members, "profile") {
        let pp = path.key("profile");
        let Some(profile) = check::string(p, &pp, CALIPER, probs) else {
            return;
        };
        match vocab::profile_event_types(profile) {
            None => probs.add(
                "caliper.profile.unknown",
                &pp,
                format!("`{profile}` is not a Caliper 1.2 profile"),
            ),
            Some(types) if !types.contains(&event_type) => probs.add(
                "caliper.profile.event_type",
                &pp,
                format!(
                    "{profile} does not include {event_type}; it allows {}",
                    types.join(", ")
                ),
            ),
            Some(_) => {}
        }
    }
}

/// Scores from a generated Score (GradeEvent) or a Result entity, answers
/// from a generated Response, durations from the Response or Attempt.
fn result(members: Members<'_, '_>, object: Option<&Json<'_>>) -> Option<EventResult> {
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
/// organisation), platform (edApp), session, roles and learning objectives.
fn context(members: Members<'_, '_>, object: Option<&Json<'_>>) -> EventContext {
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
        category_ids: get(members, "profile")
            .and_then(Json::as_str)
            .map(str::to_string)
            .into_iter()
            .collect(),
        objective_ids,
        session_id: get(members, "session").and_then(id_of),
        roles,
    }
}
