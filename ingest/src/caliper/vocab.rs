//! Caliper 1.1 and 1.2 vocabularies: event types and the actions each allows
//! (spec Appendix B and the 1.2 event fragments), profiles and the event
//! types they allow (1.2 profile fragments), and the mapping of
//! Caliper actions to lap's action vocabulary.

use lap_schemas::Action;

/// The context IRI and `dataVersion` of Caliper 1.1.
pub const V1P1: &str = "http://purl.imsglobal.org/ctx/caliper/v1p1";
/// The context IRI and `dataVersion` of Caliper 1.2.
pub const V1P2: &str = "http://purl.imsglobal.org/ctx/caliper/v1p2";

/// Which Caliper version an envelope declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaliperVersion {
    /// 1.1
    V1p1,
    /// 1.2
    V1p2,
}

impl CaliperVersion {
    /// The version's label in events (`1.1`, `1.2`).
    pub fn label(self) -> &'static str {
        match self {
            CaliperVersion::V1p1 => "1.1",
            CaliperVersion::V1p2 => "1.2",
        }
    }

    /// The version for a `dataVersion` or `@context` IRI. The 1.2 spec also
    /// writes its IRI with a trailing slash once; that form is accepted.
    pub fn from_iri(iri: &str) -> Option<CaliperVersion> {
        match iri.trim_end_matches('/') {
            V1P1 => Some(CaliperVersion::V1p1),
            V1P2 => Some(CaliperVersion::V1p2),
            _ => None,
        }
    }
}

const MEDIA: &[&str] = &[
    "Started",
    "Ended",
    "Paused",
    "Resumed",
    "Restarted",
    "ForwardedTo",
    "JumpedTo",
    "ChangedResolution",
    "ChangedSize",
    "ChangedSpeed",
    "ChangedVolume",
    "EnabledClosedCaptioning",
    "DisabledClosedCaptioning",
    "EnteredFullScreen",
    "ExitedFullScreen",
    "Muted",
    "Unmuted",
    "OpenedPopout",
    "ClosedPopout",
];
const RESOURCE_MANAGEMENT: &[&str] = &[
    "Archived",
    "Copied",
    "Created",
    "Deleted",
    "Described",
    "Downloaded",
    "Modified",
    "Printed",
    "Published",
    "Restored",
    "Retrieved",
    "Saved",
    "Unpublished",
    "Uploaded",
];

/// Event type → allowed actions in Caliper 1.2 (`Event` allows any action
/// of the vocabulary and is handled separately).
pub const EVENTS_V1P2: &[(&str, &[&str])] = &[
    (
        "AnnotationEvent",
        &["Bookmarked", "Highlighted", "Shared", "Tagged"],
    ),
    (
        "AssessmentEvent",
        &[
            "Started",
            "Paused",
            "Resumed",
            "Restarted",
            "Reset",
            "Submitted",
        ],
    ),
    ("AssessmentItemEvent", &["Started", "Skipped", "Completed"]),
    (
        "AssignableEvent",
        &[
            "Activated",
            "Deactivated",
            "Started",
            "Completed",
            "Submitted",
            "Reviewed",
        ],
    ),
    ("FeedbackEvent", &["Commented", "Ranked"]),
    ("ForumEvent", &["Subscribed", "Unsubscribed"]),
    ("GradeEvent", &["Graded"]),
    ("MediaEvent", MEDIA),
    (
        "MessageEvent",
        &["MarkedAsRead", "MarkedAsUnread", "Posted"],
    ),
    ("NavigationEvent", &["NavigatedTo"]),
    ("QuestionnaireEvent", &["Started", "Submitted"]),
    (
        "QuestionnaireItemEvent",
        &["Started", "Skipped", "Completed"],
    ),
    ("ResourceManagementEvent", RESOURCE_MANAGEMENT),
    ("SearchEvent", &["Searched"]),
    ("SessionEvent", &["LoggedIn", "LoggedOut", "TimedOut"]),
    ("SurveyEvent", &["OptedIn", "OptedOut"]),
    ("SurveyInvitationEvent", &["Accepted", "Declined", "Sent"]),
    ("ThreadEvent", &["MarkedAsRead", "MarkedAsUnread"]),
    ("ToolLaunchEvent", &["Launched", "Returned"]),
    ("ToolUseEvent", &["Used"]),
    ("ViewEvent", &["Viewed"]),
];

