//! One Caliper event: its properties, type, action and profile, the entity
//! types and properties its type and action require, and its
//! normalisation into a [`LearningEvent`].

use lap_schemas::{Actor, ActorKind, EventObject, LearningEvent, SourceStandard};

use super::entities::{self, EventRules};
use super::extensions::{self, Extension};
use super::vocab::{self, CaliperVersion};
use super::{ParsedEvent, caliper_time, entity_ref, normalise};
use crate::check::{self, CALIPER, Keys, Members, get};
use crate::json::Json;
use crate::problem::{Path, Problems};
use crate::xapi::compare;

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
const CONTEXT_PREFIX: &str = "http://purl.imsglobal.org/ctx/caliper/";

/// Validates and normalises the event `v` of an envelope of `version`.
pub(super) fn event(
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
    // The first seven properties are the required ones.
    for key in &EVENT_NAMES_V1P2[..7] {
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
    // A 1.1 event under a profile extension is governed by that profile, as
    // a 1.2 event is by its `profile`.
    let extension = match version {
        CaliperVersion::V1p1 => get(members, "@context").and_then(extensions::of_context),
        CaliperVersion::V1p2 => None,
    };
    let profile = match extension {
        Some(e) => Some(e.profile),
        None => get(members, "profile").and_then(Json::as_str),
    };
    let rules = event_type.and_then(|t| {
        type_and_action(t, action, members, path, version, extension, probs)?;
        Some(EventRules {
            event_type: t,
            action,
            survey: profile == Some("SurveyProfile"),
        })
    });
    let (mut actor, mut object) = (None, None);
    // One pass over the members: a lookup per entity property cost more
    // than the checks themselves.
    for (key, value) in members {
        if matches!(value, Json::Null) || !entities::holds_entity(key) {
            continue;
        }
        let Some(found) = entity_ref(value, &path.key(key), probs) else {
            continue;
        };
        if let (Some(rules), (_, Some(t))) = (&rules, found) {
            rules.check_type(key, t, path, probs);
        }
        match *key {
            "actor" => actor = Some(found),
            "object" => object = Some(found),
            _ => {}
        }
    }
    if let Some(rules) = &rules {
        rules.check_required(members, path, probs);
    }
    let event_time = get(members, "eventTime")
        .and_then(|t| caliper_time(t, &path.key("eventTime"), "caliper.event_time", probs));
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
            id: actor_id.to_string(),
            home_page: None,
            actor_type: actor_type.map(str::to_string),
        },
        action: vocab::action_for(action),
        verb: action.to_string(),
        object: EventObject {
            id: object_id.to_string(),
            object_type: object_type.map(str::to_string),
            name: object_json
                .and_then(|o| o.get("name"))
                .and_then(Json::as_str)
                .map(str::to_string),
        },
        result: normalise::result(members, object_json),
        context: normalise::context(members, object_json, profile),
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

/// Checks the event type against the version (and, in 1.1, the profile
/// extension named by `@context`), the action against the type and the
/// profile against both. `None` when the type is not one of the version's.
fn type_and_action(
    event_type: &str,
    action: Option<&str>,
    members: Members<'_, '_>,
    path: &Path<'_>,
    version: CaliperVersion,
    extension: Option<&Extension>,
    probs: &mut Problems,
) -> Option<()> {
    // An extension's event types have the actions they have in 1.2.
    let allowed = vocab::allowed_actions(version, event_type).or_else(|| {
        extension
            .filter(|e| e.event_types.contains(&event_type))
            .and_then(|_| vocab::allowed_actions(CaliperVersion::V1p2, event_type))
    });
    let Some(allowed) = allowed else {
        let hint = match (version, extensions::defining(event_type)) {
            (CaliperVersion::V1p1, Some(e)) => format!(
                "; 1.1 has it only in the {} extension: set @context to {}",
                e.profile, e.context
            ),
            _ => String::new(),
        };
        probs.add(
            "caliper.event.type",
            &path.key("type"),
            format!(
                "`{event_type}` is not a Caliper {} event type{hint}",
                version.label()
            ),
        );
        return None;
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
        let profile = check::string(p, &pp, CALIPER, probs)?;
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
    Some(())
}
