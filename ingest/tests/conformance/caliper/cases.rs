//! Caliper cases, one list per rule, written from the Caliper 1.1 and 1.2
//! specifications (the event sections, the profiles) and the 1.1 profile
//! extensions. The entity-type cases are in [`super::types`].

use serde_json::{Value, json};

use super::types::entity_types;
use crate::{Case, invalid, valid, with, without};

/// `dataVersion` and `@context` of Caliper 1.1.
pub const V11: &str = "http://purl.imsglobal.org/ctx/caliper/v1p1";
/// `dataVersion` and `@context` of Caliper 1.2.
pub const V12: &str = "http://purl.imsglobal.org/ctx/caliper/v1p2";
const FEEDBACK: &str = "http://purl.imsglobal.org/ctx/caliper/v1p1/FeedbackProfile-extension";
const RESOURCE_MANAGEMENT: &str =
    "http://purl.imsglobal.org/ctx/caliper/v1p1/ResourceManagementProfile-extension";
const SEARCH: &str = "http://purl.imsglobal.org/ctx/caliper/v1p1/SearchProfile-extension";
const SURVEY: &str = "http://purl.imsglobal.org/ctx/caliper/v1p1/SurveyProfile-extension";
const TOOL_LAUNCH: &str = "http://purl.imsglobal.org/ctx/caliper/v1p1/ToolLaunchProfile-extension";
const TOOL_USE: &str = "http://purl.imsglobal.org/ctx/caliper/v1p1/ToolUseProfile-extension";

pub fn entity(path: &str, entity_type: &str) -> Value {
    json!({"id": format!("https://example.edu/{path}"), "type": entity_type})
}

pub fn person() -> Value {
    entity("users/554433", "Person")
}

pub fn app() -> Value {
    entity("", "SoftwareApplication")
}

/// An event of `event_type` under `context`: `actor` did `action` to `object`.
pub fn event(context: &str, event_type: &str, action: &str, object: Value) -> Value {
    json!({"@context": context, "id": "urn:uuid:3a648e68-f00d-4c08-aa59-8738e1884f2c", "type": event_type,
           "actor": person(), "action": action, "object": object, "eventTime": "2024-03-01T08:15:00.000Z",
           "edApp": app()})
}

fn lti_session() -> Value {
    entity(
        "lti/sessions/b533eb02823f31024e6b7f53436c42fb99b31241",
        "LtiSession",
    )
}

/// Properties some actions require (1.2: ToolLaunchEvent, ResourceManagementEvent).
fn required_by_action(context: &str, v: &'static str) -> Vec<Case> {
    let launch = |action: &str| {
        with(
            event(context, "ToolLaunchEvent", action, app()),
            "/federatedSession",
            lti_session(),
        )
    };
    let copy = event(
        context,
        "ResourceManagementEvent",
        "Copied",
        entity("docs/1", "Document"),
    );
    vec![
        valid(
            "required: ToolLaunchEvent Launched with its federatedSession",
            v,
            launch("Launched"),
        ),
        valid(
            "required: ToolLaunchEvent Returned without one",
            v,
            without(launch("Returned"), "/federatedSession"),
        ),
        valid(
            "required: ResourceManagementEvent Copied with the copy",
            v,
            with(copy.clone(), "/generated", entity("docs/2", "Document")),
        ),
        invalid(
            "required: ToolLaunchEvent Launched without federatedSession",
            v,
            without(launch("Launched"), "/federatedSession"),
            "caliper.event.property_required",
            "$.data[0].federatedSession",
        ),
        invalid(
            "required: ResourceManagementEvent Copied without generated",
            v,
            copy,
            "caliper.event.property_required",
            "$.data[0].generated",
        ),
    ]
}

