//! One `LearningEvent` joined with the roster: who (a user, by the identity
//! rules), where (class → course, school, term, subjects, grades), in which
//! role — and turned into an `EnrichedEvent` that carries no personal data.

use lap_schemas::{ActorKind, EnrichedEvent, EventResult, LearningEvent, Role};

use crate::pseudonym::Pseudonymiser;
use crate::state::{ClassRef, CourseInfo, IdKind, Lookup, Roster, UserRef};

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
    roster: &Roster,
    event: &LearningEvent,
    keys: &Pseudonymiser,
    opts: &JoinOptions,
) -> Joined {
    let user = match find_user(roster, event) {
        Ok(u) => u,
        Err(e) => return Joined::Unmatched(e),
    };
    if roster.opted_out(user) {
        return Joined::OptedOut;
    }
    let class_ref = match find_class(roster, user, &event.context.class_refs) {
        Ok(c) => c,
        Err(e) => return Joined::Unmatched(e),
    };
    let class = class_ref.map(|c| roster.class(c));
    let tenant = roster.tenant();
    let (user_role, user_school) = roster.user_role(user);
    let role = class_ref
        .and_then(|c| roster.enrollment_role(user, c))
        .or(user_role)
        .unwrap_or(Role::Other);
    let day = event.event_time.div_euclid(86_400_000_000);
    let term_id = class.and_then(|(_, c)| {
        c.term_ids
            .iter()
            .find(|t| {
                roster
                    .session(t)
                    .is_some_and(|s| s.start_day <= day && day <= s.end_day)
            })
            .map(|t| t.to_string())
    });
    let course = class.and_then(|(_, c)| roster.course(c.course_id.as_deref()?));
    let inherited = |own: &Vec<String>, from_course: fn(&CourseInfo) -> &Vec<String>| {
        if own.is_empty() {
            course.map(from_course).cloned().unwrap_or_default()
        } else {
            own.clone()
        }
    };
    let is_person = event
        .object
        .object_type
        .as_deref()
        .is_some_and(|t| PERSON_TYPES.contains(&t));
    let object_id = if is_person {
        format!("person:{}", keys.key(tenant, &event.object.id))
    } else {
        event.object.id.clone()
    };
    let none = EventResult::default();
    let result = event.result.as_ref().unwrap_or(&none);
    let response_value = result
        .response
        .as_deref()
        .and_then(|r| r.trim().parse::<f64>().ok());
    let response_text = result
        .response
        .as_ref()
        .filter(|_| opts.keep_free_text && response_value.is_none())
        .cloned();
    Joined::Enriched(Box::new(EnrichedEvent {
        event_id: event.event_id.clone(),
        source: event.source,
        spec_version: event.spec_version.clone(),
        event_time: event.event_time,
        stored_time: event.stored_time,
        person_key: keys.key(tenant, roster.user_id(user)),
        tenant: tenant.to_string(),
        role,
        school_id: class
            .and_then(|(_, c)| c.school_id.as_deref())
            .or(user_school)
            .map(str::to_string),
        class_id: class.map(|(id, _)| id.to_string()),
        course_id: class.and_then(|(_, c)| c.course_id.as_deref().map(str::to_string)),
        term_id,
        subject_codes: class
            .map(|(_, c)| inherited(&c.subject_codes, |k| &k.subject_codes))
            .unwrap_or_default(),
        grades: class
            .map(|(_, c)| inherited(&c.grades, |k| &k.grades))
            .unwrap_or_default(),
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

/// The last path segment of an IRI (`https://sis.example/users/u1` → `u1`,
/// `urn:x:u1` → `u1`).
pub(crate) fn last_segment(iri: &str) -> &str {
    let trimmed = iri.trim_end_matches('/');
    trimmed.rsplit(['/', ':']).next().unwrap_or(trimmed)
}

fn find_user(roster: &Roster, event: &LearningEvent) -> Result<UserRef, Unmatched> {
    let a = &event.actor;
    let lower;
    let (kind, value, what) = match a.kind {
        ActorKind::Account => (IdKind::Account, a.id.as_str(), "account name"),
        ActorKind::Mbox => {
            lower = a.id.trim_start_matches("mailto:").to_ascii_lowercase();
            (IdKind::Email, lower.as_str(), "mbox")
        }
        ActorKind::MboxSha1sum => {
            lower = a.id.to_ascii_lowercase();
            (IdKind::EmailSha1, lower.as_str(), "mbox_sha1sum")
        }
        ActorKind::Iri | ActorKind::Openid => {
            (IdKind::IriSegment, last_segment(&a.id), "actor IRI")
        }
    };
    match roster.find_user(kind, value) {
        Lookup::One(u) => Ok(u),
        Lookup::Ambiguous(n) => Err(Unmatched {
            code: "enrich.ambiguous.actor",
            reason: format!(
                "the {what} matches {n} roster users; check the identity rules (enrich.identity)"
            ),
        }),
        Lookup::None => Err(Unmatched {
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
fn find_class(
    roster: &Roster,
    user: UserRef,
    refs: &[String],
) -> Result<Option<ClassRef>, Unmatched> {
    if refs.is_empty() {
        return Ok(None);
    }
    for r in refs {
        for candidate in [r.as_str(), last_segment(r)] {
            if let Some(c) = roster.find_class(candidate) {
                return Ok(Some(c));
            }
            if let [one] = roster.classes_of_course(user, candidate)[..] {
                return Ok(Some(one));
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
