//! The entity types an event may hold (Caliper 1.1 and 1.2, the event
//! sections and the profiles): each event type constrains the types of its
//! `actor`, `object`, `generated`, `target` and `referrer`, and every event
//! those of its context (`edApp`, `group`, `membership`, `session`,
//! `federatedSession`). A subtype stands wherever its supertype is allowed,
//! by the entity hierarchy below; an entity given as an IRI has no type to
//! check. Some actions add their own: the actor and object of a SessionEvent
//! depend on the action, a FeedbackEvent's generated entity too, and some
//! actions require a property.
//!
//! The lookups are `match`es on the names, which compile to a comparison of
//! the length and then the bytes: an event's checks cost a few hundred
//! instructions, not a search through lists.

use crate::check::{Members, get};
use crate::problem::{Path, Problems};

/// Whether `key` is a property of an event that holds an entity. A
/// `match`: it is asked of every property of every event.
pub fn holds_entity(key: &str) -> bool {
    matches!(
        key,
        "actor"
            | "object"
            | "generated"
            | "target"
            | "referrer"
            | "edApp"
            | "group"
            | "membership"
            | "session"
            | "federatedSession"
    )
}

/// The supertype of a Caliper entity type, for the types with one other
/// than `Entity` (1.2 entity sections; `Reading` and the EPUB types are 1.1's
/// deprecated ones).
pub fn supertype(entity_type: &str) -> Option<&'static str> {
    Some(match entity_type {
        "Person" | "Organization" | "SoftwareApplication" => "Agent",
        "CourseOffering" | "Group" => "Organization",
        "CourseSection" => "CourseOffering",
        "BookmarkAnnotation" | "HighlightAnnotation" | "SharedAnnotation" | "TagAnnotation" => {
            "Annotation"
        }
        "AssignableDigitalResource"
        | "Chapter"
        | "DigitalResourceCollection"
        | "Document"
        | "Frame"
        | "LtiLink"
        | "MediaLocation"
        | "MediaObject"
        | "Message"
        | "Page"
        | "QuestionnaireItem"
        | "WebPage"
        | "Reading"
        | "EpubChapter"
        | "EpubPart"
        | "EpubSubChapter"
        | "EpubVolume" => "DigitalResource",
        "Assessment" | "AssessmentItem" => "AssignableDigitalResource",
        "Forum" | "Thread" | "Questionnaire" => "DigitalResourceCollection",
        "AudioObject" | "ImageObject" | "VideoObject" => "MediaObject",
        "DateTimeResponse"
        | "FillinBlankResponse"
        | "MultipleChoiceResponse"
        | "MultipleResponseResponse"
        | "MultiselectResponse"
        | "OpenEndedResponse"
        | "RatingScaleResponse"
        | "SelectTextResponse"
        | "TrueFalseResponse" => "Response",
        "DateTimeQuestion"
        | "MultiselectQuestion"
        | "OpenEndedQuestion"
        | "RatingScaleQuestion" => "Question",
        "LikertScale" | "MultiselectScale" | "NumericScale" => "Scale",
        "AggregateMeasureCollection" | "Survey" => "Collection",
        "LtiSession" => "Session",
        _ => return None,
    })
}

/// Whether `entity_type` is one of `allowed` or a subtype of one; an empty
/// `allowed` means any entity.
pub fn is_a(entity_type: &str, allowed: &[&str]) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let mut t = Some(entity_type);
    while let Some(name) = t {
        if allowed.contains(&name) {
            return true;
        }
        t = supertype(name);
    }
    false
}

const AGENT: &[&str] = &["Agent"];
const PERSON: &[&str] = &["Person"];
const DIGITAL_RESOURCE: &[&str] = &["DigitalResource"];
const FRAME: &[&str] = &["Frame"];
const ATTEMPT: &[&str] = &["Attempt"];
const SOFTWARE_APPLICATION: &[&str] = &["SoftwareApplication"];
const RESOURCE_OR_APPLICATION: &[&str] = &["DigitalResource", "SoftwareApplication"];
const QUESTIONNAIRE_OR_ITEM: &[&str] = &["Questionnaire", "QuestionnaireItem"];
const SESSION: &[&str] = &["Session"];
const RATING: &[&str] = &["Rating"];
const COMMENT: &[&str] = &["Comment"];

/// What made a property's types what they are, for the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Because {
    /// The event type.
    EventType,
    /// The event type with this action.
    Action,
    /// The Survey profile (1.2 `profile` or the 1.1 extension).
    SurveyProfile,
}