/// The 1.1 profile extensions: their event types under their contexts,
/// with the actions and rules of the 1.2 profile each became.
fn extensions() -> Vec<Case> {
    let search = with(
        event(SEARCH, "SearchEvent", "Searched", app()),
        "/generated",
        json!({"id": "https://example.edu/search/1", "type": "SearchResponse", "searchResultsItemCount": 3}),
    );
    let mut cases = vec![
        valid(
            "1.1 extension: Feedback Ranked",
            V11,
            with(
                event(
                    FEEDBACK,
                    "FeedbackEvent",
                    "Ranked",
                    entity("docs/1", "Document"),
                ),
                "/generated",
                entity("ratings/1", "Rating"),
            ),
        ),
        valid(
            "1.1 extension: Resource Management Created",
            V11,
            event(
                RESOURCE_MANAGEMENT,
                "ResourceManagementEvent",
                "Created",
                entity("docs/1", "Document"),
            ),
        ),
        valid("1.1 extension: Search Searched", V11, search.clone()),
        valid(
            "1.1 extension: Survey Invitation Sent",
            V11,
            event(
                SURVEY,
                "SurveyInvitationEvent",
                "Sent",
                entity("surveys/1/invitations/1", "SurveyInvitation"),
            ),
        ),
        valid(
            "1.1 extension: Survey OptedIn",
            V11,
            event(
                SURVEY,
                "SurveyEvent",
                "OptedIn",
                entity("surveys/1", "Survey"),
            ),
        ),
        valid(
            "1.1 extension: Questionnaire Started",
            V11,
            event(
                SURVEY,
                "QuestionnaireEvent",
                "Started",
                entity("surveys/1/q/1", "Questionnaire"),
            ),
        ),
        valid(
            "1.1 extension: Questionnaire Item Completed",
            V11,
            with(
                event(
                    SURVEY,
                    "QuestionnaireItemEvent",
                    "Completed",
                    entity("surveys/1/q/1/items/1", "QuestionnaireItem"),
                ),
                "/generated",
                json!({"id": "https://example.edu/responses/1", "type": "RatingScaleResponse", "selections": ["3"]}),
            ),
        ),
        valid(
            "1.1 extension: Tool Launch Launched",
            V11,
            with(
                event(TOOL_LAUNCH, "ToolLaunchEvent", "Launched", app()),
                "/federatedSession",
                lti_session(),
            ),
        ),
        valid(
            "1.1 extension: Tool Use with progress",
            V11,
            with(
                event(TOOL_USE, "ToolUseEvent", "Used", app()),
                "/generated",
                entity("measures/1", "AggregateMeasureCollection"),
            ),
        ),
        valid(
            "1.1 extension: context as an array",
            V11,
            with(search.clone(), "/@context", json!([V11, SEARCH])),
        ),
        invalid(
            "1.1 extension: Tool Launch under the plain 1.1 context",
            V11,
            with(
                event(V11, "ToolLaunchEvent", "Launched", app()),
                "/federatedSession",
                lti_session(),
            ),
            "caliper.event.type",
            "$.data[0].type",
        ),
        invalid(
            "1.1 extension: Search event under the Feedback extension",
            V11,
            with(search, "/@context", json!(FEEDBACK)),
            "caliper.event.type",
            "$.data[0].type",
        ),
        invalid(
            "1.1 extension: Feedback with an action it does not have",
            V11,
            event(
                FEEDBACK,
                "FeedbackEvent",
                "Liked",
                entity("docs/1", "Document"),
            ),
            "caliper.action.not_allowed",
            "$.data[0].action",
        ),
        invalid(
            "1.1 extension: Survey NavigationEvent to a Document",
            V11,
            event(
                SURVEY,
                "NavigationEvent",
                "NavigatedTo",
                entity("docs/1", "Document"),
            ),
            "caliper.entity.type",
            "$.data[0].object.type",
        ),
        invalid(
            "1.1 extension: Questionnaire event about a Survey",
            V11,
            event(
                SURVEY,
                "QuestionnaireEvent",
                "Started",
                entity("surveys/1", "Survey"),
            ),
            "caliper.entity.type",
            "$.data[0].object.type",
        ),
    ];
    cases.extend(
        required_by_action(TOOL_LAUNCH, V11)
            .into_iter()
            .filter(|c| c.name.contains("ToolLaunch")),
    );
    cases.extend(
        required_by_action(RESOURCE_MANAGEMENT, V11)
            .into_iter()
            .filter(|c| c.name.contains("ResourceManagement")),
    );
    cases
}

/// Every Caliper case.
pub fn cases() -> Vec<Case> {
    let mut all = entity_types(V11);
    all.extend(entity_types(V12));
    all.extend(required_by_action(V12, V12));
    all.extend(extensions());
    all.into_iter()
        .map(|mut c| {
            let label = if c.version == V11 { "1.1" } else { "1.2" };
            c.name = format!("{} (Caliper {label})", c.name);
            c
        })
        .collect()
}
