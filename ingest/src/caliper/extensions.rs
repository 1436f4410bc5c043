//! Caliper 1.1 profile extensions: IMS published the Feedback, Resource
//! Management, Search, Survey, Tool Launch and Tool Use profiles for 1.1 as
//! extensions before 1.2 took them in, each with a JSON-LD context of its
//! own. An event of 1.1 whose `@context` is one of them may be of the event
//! types its extension defines, with the actions and entity rules those
//! types have in 1.2 (where they were adopted unchanged), and it is mapped
//! like the 1.2 event under the same profile.

use crate::json::Json;

/// One 1.1 profile extension.
#[derive(Debug, PartialEq, Eq)]
pub struct Extension {
    /// Its JSON-LD context IRI.
    pub context: &'static str,
    /// The 1.2 profile it became.
    pub profile: &'static str,
    /// The event types it defines beyond 1.1's own.
    pub event_types: &'static [&'static str],
}

/// The 1.1 profile extensions.
pub const EXTENSIONS: &[Extension] = &[
    Extension {
        context: "http://purl.imsglobal.org/ctx/caliper/v1p1/FeedbackProfile-extension",
        profile: "FeedbackProfile",
        event_types: &["FeedbackEvent"],
    },
    Extension {
        context: "http://purl.imsglobal.org/ctx/caliper/v1p1/ResourceManagementProfile-extension",
        profile: "ResourceManagementProfile",
        event_types: &["ResourceManagementEvent"],
    },
    Extension {
        context: "http://purl.imsglobal.org/ctx/caliper/v1p1/SearchProfile-extension",
        profile: "SearchProfile",
        event_types: &["SearchEvent"],
    },
    Extension {
        context: "http://purl.imsglobal.org/ctx/caliper/v1p1/SurveyProfile-extension",
        profile: "SurveyProfile",
        event_types: &[
            "SurveyInvitationEvent",
            "SurveyEvent",
            "QuestionnaireEvent",
            "QuestionnaireItemEvent",
        ],
    },
    Extension {
        context: "http://purl.imsglobal.org/ctx/caliper/v1p1/ToolLaunchProfile-extension",
        profile: "ToolLaunchProfile",
        event_types: &["ToolLaunchEvent"],
    },
    Extension {
        context: "http://purl.imsglobal.org/ctx/caliper/v1p1/ToolUseProfile-extension",
        profile: "ToolUseProfile",
        event_types: &[],
    },
];

/// The extension an event's `@context` names: the context itself, or one
/// entry of a context array.
pub fn of_context(context: &Json<'_>) -> Option<&'static Extension> {
    let named = |s: &str| EXTENSIONS.iter().find(|e| e.context == s);
    match context {
        Json::Str(s) => named(s),
        Json::Array(items) => items.iter().filter_map(Json::as_str).find_map(named),
        _ => None,
    }
}

/// The extension that defines `event_type`, for the hint given when a 1.1
/// event of that type lacks its context.
pub fn defining(event_type: &str) -> Option<&'static Extension> {
    EXTENSIONS
        .iter()
        .find(|e| e.event_types.contains(&event_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_are_found_alone_or_in_an_array() {
        let ctx =
            Json::Str("http://purl.imsglobal.org/ctx/caliper/v1p1/ToolLaunchProfile-extension");
        assert_eq!(
            of_context(&ctx).map(|e| e.profile),
            Some("ToolLaunchProfile")
        );
        let items = [
            Json::Str("http://purl.imsglobal.org/ctx/caliper/v1p1"),
            Json::Str("http://purl.imsglobal.org/ctx/caliper/v1p1/SearchProfile-extension"),
        ];
        assert_eq!(
            of_context(&Json::Array(&items)).map(|e| e.profile),
            Some("SearchProfile")
        );
        assert_eq!(
            of_context(&Json::Str("http://purl.imsglobal.org/ctx/caliper/v1p1")),
            None
        );
        assert_eq!(
            defining("SurveyEvent").map(|e| e.profile),
            Some("SurveyProfile")
        );
        assert_eq!(defining("ViewEvent"), None);
    }
}