/// Event type → allowed actions in Caliper 1.1 (supported plus deprecated
/// actions, which the spec discourages but does not forbid; OutcomeEvent and
/// ReadingEvent are deprecated types that 1.1 senders still emit).
pub const EVENTS_V1P1: &[(&str, &[&str])] = &[
    (
        "AnnotationEvent",
        &[
            "Bookmarked",
            "Highlighted",
            "Shared",
            "Tagged",
            "Attached",
            "Classified",
            "Commented",
            "Described",
            "Disliked",
            "Identified",
            "Liked",
            "Linked",
            "Questioned",
            "Ranked",
            "Recommended",
            "Subscribed",
        ],
    ),
    (
        "AssessmentEvent",
        &[
            "Started",
            "Paused",
            "Resumed",
            "Restarted",
            "Reset",
            "Submitted",
        ],
    ),
    (
        "AssessmentItemEvent",
        &["Started", "Skipped", "Completed", "Reviewed", "Viewed"],
    ),
    (
        "AssignableEvent",
        &[
            "Activated",
            "Deactivated",
            "Started",
            "Completed",
            "Submitted",
            "Reviewed",
            "Abandoned",
            "Hid",
            "Showed",
        ],
    ),
    ("ForumEvent", &["Subscribed", "Unsubscribed"]),
    ("GradeEvent", &["Graded"]),
    ("MediaEvent", MEDIA),
    (
        "MessageEvent",
        &["MarkedAsRead", "MarkedAsUnread", "Posted"],
    ),
    ("NavigationEvent", &["NavigatedTo"]),
    ("SessionEvent", &["LoggedIn", "LoggedOut", "TimedOut"]),
    ("ThreadEvent", &["MarkedAsRead", "MarkedAsUnread"]),
    ("ToolUseEvent", &["Used"]),
    ("ViewEvent", &["Viewed"]),
    ("OutcomeEvent", &["Graded"]),
    ("ReadingEvent", &["NavigatedTo", "Searched", "Viewed"]),
];

/// The 80 actions of the Caliper 1.2 vocabulary.
pub const ACTIONS_V1P2: &[&str] = &[
    "Abandoned",
    "Accepted",
    "Activated",
    "Added",
    "Archived",
    "Attached",
    "Bookmarked",
    "ChangedResolution",
    "ChangedSize",
    "ChangedSpeed",
    "ChangedVolume",
    "Classified",
    "ClosedPopout",
    "Commented",
    "Completed",
    "Copied",
    "Created",
    "Deactivated",
    "Declined",
    "Deleted",
    "Described",
    "DisabledClosedCaptioning",
    "Disliked",
    "Downloaded",
    "EnabledClosedCaptioning",
    "Ended",
    "EnteredFullScreen",
    "ExitedFullScreen",
    "ForwardedTo",
    "Graded",
    "Hid",
    "Highlighted",
    "Identified",
    "JumpedTo",
    "Launched",
    "Liked",
    "Linked",
    "LoggedIn",
    "LoggedOut",
    "MarkedAsRead",
    "MarkedAsUnread",
    "Modified",
    "Muted",
    "NavigatedTo",
    "OpenedPopout",
    "OptedIn",
    "OptedOut",
    "Paused",
    "Posted",
    "Printed",
    "Published",
    "Questioned",
    "Ranked",
    "Recommended",
    "Removed",
    "Reset",
    "Restarted",
    "Restored",
    "Resumed",
    "Retrieved",
    "Returned",
    "Reviewed",
    "Rewound",
    "Saved",
    "Searched",
    "Sent",
    "Shared",
    "Showed",
    "Skipped",
    "Started",
    "Submitted",
    "Subscribed",
    "Tagged",
    "TimedOut",
    "Unmuted",
    "Unpublished",
    "Unsubscribed",
    "Uploaded",
    "Used",
    "Viewed",
];

/// Actions added in 1.2, not part of the 1.1 vocabulary.
pub const NEW_IN_V1P2: &[&str] = &[
    "Accepted",
    "Archived",
    "Copied",
    "Declined",
    "Downloaded",
    "Launched",
    "OptedIn",
    "OptedOut",
    "Printed",
    "Published",
    "Restored",
    "Returned",
    "Saved",
    "Sent",
    "Unpublished",
    "Uploaded",
];

