//! The entity types each event type allows, case by case: subtypes stand
//! for their supertypes, an IRI has no type to check, and some actions and
//! the Survey profile narrow what is allowed.

use serde_json::{Value, json};

use super::cases::{V12, app, entity, event, person};
use crate::{Case, invalid, valid, with};

/// Each event type constrains the entity types of its properties; subtypes
/// stand for their supertypes; an IRI has no type to check.
pub fn entity_types(v: &'static str) -> Vec<Case> {
    let ctx = v;
    let nav = |object: Value| event(ctx, "NavigationEvent", "NavigatedTo", object);
    let page = entity("docs/1/pages/2", "WebPage");
    let attempt = entity("attempts/1", "Attempt");
    let mut cases = vec![
        valid(
            "types: NavigationEvent to a WebPage from a WebPage",
            v,
            with(nav(page.clone()), "/referrer", page.clone()),
        ),
        valid(
            "types: NavigationEvent to a VideoObject (a subtype)",
            v,
            nav(entity("videos/1", "VideoObject")),
        ),
        valid(
            "types: NavigationEvent to a SoftwareApplication",
            v,
            nav(app()),
        ),
        valid(
            "types: NavigationEvent given by IRIs",
            v,
            with(
                nav(json!("https://example.edu/users/9")),
                "/actor",
                json!("https://example.edu/users/554433"),
            ),
        ),
        valid(
            "types: a CourseSection as group",
            v,
            with(
                nav(page.clone()),
                "/group",
                entity("terms/1/sections/1", "CourseSection"),
            ),
        ),
        valid(
            "types: an anonymous Group as group",
            v,
            with(nav(page.clone()), "/group", entity("groups/4", "Group")),
        ),
        valid(
            "types: a GradeEvent by software",
            v,
            with(
                with(
                    event(ctx, "GradeEvent", "Graded", attempt.clone()),
                    "/actor",
                    app(),
                ),
                "/generated",
                entity("scores/1", "Score"),
            ),
        ),
        invalid(
            "types: NavigationEvent to a Person",
            v,
            nav(entity("users/9", "Person")),
            "caliper.entity.type",
            "$.data[0].object.type",
        ),
        invalid(
            "types: NavigationEvent from a Person",
            v,
            with(nav(page.clone()), "/referrer", entity("users/9", "Person")),
            "caliper.entity.type",
            "$.data[0].referrer.type",
        ),
        invalid(
            "types: NavigationEvent targeting a SoftwareApplication",
            v,
            with(nav(page.clone()), "/target", app()),
            "caliper.entity.type",
            "$.data[0].target.type",
        ),
        invalid(
            "types: NavigationEvent by software",
            v,
            with(nav(page.clone()), "/actor", app()),
            "caliper.actor.type",
            "$.data[0].actor.type",
        ),
        invalid(
            "types: ViewEvent of a Person",
            v,
            event(ctx, "ViewEvent", "Viewed", entity("users/9", "Person")),
            "caliper.entity.type",
            "$.data[0].object.type",
        ),
        invalid(
            "types: AssessmentEvent of a Document",
            v,
            event(
                ctx,
                "AssessmentEvent",
                "Started",
                entity("docs/1", "Document"),
            ),
            "caliper.entity.type",
            "$.data[0].object.type",
        ),
        invalid(
            "types: AssessmentEvent generating a Score",
            v,
            with(
                event(
                    ctx,
                    "AssessmentEvent",
                    "Submitted",
                    entity("assess/1", "Assessment"),
                ),
                "/generated",
                entity("scores/1", "Score"),
            ),
            "caliper.entity.type",
            "$.data[0].generated.type",
        ),
        invalid(
            "types: AssessmentItemEvent referred by an Assessment",
            v,
            with(
                event(
                    ctx,
                    "AssessmentItemEvent",
                    "Started",
                    entity("assess/1/items/2", "AssessmentItem"),
                ),
                "/referrer",
                entity("assess/1", "Assessment"),
            ),
            "caliper.entity.type",
            "$.data[0].referrer.type",
        ),
        invalid(
            "types: AnnotationEvent generating a Document",
            v,
            with(
                event(
                    ctx,
                    "AnnotationEvent",
                    "Highlighted",
                    entity("docs/1", "Document"),
                ),
                "/generated",
                entity("docs/2", "Document"),
            ),
            "caliper.entity.type",
            "$.data[0].generated.type",
        ),
        invalid(
            "types: AssignableEvent of a Page",
            v,
            event(
                ctx,
                "AssignableEvent",
                "Activated",
                entity("docs/1/pages/2", "Page"),
            ),
            "caliper.entity.type",
            "$.data[0].object.type",
        ),
        invalid(
            "types: MediaEvent of a Document",
            v,
            event(ctx, "MediaEvent", "Paused", entity("docs/1", "Document")),
            "caliper.entity.type",
            "$.data[0].object.type",
        ),
        invalid(
            "types: MediaEvent at a Frame",
            v,
            with(
                event(
                    ctx,
                    "MediaEvent",
                    "Paused",
                    entity("videos/1", "VideoObject"),
                ),
                "/target",
                entity("videos/1/frames/2", "Frame"),
            ),
            "caliper.entity.type",
            "$.data[0].target.type",
        ),
        invalid(
            "types: ForumEvent of a Thread",
            v,
            event(
                ctx,
                "ForumEvent",
                "Subscribed",
                entity("forums/1/topics/1", "Thread"),
            ),
            "caliper.entity.type",
            "$.data[0].object.type",
        ),
        invalid(
            "types: ThreadEvent of a Forum",
            v,
            event(
                ctx,
                "ThreadEvent",
                "MarkedAsRead",
                entity("forums/1", "Forum"),
            ),
            "caliper.entity.type",
            "$.data[0].object.type",
        ),
        invalid(
            "types: MessageEvent of a Thread",
            v,
            event(
                ctx,
                "MessageEvent",
                "Posted",
                entity("forums/1/topics/1", "Thread"),
            ),
            "caliper.entity.type",
            "$.data[0].object.type",
        ),
        invalid(
            "types: GradeEvent of an Assessment",
            v,
            event(
                ctx,
                "GradeEvent",
                "Graded",
                entity("assess/1", "Assessment"),
            ),
            "caliper.entity.type",
            "$.data[0].object.type",
        ),
        invalid(
            "types: GradeEvent generating an Attempt",
            v,
            with(
                event(ctx, "GradeEvent", "Graded", attempt.clone()),
                "/generated",
                attempt.clone(),
            ),
            "caliper.entity.type",
            "$.data[0].generated.type",
        ),
        invalid(
            "types: ToolUseEvent of a Document",
            v,
            event(ctx, "ToolUseEvent", "Used", entity("docs/1", "Document")),
            "caliper.entity.type",
            "$.data[0].object.type",
        ),
        invalid(
            "types: SessionEvent LoggedIn to a Session",
            v,
            event(
                ctx,
                "SessionEvent",
                "LoggedIn",
                entity("sessions/1", "Session"),
            ),
            "caliper.entity.type",
            "$.data[0].object.type",
        ),
        invalid(
            "types: SessionEvent TimedOut by a Person",
            v,
            event(
                ctx,
                "SessionEvent",
                "TimedOut",
                entity("sessions/1", "Session"),
            ),
            "caliper.actor.type",
            "$.data[0].actor.type",
        ),
        invalid(
            "types: an edApp that is a Person",
            v,
            with(nav(page.clone()), "/edApp", person()),
            "caliper.entity.type",
            "$.data[0].edApp.type",
        ),
        invalid(
            "types: a group that is a Person",
            v,
            with(nav(page.clone()), "/group", person()),
            "caliper.entity.type",
            "$.data[0].group.type",
        ),
        invalid(
            "types: a membership that is a Session",
            v,
            with(
                nav(page.clone()),
                "/membership",
                entity("sessions/1", "Session"),
            ),
            "caliper.entity.type",
            "$.data[0].membership.type",
        ),
        invalid(
            "types: a session that is a Membership",
            v,
            with(
                nav(page.clone()),
                "/session",
                entity("rosters/1", "Membership"),
            ),
            "caliper.entity.type",
            "$.data[0].session.type",
        ),
        valid(
            "types: SessionEvent TimedOut by software",
            v,
            with(
                event(
                    ctx,
                    "SessionEvent",
                    "TimedOut",
                    entity("sessions/1", "Session"),
                ),
                "/actor",
                app(),
            ),
        ),
    ];
    if v == V12 {
        let survey_nav = |object: Value| with(nav(object), "/profile", json!("SurveyProfile"));
        cases.extend([
            valid(
                "types: Survey profile NavigationEvent to a QuestionnaireItem",
                v,
                survey_nav(entity("surveys/1/items/1", "QuestionnaireItem")),
            ),
            invalid(
                "types: Survey profile NavigationEvent to a WebPage",
                v,
                survey_nav(page.clone()),
                "caliper.entity.type",
                "$.data[0].object.type",
            ),
            invalid(
                "types: FeedbackEvent Ranked generating a Comment",
                v,
                with(
                    event(ctx, "FeedbackEvent", "Ranked", entity("docs/1", "Document")),
                    "/generated",
                    entity("comments/1", "Comment"),
                ),
                "caliper.entity.type",
                "$.data[0].generated.type",
            ),
            invalid(
                "types: ToolLaunchEvent targeting a WebPage",
                v,
                with(
                    with(
                        event(ctx, "ToolLaunchEvent", "Returned", app()),
                        "/target",
                        page,
                    ),
                    "/actor",
                    person(),
                ),
                "caliper.entity.type",
                "$.data[0].target.type",
            ),
            invalid(
                "types: a federatedSession that is a plain Session",
                v,
                with(
                    event(ctx, "ViewEvent", "Viewed", entity("docs/1", "Document")),
                    "/federatedSession",
                    entity("sessions/1", "Session"),
                ),
                "caliper.entity.type",
                "$.data[0].federatedSession.type",
            ),
        ]);
    }
    cases
}
