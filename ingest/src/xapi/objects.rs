//! Statement objects (xAPI Data 2.4.4): Activities with their definitions,
//! Agents/Groups, StatementRefs and SubStatements.

use lap_schemas::EventObject;

use super::{SUBSTATEMENT_KEYS, Walk, agents, definition, statement_body};
use crate::check::{self, Keys, XAPI, get};
use crate::json::Json;
use crate::problem::Path;

const STATEMENT_REF_KEYS: Keys = Keys::new(&["objectType", "id"]);
const ACTIVITY_KEYS: Keys = Keys::new(&["objectType", "id", "definition"]);
const SUBSTATEMENT_FORBIDDEN: &[&str] = &["id", "stored", "version", "authority"];

/// Activity type of a learning objective (ADL activity types vocabulary).
pub const OBJECTIVE_TYPE: &str = "http://adlnet.gov/expapi/activities/objective";

/// What a statement's object is, beyond its canonical form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    /// An Activity.
    Activity,
    /// An Agent or Group.
    Actor,
    /// A reference to another statement.
    StatementRef,
    /// A statement inside the statement.
    SubStatement,
}

impl ObjectKind {
    /// The kind as a message names it ("an Activity", ...).
    pub fn label(self) -> &'static str {
        match self {
            ObjectKind::Activity => "an Activity",
            ObjectKind::Actor => "an Agent or Group",
            ObjectKind::StatementRef => "a StatementRef",
            ObjectKind::SubStatement => "a SubStatement",
        }
    }
}

/// The normalised object and what else the validator learnt from it.
pub struct ObjectInfo<'j, 'a> {
    /// Canonical object.
    pub object: EventObject,
    /// Which kind it was.
    pub kind: ObjectKind,
    /// The activity definition's extensions, kept verbatim.
    pub extensions: Option<&'j Json<'a>>,
}

/// Validates a statement's (or sub-statement's) object.
pub fn object<'j, 'a>(
    v: &'j Json<'a>,
    path: &Path<'_>,
    in_substatement: bool,
    w: &mut Walk<'_>,
) -> Option<ObjectInfo<'j, 'a>> {
    let object_type = match v.get("objectType") {
        None => "Activity",
        Some(Json::Str(s)) => *s,
        Some(other) => {
            w.probs.add(
                "xapi.property.type",
                &path.key("objectType"),
                format!("must be a string, not {}", other.kind()),
            );
            return None;
        }
    };
    match object_type {
        "Activity" => activity(v, path, w),
        "Agent" | "Group" => {
            let a = agents::agent_or_group(v, path, true, w)?;
            Some(ObjectInfo {
                object: EventObject {
                    id: a.id,
                    object_type: Some(object_type.to_string()),
                    name: None,
                },
                kind: ObjectKind::Actor,
                extensions: None,
            })
        }
        "StatementRef" => {
            let id = statement_ref(v, path, w)?;
            Some(ObjectInfo {
                object: EventObject {
                    id,
                    object_type: Some("StatementRef".into()),
                    name: None,
                },
                kind: ObjectKind::StatementRef,
                extensions: None,
            })
        }
        "SubStatement" if in_substatement => {
            w.probs.add(
                "xapi.substatement.nested",
                &path.key("objectType"),
                "a SubStatement's object must not be another SubStatement",
            );
            None
        }
        "SubStatement" => substatement(v, path, w),
        other => {
            w.probs.add(
                "xapi.object.type",
                &path.key("objectType"),
                format!("`{other}` is not an object type; use Activity, Agent, Group, StatementRef or SubStatement"),
            );
            None
        }
    }
}

/// Validates `{"objectType": "StatementRef", "id": UUID}` and returns the id.
pub fn statement_ref(v: &Json<'_>, path: &Path<'_>, w: &mut Walk<'_>) -> Option<String> {
    let members = check::object(
        v,
        path,
        "a StatementRef",
        &STATEMENT_REF_KEYS,
        XAPI,
        w.probs,
    )?;
    match get(members, "objectType").and_then(Json::as_str) {
        Some("StatementRef") => {}
        _ => w.probs.add(
            "xapi.property.missing",
            &path.key("objectType"),
            "a StatementRef needs objectType \"StatementRef\"",
        ),
    }
    let id = check::required(members, "id", path, "a StatementRef", XAPI, w.probs)?;
    uuid(id, &path.key("id"), w)
}

/// A UUID-valued property, returned lower-case.
pub fn uuid(v: &Json<'_>, path: &Path<'_>, w: &mut Walk<'_>) -> Option<String> {
    let s = check::string(v, path, XAPI, w.probs)?;
    if check::is_uuid(s) {
        Some(s.to_ascii_lowercase())
    } else {
        w.probs.add(
            "xapi.uuid",
            path,
            format!("`{s}` is not a UUID in canonical 8-4-4-4-12 hex form"),
        );
        None
    }
}

/// An Activity (used as object and in contextActivities).
pub fn activity<'j, 'a>(
    v: &'j Json<'a>,
    path: &Path<'_>,
    w: &mut Walk<'_>,
) -> Option<ObjectInfo<'j, 'a>> {
    let members = check::object(v, path, "an Activity", &ACTIVITY_KEYS, XAPI, w.probs)?;
    if let Some(t) = get(members, "objectType")
        && t.as_str() != Some("Activity")
    {
        w.probs.add(
            "xapi.object.type",
            &path.key("objectType"),
            "must be \"Activity\" here",
        );
    }
    let id = check::required(members, "id", path, "an Activity", XAPI, w.probs)
        .and_then(|id| check::iri(id, &path.key("id"), XAPI, w.probs));
    let mut info = ObjectInfo {
        object: EventObject {
            id: id.unwrap_or_default().to_string(),
            object_type: None,
            name: None,
        },
        kind: ObjectKind::Activity,
        extensions: None,
    };
    if let Some(def) = get(members, "definition") {
        definition::definition(def, &path.key("definition"), &mut info, w);
    }
    id.map(|_| info)
}

fn substatement<'j, 'a>(
    v: &'j Json<'a>,
    path: &Path<'_>,
    w: &mut Walk<'_>,
) -> Option<ObjectInfo<'j, 'a>> {
    let members = check::object(v, path, "a SubStatement", &SUBSTATEMENT_KEYS, XAPI, w.probs)?;
    for (k, _) in members {
        if SUBSTATEMENT_FORBIDDEN.contains(k) {
            w.probs.add(
                "xapi.substatement.property",
                &path.key(k),
                format!("a SubStatement must not have `{k}` (not allowed: id, stored, version, authority)"),
            );
        }
    }
    let body = statement_body(members, path, true, w)?;
    Some(ObjectInfo {
        object: EventObject {
            id: body.object.object.id.clone(),
            object_type: Some("SubStatement".into()),
            name: Some(body.verb.to_string()),
        },
        kind: ObjectKind::SubStatement,
        extensions: None,
    })
}
