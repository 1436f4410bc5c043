//! Mapping verb IRIs to lap's closed action vocabulary.
//!
//! Covers the ADL verb vocabulary, cmi5, the xAPI video profile, common
//! TinCan/ActivityStreams verbs and lap's attendance profile. A verb not in
//! the table maps to [`Action::Other`] and keeps its IRI in `verb`: unknown
//! verbs are never a reason to reject a statement.

use lap_schemas::Action;

/// Base IRI of lap's documented attendance verbs (`absent`, `tardy`; ADL's
/// `attended` marks presence).
pub const LAP_VERBS: &str = "https://lap-analytics.org/xapi/verbs/";

/// (verb IRI, action) pairs; docs/sending-data.md lists them.
pub const TABLE: &[(&str, Action)] = &[
    ("http://adlnet.gov/expapi/verbs/answered", Action::Answered),
    (
        "http://adlnet.gov/expapi/verbs/attempted",
        Action::Attempted,
    ),
    ("http://adlnet.gov/expapi/verbs/attended", Action::Attended),
    (
        "http://adlnet.gov/expapi/verbs/commented",
        Action::Commented,
    ),
    (
        "http://adlnet.gov/expapi/verbs/completed",
        Action::Completed,
    ),
    ("http://adlnet.gov/expapi/verbs/exited", Action::Terminated),
    (
        "http://adlnet.gov/expapi/verbs/experienced",
        Action::Experienced,
    ),
    ("http://adlnet.gov/expapi/verbs/failed", Action::Failed),
    (
        "http://adlnet.gov/expapi/verbs/initialized",
        Action::Initialized,
    ),
    (
        "http://adlnet.gov/expapi/verbs/interacted",
        Action::Interacted,
    ),
    ("http://adlnet.gov/expapi/verbs/launched", Action::Launched),
    ("http://adlnet.gov/expapi/verbs/mastered", Action::Passed),
    ("http://adlnet.gov/expapi/verbs/passed", Action::Passed),
    (
        "http://adlnet.gov/expapi/verbs/progressed",
        Action::Progressed,
    ),
    (
        "http://adlnet.gov/expapi/verbs/registered",
        Action::Registered,
    ),
    ("http://adlnet.gov/expapi/verbs/responded", Action::Answered),
    ("http://adlnet.gov/expapi/verbs/resumed", Action::Resumed),
    ("http://adlnet.gov/expapi/verbs/scored", Action::Scored),
    ("http://adlnet.gov/expapi/verbs/shared", Action::Shared),
    ("http://adlnet.gov/expapi/verbs/suspended", Action::Paused),
    (
        "http://adlnet.gov/expapi/verbs/terminated",
        Action::Terminated,
    ),
    ("http://adlnet.gov/expapi/verbs/voided", Action::Voided),
    ("http://adlnet.gov/expapi/verbs/logged-in", Action::LoggedIn),
    (
        "http://adlnet.gov/expapi/verbs/logged-out",
        Action::LoggedOut,
    ),
    (
        "https://w3id.org/xapi/adl/verbs/logged-in",
        Action::LoggedIn,
    ),
    (
        "https://w3id.org/xapi/adl/verbs/logged-out",
        Action::LoggedOut,
    ),
    (
        "https://w3id.org/xapi/adl/verbs/abandoned",
        Action::Abandoned,
    ),
    ("https://w3id.org/xapi/adl/verbs/waived", Action::Waived),
    (
        "https://w3id.org/xapi/adl/verbs/satisfied",
        Action::Satisfied,
    ),
    ("https://w3id.org/xapi/video/verbs/played", Action::Played),
    ("https://w3id.org/xapi/video/verbs/paused", Action::Paused),
    ("https://w3id.org/xapi/video/verbs/seeked", Action::Seeked),
    ("http://id.tincanapi.com/verb/viewed", Action::Viewed),
    ("http://id.tincanapi.com/verb/skipped", Action::Skipped),
    (
        "http://id.tincanapi.com/verb/bookmarked",
        Action::Bookmarked,
    ),
    ("http://id.tincanapi.com/verb/searched", Action::Searched),
    (
        "http://activitystrea.ms/schema/1.0/submit",
        Action::Submitted,
    ),
    ("http://activitystrea.ms/schema/1.0/access", Action::Viewed),
    ("http://activitystrea.ms/schema/1.0/create", Action::Created),
    (
        "http://activitystrea.ms/schema/1.0/update",
        Action::Modified,
    ),
    ("http://activitystrea.ms/schema/1.0/delete", Action::Deleted),
    (
        "http://activitystrea.ms/schema/1.0/search",
        Action::Searched,
    ),
    (
        "https://lap-analytics.org/xapi/verbs/absent",
        Action::Absent,
    ),
    ("https://lap-analytics.org/xapi/verbs/tardy", Action::Tardy),
    (
        "https://lap-analytics.org/xapi/verbs/submitted",
        Action::Submitted,
    ),
    (
        "https://lap-analytics.org/xapi/verbs/graded",
        Action::Graded,
    ),
    (
        "https://lap-analytics.org/xapi/verbs/navigated",
        Action::Navigated,
    ),
];

/// The action for a verb IRI ([`Action::Other`] when unknown).
pub fn action_for(verb: &str) -> Action {
    TABLE
        .iter()
        .find(|(iri, _)| *iri == verb)
        .map_or(Action::Other, |(_, a)| *a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_verbs() {
        assert_eq!(
            action_for("http://adlnet.gov/expapi/verbs/completed"),
            Action::Completed
        );
        assert_eq!(action_for(&format!("{LAP_VERBS}absent")), Action::Absent);
        assert_eq!(
            action_for("https://example.org/verbs/juggled"),
            Action::Other
        );
    }

    #[test]
    fn no_verb_is_listed_twice() {
        let mut iris: Vec<&str> = TABLE.iter().map(|(i, _)| *i).collect();
        iris.sort();
        let n = iris.len();
        iris.dedup();
        assert_eq!(iris.len(), n);
    }
}
