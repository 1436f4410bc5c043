//! xAPI statements (1.0.3 and 2.0 / IEEE 9274.1.1): validation against the
//! spec and normalisation into a [`LearningEvent`], in one pass over the
//! parsed tree. Every rule violated is reported with a stable code and the
//! JSON path of the offending value.

mod agents;
pub mod compare;
mod context;
mod definition;
mod objects;
pub mod verbs;

use lap_schemas::{Actor, EventContext, EventResult, LearningEvent, SourceStandard};

use self::objects::{ObjectInfo, ObjectKind};
use crate::check::{self, Keys, XAPI, get};
use crate::json::{self, Json};
use crate::problem::{Path, Problems};
use crate::time::{TimeRules, parse_timestamp};

/// Verb IRI of voiding statements.
pub const VOIDED: &str = "http://adlnet.gov/expapi/verbs/voided";

/// Values of the `X-Experience-API-Version` header an LRS accepts.
pub const ACCEPTED_VERSIONS: &[&str] = &["1.0.0", "1.0.1", "1.0.2", "1.0.3", "2.0.0"];

const VERB_KEYS: Keys = Keys::new(&["id", "display"]);
const STATEMENT_KEYS: Keys = Keys::new(&[
    "id",
    "actor",
    "verb",
    "object",
    "result",
    "context",
    "timestamp",
    "stored",
    "authority",
    "version",
    "attachments",
]);
/// What a SubStatement may hold: a Statement's properties and `objectType`
/// (those a SubStatement must not have are rejected with their own code).
pub(crate) const SUBSTATEMENT_KEYS: Keys = Keys::new(&[
    "objectType",
    "actor",
    "verb",
    "object",
    "result",
    "context",
    "timestamp",
    "attachments",
    "id",
    "stored",
    "version",
    "authority",
]);

/// Which edition of the specification a statement is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XapiVersion {
    /// 1.0.x (1.0.3 rules).
    V1,
    /// 2.0 (IEEE 9274.1.1).
    V2,
}

impl XapiVersion {
    /// Reads an `X-Experience-API-Version` header or a statement's `version`.
    /// Headers must be one of [`ACCEPTED_VERSIONS`]; a statement's `version`
    /// may be any `1.0.x` or `2.0.x`.
    pub fn parse(s: &str, header: bool) -> Result<XapiVersion, String> {
        if header && !ACCEPTED_VERSIONS.contains(&s) {
            return Err(format!(
                "X-Experience-API-Version `{s}` is not supported; send one of {}",
                ACCEPTED_VERSIONS.join(", ")
            ));
        }
        let patch_ok = |rest: &str| {
            rest.is_empty()
                || rest
                    .strip_prefix('.')
                    .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        };
        if let Some(rest) = s.strip_prefix("1.0") {
            if patch_ok(rest) {
                return Ok(XapiVersion::V1);
            }
        } else if let Some(rest) = s.strip_prefix("2.0")
            && patch_ok(rest)
        {
            return Ok(XapiVersion::V2);
        }
        Err(format!("version `{s}` is not 1.0.x or 2.0.x"))
    }

    fn time_rules(self) -> TimeRules {
        match self {
            XapiVersion::V1 => TimeRules::Xapi1,
            XapiVersion::V2 => TimeRules::Xapi2,
        }
    }
}

/// Facts about a statement that come from outside it.
#[derive(Clone, Debug)]
pub struct Envelope<'e> {
    /// Version from the request header or topic message header, if any.
    pub header_version: Option<&'e str>,
    /// Version assumed when neither header nor statement says.
    pub default_version: &'e str,
    /// When the statement was stored (Kafka record time or HTTP receipt), µs.
    pub stored_us: i64,
    /// Id to use when the statement has none; deterministic for Kafka input
    /// so a replay assigns the same id.
    pub assigned_id: &'e str,
}

/// A valid statement: its canonical event and what duplicate detection needs.
#[derive(Clone, Debug)]
pub struct Statement {
    /// The normalised event.
    pub event: LearningEvent,
    /// Hash of the statement's comparable content (xAPI comparison rules).
    pub fingerprint: u64,
    /// Whether the statement itself had no id.
    pub id_assigned: bool,
}

/// Walk state: the version being applied and the problems found so far.
pub(crate) struct Walk<'p> {
    version: XapiVersion,
    probs: &'p mut Problems,
}