/// The rules an event is checked under: its type, its action, and whether
/// it is governed by the Survey profile (which narrows what a
/// NavigationEvent or ViewEvent may be about).
#[derive(Clone, Copy, Debug)]
pub struct EventRules<'e> {
    /// The event's `type`, a known event type.
    pub event_type: &'e str,
    /// The event's `action`, when it is a string.
    pub action: Option<&'e str>,
    /// Whether the Survey profile governs the event.
    pub survey: bool,
}

impl EventRules<'_> {
    /// The types `property` may hold (each with its subtypes; empty for any
    /// entity), and why.
    fn allowed(&self, property: &str) -> (&'static [&'static str], Because) {
        let action = self.action.unwrap_or_default();
        let by_action = match (self.event_type, property, action) {
            ("SessionEvent", "actor", "LoggedIn" | "LoggedOut") => Some(PERSON),
            ("SessionEvent", "actor", "TimedOut") => Some(SOFTWARE_APPLICATION),
            ("SessionEvent", "object", "LoggedIn" | "LoggedOut") => Some(SOFTWARE_APPLICATION),
            ("SessionEvent", "object", "TimedOut") => Some(SESSION),
            ("FeedbackEvent", "generated", "Ranked") => Some(RATING),
            ("FeedbackEvent", "generated", "Commented") => Some(COMMENT),
            _ => None,
        };
        if let Some(types) = by_action {
            return (types, Because::Action);
        }
        if self.survey
            && property == "object"
            && matches!(self.event_type, "NavigationEvent" | "ViewEvent")
        {
            return (QUESTIONNAIRE_OR_ITEM, Because::SurveyProfile);
        }
        (event_types(self.event_type, property), Because::EventType)
    }

    /// Checks the type of the entity in `property`, found as `found`.
    pub fn check_type(&self, property: &str, found: &str, path: &Path<'_>, probs: &mut Problems) {
        let (allowed, because) = self.allowed(property);
        if is_a(found, allowed) {
            return;
        }
        let event = self.event_type;
        let when = match because {
            Because::EventType => String::new(),
            Because::Action => format!(" with the action {}", self.action.unwrap_or_default()),
            Because::SurveyProfile => " under the Survey profile".to_string(),
        };
        let code = if property == "actor" {
            "caliper.actor.type"
        } else {
            "caliper.entity.type"
        };
        probs.add(
            code,
            &path.key(property).key("type"),
            format!(
                "the `{property}` of a {event}{when} must be {} (or a subtype), or its IRI; found {found}",
                allowed.join(" or ")
            ),
        );
    }

    /// Checks that the property the event's action requires is there.
    pub fn check_required(&self, members: Members<'_, '_>, path: &Path<'_>, probs: &mut Problems) {
        let Some(action) = self.action else {
            return;
        };
        let (key, what) = match (self.event_type, action) {
            ("ToolLaunchEvent", "Launched") => (
                "federatedSession",
                "the platform's LtiSession the tool is launched from",
            ),
            ("ResourceManagementEvent", "Copied") => {
                ("generated", "the copy that was made, a DigitalResource")
            }
            _ => return,
        };
        if get(members, key).is_none() {
            probs.add(
                "caliper.event.property_required",
                &path.key(key),
                format!(
                    "a {} with the action {action} requires `{key}`: {what}",
                    self.event_type
                ),
            );
        }
    }
}