/// Caliper 1.2 profiles → event types they allow. The spec's General profile
/// names only the generic `Event`; IMS's own examples pair it with
/// `NavigationEvent` as well, so that is accepted.
pub const PROFILES: &[(&str, &[&str])] = &[
    ("AnnotationProfile", &["AnnotationEvent"]),
    (
        "AssessmentProfile",
        &[
            "AssessmentEvent",
            "AssessmentItemEvent",
            "NavigationEvent",
            "ViewEvent",
        ],
    ),
    (
        "AssignableProfile",
        &["AssignableEvent", "NavigationEvent", "ViewEvent"],
    ),
    ("FeedbackProfile", &["FeedbackEvent"]),
    (
        "ForumProfile",
        &[
            "ForumEvent",
            "ThreadEvent",
            "MessageEvent",
            "NavigationEvent",
            "ViewEvent",
        ],
    ),
    ("GeneralProfile", &["Event", "NavigationEvent"]),
    ("GradingProfile", &["GradeEvent", "ViewEvent"]),
    (
        "MediaProfile",
        &["MediaEvent", "NavigationEvent", "ViewEvent"],
    ),
    ("ReadingProfile", &["NavigationEvent", "ViewEvent"]),
    ("ResourceManagementProfile", &["ResourceManagementEvent"]),
    ("SearchProfile", &["SearchEvent"]),
    ("SessionProfile", &["SessionEvent"]),
    (
        "SurveyProfile",
        &[
            "SurveyInvitationEvent",
            "SurveyEvent",
            "QuestionnaireEvent",
            "QuestionnaireItemEvent",
            "NavigationEvent",
            "ViewEvent",
        ],
    ),
    ("ToolLaunchProfile", &["ToolLaunchEvent"]),
    ("ToolUseProfile", &["ToolUseEvent"]),
];

/// Actions allowed for `event_type` in `version`, or `None` for an unknown type.
pub fn allowed_actions(version: CaliperVersion, event_type: &str) -> Option<Vec<&'static str>> {
    let (table, vocabulary): (&[(&str, &[&str])], Vec<&'static str>) = match version {
        CaliperVersion::V1p2 => (EVENTS_V1P2, ACTIONS_V1P2.to_vec()),
        CaliperVersion::V1p1 => (
            EVENTS_V1P1,
            ACTIONS_V1P2
                .iter()
                .copied()
                .filter(|a| !NEW_IN_V1P2.contains(a))
                .collect(),
        ),
    };
    if event_type == "Event" {
        return Some(vocabulary);
    }
    table
        .iter()
        .find(|(t, _)| *t == event_type)
        .map(|(_, a)| a.to_vec())
}

/// Event types the 1.2 `profile` allows, or `None` for an unknown profile.
pub fn profile_event_types(profile: &str) -> Option<&'static [&'static str]> {
    PROFILES
        .iter()
        .find(|(p, _)| *p == profile)
        .map(|(_, t)| *t)
}

/// lap's action for a Caliper action.
pub fn action_for(caliper_action: &str) -> Action {
    match caliper_action {
        "Started" | "Restarted" => Action::Started,
        "Completed" | "Ended" => Action::Completed,
        "Submitted" => Action::Submitted,
        "Graded" => Action::Graded,
        "Viewed" | "Retrieved" | "Downloaded" => Action::Viewed,
        "NavigatedTo" => Action::Navigated,
        "LoggedIn" => Action::LoggedIn,
        "LoggedOut" => Action::LoggedOut,
        "TimedOut" => Action::TimedOut,
        "Paused" => Action::Paused,
        "Resumed" => Action::Resumed,
        "Reset" => Action::Reset,
        "Skipped" => Action::Skipped,
        "Launched" => Action::Launched,
        "Returned" => Action::Terminated,
        "Commented" | "Posted" => Action::Commented,
        "Shared" => Action::Shared,
        "Searched" => Action::Searched,
        "Bookmarked" => Action::Bookmarked,
        "Created" | "Uploaded" | "Copied" => Action::Created,
        "Modified" | "Saved" | "Described" => Action::Modified,
        "Deleted" | "Archived" => Action::Deleted,
        "Used" | "ForwardedTo" | "JumpedTo" | "Highlighted" | "Tagged" => Action::Interacted,
        "Abandoned" => Action::Abandoned,
        _ => Action::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_consistent() {
        for (t, actions) in EVENTS_V1P2 {
            for a in *actions {
                assert!(
                    ACTIONS_V1P2.contains(a),
                    "{t}: {a} not in the 1.2 vocabulary"
                );
            }
        }
        assert_eq!(ACTIONS_V1P2.len(), 80);
        assert_eq!(
            allowed_actions(CaliperVersion::V1p1, "Event")
                .unwrap()
                .len(),
            64
        );
        for (_, types) in PROFILES {
            for t in *types {
                assert!(
                    *t == "Event" || EVENTS_V1P2.iter().any(|(e, _)| e == t),
                    "{t}"
                );
            }
        }
    }

    #[test]
    fn actions_per_type() {
        let v = CaliperVersion::V1p2;
        assert!(
            allowed_actions(v, "AssessmentEvent")
                .unwrap()
                .contains(&"Submitted")
        );
        assert!(
            !allowed_actions(v, "AssessmentEvent")
                .unwrap()
                .contains(&"Graded")
        );
        assert!(allowed_actions(v, "QuestionnaireItemEvent").is_some());
        assert!(allowed_actions(CaliperVersion::V1p1, "QuestionnaireItemEvent").is_none());
        assert!(allowed_actions(v, "ReadingEvent").is_none());
    }
}