/// What [`statement_body`] extracts; shared by statements and SubStatements.
pub(crate) struct Body<'j, 'a> {
    actor: Actor,
    verb: &'j str,
    object: ObjectInfo<'j, 'a>,
    result: Option<(EventResult, Option<&'j Json<'a>>)>,
    context: context::ContextInfo<'j, 'a>,
    timestamp: Option<i64>,
}

/// Validates and normalises one statement.
pub fn parse_statement(v: &Json<'_>, env: &Envelope<'_>) -> Result<Statement, Problems> {
    let root = Path::Root;
    let mut probs = Problems::default();
    let declared = v.get("version");
    let version_text = match declared {
        Some(Json::Str(s)) => *s,
        _ => env.header_version.unwrap_or(env.default_version),
    };
    let version = match XapiVersion::parse(version_text, false) {
        Ok(v) => v,
        Err(msg) => {
            probs.add("xapi.version", &root.key("version"), msg);
            XapiVersion::V1
        }
    };
    if let Some(d) = declared {
        check::string(d, &root.key("version"), XAPI, &mut probs);
    }
    let mut w = Walk {
        version,
        probs: &mut probs,
    };
    let Some(members) = check::object(v, &root, "a Statement", &STATEMENT_KEYS, XAPI, w.probs)
    else {
        return Err(probs);
    };
    let id = get(members, "id").and_then(|id| objects::uuid(id, &root.key("id"), &mut w));
    let stored = get(members, "stored").and_then(|s| timestamp(s, &root.key("stored"), &mut w));
    if let Some(a) = get(members, "authority") {
        agents::authority(a, &root.key("authority"), &mut w);
    }
    let body = statement_body(members, &root, false, &mut w);
    if let Some(b) = &body {
        voiding_rules(b, &root, &mut w);
    }
    let (Some(body), true) = (body, probs.is_empty()) else {
        return Err(probs);
    };
    let id_assigned = id.is_none();
    let event_id = id.unwrap_or_else(|| env.assigned_id.to_string());
    let stored_us = stored.unwrap_or(env.stored_us);
    let spec_version = match declared {
        Some(Json::Str(s)) => s.to_string(),
        _ => version_text.to_string(),
    };
    let fingerprint = compare::fingerprint(v);
    Ok(Statement {
        event: to_event(event_id, spec_version, stored_us, body),
        fingerprint,
        id_assigned,
    })
}

fn voiding_rules(b: &Body<'_, '_>, root: &Path<'_>, w: &mut Walk<'_>) {
    if b.verb == VOIDED && b.object.kind != ObjectKind::StatementRef {
        w.probs.add(
            "xapi.voiding.object",
            &root.key("object"),
            "a voiding statement's object must be a StatementRef to the statement it voids",
        );
    }
}

fn to_event(
    event_id: String,
    spec_version: String,
    stored_us: i64,
    b: Body<'_, '_>,
) -> LearningEvent {
    let verb = b.verb.to_string();
    let action = verbs::action_for(&verb);
    let voids = (verb == VOIDED).then(|| b.object.object.id.clone());
    let mut objective_ids = b.context.objective_ids;
    if b.object.object.object_type.as_deref() == Some(objects::OBJECTIVE_TYPE) {
        objective_ids.push(b.object.object.id.clone());
    }
    let ext = [
        ("context", b.context.extensions),
        ("result", b.result.as_ref().and_then(|(_, e)| *e)),
        ("object", b.object.extensions),
    ];
    let extensions = ext
        .iter()
        .any(|(_, e)| e.is_some())
        .then(|| json::object_text(ext.iter().filter_map(|&(k, e)| Some((k, e?)))));
    let due_time = b
        .context
        .due_time
        .or_else(|| context::due_from(b.object.extensions));
    LearningEvent {
        event_id,
        source: SourceStandard::Xapi,
        spec_version,
        event_time: b.timestamp.unwrap_or(stored_us),
        stored_time: stored_us,
        actor: b.actor,
        action,
        verb,
        object: b.object.object,
        result: b.result.map(|(r, _)| r),
        context: EventContext {
            registration: b.context.registration,
            platform: b.context.platform,
            instructor: b.context.instructor,
            class_refs: b.context.class_refs,
            category_ids: b.context.category_ids,
            objective_ids,
            session_id: b.context.session_id,
            roles: Vec::new(),
        },
        due_time,
        voids,
        extensions,
    }
}