/// The types an event type allows in `property` (empty: any entity). The
/// context properties are the same for every event type.
fn event_types(event_type: &str, property: &str) -> &'static [&'static str] {
    match (event_type, property) {
        (_, "edApp") => SOFTWARE_APPLICATION,
        (_, "group") => &["Organization"],
        (_, "membership") => &["Membership"],
        (_, "session") => SESSION,
        (_, "federatedSession") => &["LtiSession"],
        // Only these let any Agent act: grading (a person or a program),
        // the generic Event, and 1.1's deprecated types.
        ("Event" | "GradeEvent" | "OutcomeEvent" | "ReadingEvent", "actor") => AGENT,
        ("SessionEvent", "actor") => &["Person", "SoftwareApplication"],
        (_, "actor") => PERSON,
        ("AnnotationEvent", "object") => DIGITAL_RESOURCE,
        ("AnnotationEvent", "target") => FRAME,
        ("AnnotationEvent", "generated") => &["Annotation"],
        ("AssessmentEvent", "object") => &["Assessment"],
        ("AssessmentEvent", "generated") => ATTEMPT,
        ("AssessmentItemEvent", "object") => &["AssessmentItem"],
        // The Response of a completed item, or (1.1) the Attempt a start makes.
        ("AssessmentItemEvent", "generated") => &["Response", "Attempt"],
        ("AssessmentItemEvent", "referrer") => &["AssessmentItem"],
        ("AssignableEvent", "object") => &["AssignableDigitalResource"],
        ("AssignableEvent", "target") => FRAME,
        ("AssignableEvent", "generated") => ATTEMPT,
        ("FeedbackEvent", "target") => FRAME,
        ("FeedbackEvent", "generated") => &["Rating", "Comment"],
        ("ForumEvent", "object") => &["Forum"],
        ("GradeEvent" | "OutcomeEvent", "object") => ATTEMPT,
        ("GradeEvent", "generated") => &["Score"],
        ("OutcomeEvent", "generated") => &["Result"],
        ("MediaEvent", "object") => &["MediaObject"],
        ("MediaEvent", "target") => &["MediaLocation"],
        ("MessageEvent", "object") => &["Message"],
        ("NavigationEvent", "object" | "referrer") => RESOURCE_OR_APPLICATION,
        ("NavigationEvent", "target") => DIGITAL_RESOURCE,
        ("QuestionnaireEvent", "object") => &["Questionnaire"],
        ("QuestionnaireItemEvent", "object") => &["QuestionnaireItem"],
        ("QuestionnaireItemEvent", "generated") => &["Response"],
        ("ReadingEvent", "object") => DIGITAL_RESOURCE,
        ("ReadingEvent", "target") => FRAME,
        ("ResourceManagementEvent", "object" | "generated") => DIGITAL_RESOURCE,
        ("SearchEvent", "generated") => &["SearchResponse"],
        ("SessionEvent", "object") => &["Session", "SoftwareApplication"],
        ("SessionEvent", "target") => DIGITAL_RESOURCE,
        ("SessionEvent", "referrer") => RESOURCE_OR_APPLICATION,
        ("SurveyEvent", "object") => &["Survey"],
        ("SurveyInvitationEvent", "object") => &["SurveyInvitation"],
        ("ThreadEvent", "object") => &["Thread"],
        ("ToolLaunchEvent", "object") => SOFTWARE_APPLICATION,
        ("ToolLaunchEvent", "generated") => DIGITAL_RESOURCE,
        ("ToolLaunchEvent", "target") => &["Link", "LtiLink"],
        ("ToolUseEvent", "object" | "target") => SOFTWARE_APPLICATION,
        ("ToolUseEvent", "generated") => &["AggregateMeasureCollection"],
        ("ViewEvent", "object") => DIGITAL_RESOURCE,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtypes_stand_for_their_supertypes() {
        assert!(is_a("CourseSection", &["Organization"]));
        assert!(is_a("CourseSection", AGENT));
        assert!(is_a("VideoObject", DIGITAL_RESOURCE));
        assert!(is_a("Assessment", &["AssignableDigitalResource"]));
        assert!(is_a("LtiSession", &["Session"]));
        assert!(is_a("Anything", &[]), "no constraint");
        assert!(!is_a("Person", DIGITAL_RESOURCE));
        assert!(!is_a("Session", &["LtiSession"]), "not the other way round");
        assert!(!is_a("Invented", PERSON));
    }

    #[test]
    fn every_named_type_is_in_the_hierarchy() {
        // Each type a rule names is a root or has a known supertype chain
        // that ends in a root: a typo in a table would make it unreachable.
        let roots = [
            "Agent",
            "Annotation",
            "Attempt",
            "Collection",
            "Comment",
            "DigitalResource",
            "Link",
            "Membership",
            "Rating",
            "Response",
            "Result",
            "Score",
            "SearchResponse",
            "Session",
            "SurveyInvitation",
        ];
        let properties = [
            "actor",
            "object",
            "generated",
            "target",
            "referrer",
            "edApp",
            "group",
            "membership",
            "session",
            "federatedSession",
        ];
        let events = [
            "Event",
            "AnnotationEvent",
            "AssessmentEvent",
            "AssessmentItemEvent",
            "AssignableEvent",
            "FeedbackEvent",
            "ForumEvent",
            "GradeEvent",
            "MediaEvent",
            "MessageEvent",
            "NavigationEvent",
            "OutcomeEvent",
            "QuestionnaireEvent",
            "QuestionnaireItemEvent",
            "ReadingEvent",
            "ResourceManagementEvent",
            "SearchEvent",
            "SessionEvent",
            "SurveyEvent",
            "SurveyInvitationEvent",
            "ThreadEvent",
            "ToolLaunchEvent",
            "ToolUseEvent",
            "ViewEvent",
        ];
        for e in events {
            for p in properties {
                assert!(holds_entity(p), "{p}");
                for t in event_types(e, p) {
                    let mut top = *t;
                    while let Some(up) = supertype(top) {
                        top = up;
                    }
                    assert!(roots.contains(&top), "{e}.{p}: {t} ends at {top}");
                }
            }
        }
    }
}
