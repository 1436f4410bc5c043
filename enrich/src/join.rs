//! One `LearningEvent` joined with the roster: who (a user, by the identity
//! rules), where (class → course, school, term, subjects, grades), in which
//! role — and turned into an `EnrichedEvent` that carries no personal data.

use lap_schemas::{ActorKind, EnrichedEvent, LearningEvent, Role};

use crate::pseudonym::Pseudonymiser;
use crate::state::{ClassInfo, IdKind, Indexes, Roster};

/// Options of the join that are policy rather than data.
#[derive(Clone, Debug, Default)]
pub struct JoinOptions {
    /// Keep free-text responses (`response_text`). Off by default: free
    /// text can hold anything, including names.
    pub keep_free_text: bool,
}

/// Why an event could not be joined (yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmatched {
    /// Stable code: `enrich.unmatched.actor`, `enrich.ambiguous.actor`,
    /// `enrich.unmatched.class`.
    pub code: &'static str,
    /// What was looked for, without the personal identifier itself.
    pub reason: String,
}

/// The outcome of joining one event.
#[derive(Clone, Debug, PartialEq)]
pub enum Joined {
    /// Joined and pseudonymised.
    Enriched(Box<EnrichedEvent>),
    /// The learner opted out: nothing of theirs goes further.
    OptedOut,
    /// No (unique) roster match.
    Unmatched(Unmatched),
}

/// Object types that are people: their ids are personal data and their
/// names are dropped.
const PERSON_TYPES: &[&str] = &["Agent", "Group", "Person"];

/// Joins `event` with `roster`.
pub fn join(
    roster: &mut Roster,
    event: &LearningEvent,
    keys: &Pseudonymiser,
    opts: &JoinOptions,
) -> Joined {
    let tenant = roster.tenant().to_string();
    let ix = roster.indexes();
    let user = match find_user(ix, event) {
        Ok(u) => u,
        Err(e) => return Joined::Unmatched(e),
    };
    if ix.opted_out.contains(&user) {
        return Joined::OptedOut;
    }
    let class = match find_class(ix, &user, &event.context.class_refs) {
        Ok(c) => c,
        Err(e) => return Joined::Unmatched(e),
    };
    let (user_role, user_school) = ix.user_roles.get(&user).cloned().unwrap_or_default();
    let role_name = class
        .and_then(|c| ix.enrollments.get(&(user.clone(), c.id.clone())))
        .or(user_role.as_ref());
    let day = event.event_time.div_euclid(86_400_000_000);
    let term_id = class.and_then(|c| {
        c.term_ids
            .iter()
            .filter_map(|t| ix.sessions.get(t))
            .find(|s| s.start_day <= day && day <= s.end_day)
            .map(|s| s.id.clone())
    });
    let is_person = event
        .object
        .object_type
        .as_deref()
        .is_some_and(|t| PERSON_TYPES.contains(&t));
    let object_id = if is_person {
        format!("person:{}", keys.key(&tenant, &event.object.id))
    } else {
        event.object.id.clone()
    };
    let result = event.result.clone().unwrap_or_default();
    let response_value = result
        .response
        .as_deref()
        .and_then(|r| r.trim().parse::<f64>().ok());
    let response_text = result
        .response
        .filter(|_| opts.keep_free_text && response_value.is_none());
    Joined::Enriched(Box::new(EnrichedEvent {
        event_id: event.event_id.clone(),
        source: event.source,
        spec_version: event.spec_version.clone(),
        event_time: event.event_time,
        stored_time: event.stored_time,
        person_key: keys.key(&tenant, &user),
        tenant,
        role: role_name.map_or(Role::Other, |r| role(r)),
        school_id: class.and_then(|c| c.school_id.clone()).or(user_school),
        class_id: class.map(|c| c.id.clone()),
        course_id: class.and_then(|c| c.course_id.clone()),
        term_id,
        subject_codes: class.map(|c| c.subject_codes.clone()).unwrap_or_default(),
        grades: class.map(|c| c.grades.clone()).unwrap_or_default(),
        action: event.action,
        verb: event.verb.clone(),
        object_id,
        object_type: event.object.object_type.clone(),
        object_name: event.object.name.clone().filter(|_| !is_person),
        score_scaled: result.score_scaled,
        score_raw: result.score_raw,
        score_min: result.score_min,
        score_max: result.score_max,
        success: result.success,
        completion: result.completion,
        duration_ms: result.duration_ms,
        response_value,
        response_text,
        registration: event.context.registration.clone(),
        session_id: event.context.session_id.clone(),
        objective_ids: event.context.objective_ids.clone(),
        due_time: event.due_time,
        voids: event.voids.clone(),
    }))
}