/// Actor, verb, object, result, context, timestamp and attachments: the
/// part a SubStatement (`sub`) shares with a Statement. The caller has
/// checked `members` against the allowed properties, once.
pub(crate) fn statement_body<'j, 'a>(
    members: check::Members<'j, 'a>,
    path: &Path<'_>,
    sub: bool,
    w: &mut Walk<'_>,
) -> Option<Body<'j, 'a>> {
    let what = if sub { "a SubStatement" } else { "a Statement" };
    let actor = check::required(members, "actor", path, what, XAPI, w.probs)
        .and_then(|a| agents::agent_or_group(a, &path.key("actor"), false, w));
    let verb = check::required(members, "verb", path, what, XAPI, w.probs)
        .and_then(|vb| verb(vb, &path.key("verb"), w));
    let object = check::required(members, "object", path, what, XAPI, w.probs)
        .and_then(|o| objects::object(o, &path.key("object"), sub, w));
    let result = get(members, "result").and_then(|r| context::result(r, &path.key("result"), w));
    let object_kind = object.as_ref().map(|o| o.kind);
    let ctx = match get(members, "context") {
        Some(c) => context::context(c, &path.key("context"), object_kind, w),
        None => Some(context::ContextInfo::default()),
    };
    let timestamp = get(members, "timestamp").and_then(|t| timestamp(t, &path.key("timestamp"), w));
    if let Some(a) = get(members, "attachments") {
        context::attachments(a, &path.key("attachments"), w);
    }
    Some(Body {
        actor: actor?,
        verb: verb?,
        object: object?,
        result,
        context: ctx?,
        timestamp,
    })
}

fn verb<'j>(v: &'j Json<'_>, path: &Path<'_>, w: &mut Walk<'_>) -> Option<&'j str> {
    let members = check::object(v, path, "a Verb", &VERB_KEYS, XAPI, w.probs)?;
    if let Some(d) = get(members, "display") {
        lang_map(d, &path.key("display"), w);
    }
    let id = check::required(members, "id", path, "a Verb", XAPI, w.probs)?;
    check::iri(id, &path.key("id"), XAPI, w.probs)
}

/// A timestamp under the version's rules, in µs.
fn timestamp(v: &Json<'_>, path: &Path<'_>, w: &mut Walk<'_>) -> Option<i64> {
    let s = check::string(v, path, XAPI, w.probs)?;
    match parse_timestamp(s, w.version.time_rules()) {
        Ok(us) => Some(us),
        Err(e) => {
            let code = match e.kind {
                "zone" => "xapi.timestamp.zone",
                "unknown_offset" => "xapi.timestamp.unknown_offset",
                "range" => "xapi.timestamp.range",
                _ => "xapi.timestamp.format",
            };
            w.probs.add(code, path, e.message);
            None
        }
    }
}

/// A language map: RFC 5646 tags to strings. Returns the first value (the
/// display name an activity's event keeps; the other maps' are dropped).
pub(crate) fn lang_map<'j>(v: &'j Json<'_>, path: &Path<'_>, w: &mut Walk<'_>) -> Option<&'j str> {
    let Json::Object(members) = v else {
        w.probs.add(
            "xapi.property.type",
            path,
            format!("a language map must be an object, not {}", v.kind()),
        );
        return None;
    };
    let mut first = None;
    for (tag, text) in members.iter() {
        let p = path.key(tag);
        if !check::is_language_tag(tag) {
            w.probs.add(
                "xapi.language_tag",
                &p,
                format!("`{tag}` is not an RFC 5646 language tag such as en-US"),
            );
        }
        if let Some(s) = check::string(text, &p, XAPI, w.probs) {
            first.get_or_insert(s);
        }
    }
    first
}

/// Extensions: an object whose keys are IRIs; values are free (even null).
pub(crate) fn extensions(v: &Json<'_>, path: &Path<'_>, w: &mut Walk<'_>) {
    let Json::Object(members) = v else {
        w.probs.add(
            "xapi.property.type",
            path,
            format!("extensions must be an object, not {}", v.kind()),
        );
        return;
    };
    for (k, _) in members.iter() {
        if !check::is_iri(k) {
            w.probs.add(
                "xapi.extension.key",
                &path.key(k),
                format!("extension key `{k}` must be an IRI"),
            );
        }
    }
}