/// lap's role for a OneRoster role.
pub fn role(oneroster: &str) -> Role {
    match oneroster {
        "student" => Role::Learner,
        "teacher" => Role::Teacher,
        "parent" | "guardian" | "relative" => Role::Guardian,
        "administrator"
        | "aide"
        | "proctor"
        | "districtAdministrator"
        | "siteAdministrator"
        | "systemAdministrator"
        | "principal"
        | "counselor" => Role::Administrator,
        _ => Role::Other,
    }
}

/// The last path segment of an IRI (`https://sis.example/users/u1` → `u1`,
/// `urn:x:u1` → `u1`).
fn last_segment(iri: &str) -> &str {
    let trimmed = iri.trim_end_matches('/');
    trimmed.rsplit(['/', ':']).next().unwrap_or(trimmed)
}

fn find_user(ix: &Indexes, event: &LearningEvent) -> Result<String, Unmatched> {
    let a = &event.actor;
    let (kind, value, what) = match a.kind {
        ActorKind::Account => (IdKind::Account, a.id.clone(), "account name"),
        ActorKind::Mbox => (
            IdKind::Email,
            a.id.trim_start_matches("mailto:").to_ascii_lowercase(),
            "mbox",
        ),
        ActorKind::MboxSha1sum => (IdKind::EmailSha1, a.id.to_ascii_lowercase(), "mbox_sha1sum"),
        ActorKind::Iri | ActorKind::Openid => (
            IdKind::IriSegment,
            last_segment(&a.id).to_string(),
            "actor IRI",
        ),
    };
    match ix.identities.get(&(kind, value)).map(Vec::as_slice) {
        Some([one]) => Ok(one.clone()),
        Some(many) if many.len() > 1 => Err(Unmatched {
            code: "enrich.ambiguous.actor",
            reason: format!(
                "the {what} matches {} roster users; check the identity rules (enrich.identity)",
                many.len()
            ),
        }),
        _ => Err(Unmatched {
            code: "enrich.unmatched.actor",
            reason: format!("no roster user has this {what} under the identity rules"),
        }),
    }
}

/// The class an event belongs to: the first context reference that names a
/// class (by sourcedId, classCode or as the last IRI segment) or a course
/// the user has exactly one class of. No references: no class (a login,
/// say). References that resolve to nothing: unmatched, since the roster
/// may still be on its way.
fn find_class<'a>(
    ix: &'a Indexes,
    user: &str,
    refs: &[String],
) -> Result<Option<&'a ClassInfo>, Unmatched> {
    if refs.is_empty() {
        return Ok(None);
    }
    for r in refs {
        for candidate in [r.as_str(), last_segment(r)] {
            let id = ix
                .class_codes
                .get(candidate)
                .map(String::as_str)
                .unwrap_or(candidate);
            if let Some(c) = ix.classes.get(id) {
                return Ok(Some(c));
            }
            if let Some(course) = ix.courses.get(candidate) {
                let mut mine = ix
                    .user_classes
                    .get(user)
                    .into_iter()
                    .flatten()
                    .filter_map(|c| ix.classes.get(c))
                    .filter(|c| c.course_id.as_ref() == Some(course));
                if let (Some(c), None) = (mine.next(), mine.next()) {
                    return Ok(Some(c));
                }
            }
        }
    }
    Err(Unmatched {
        code: "enrich.unmatched.class",
        reason: format!(
            "none of the {} class references in the context names a roster class, or a course the user has one class of",
            refs.len()
        ),
    })
}
