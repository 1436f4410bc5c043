//! xAPI cases, one list per rule, written from xAPI 1.0.3 (Data 2.4) and
//! 2.0 (IEEE 9274.1.1).

use serde_json::{Value, json};

use crate::{Case, invalid, valid, with, without};

/// The versions every rule is checked under: the rules are the same in both.
pub const VERSIONS: [&str; 2] = ["1.0.3", "2.0.0"];

fn statement() -> Value {
    json!({
        "actor": {"objectType": "Agent", "name": "Ann", "mbox": "mailto:ann@example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/answered", "display": {"en-US": "answered"}},
        "object": {"id": "https://lms.example.org/quizzes/7/questions/3",
                   "definition": {"type": "http://adlnet.gov/expapi/activities/cmi.interaction"}},
        "timestamp": "2024-03-01T08:15:00.000Z"
    })
}

fn agent(name: &str) -> Value {
    json!({"objectType": "Agent", "mbox": format!("mailto:{name}@example.org")})
}

fn statement_ref() -> Value {
    json!({"objectType": "StatementRef", "id": "8f87ccde-bb56-4c2e-ab83-44982ef22df0"})
}

/// `objectType` of an Agent or Group is the string naming the type, wherever
/// one appears (Data 2.4.2.1, 2.4.2.2).
fn object_types(v: &'static str) -> Vec<Case> {
    let sub = json!({"objectType": "SubStatement", "actor": {"objectType": 1, "mbox": "mailto:bo@example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/attended"}, "object": {"id": "https://lms.example.org/meetings/4"}});
    let group = json!({"objectType": "Group", "name": "Team A",
        "member": [{"objectType": "Agent", "mbox": "mailto:bo@example.org"}, {"mbox": "mailto:cy@example.org"}]});
    vec![
        valid(
            "objectType: Agent without objectType",
            v,
            without(statement(), "/actor/objectType"),
        ),
        valid(
            "objectType: an anonymous Group as actor",
            v,
            with(statement(), "/actor", group.clone()),
        ),
        invalid(
            "objectType: a number on the actor",
            v,
            with(statement(), "/actor/objectType", json!(1)),
            "xapi.agent.object_type",
            "$.actor.objectType",
        ),
        invalid(
            "objectType: an object on the actor",
            v,
            with(statement(), "/actor/objectType", json!({"type": "Agent"})),
            "xapi.agent.object_type",
            "$.actor.objectType",
        ),
        invalid(
            "objectType: a number on the authority",
            v,
            with(
                statement(),
                "/authority",
                with(agent("lms"), "/objectType", json!(2)),
            ),
            "xapi.agent.object_type",
            "$.authority.objectType",
        ),
        invalid(
            "objectType: an object on the context instructor",
            v,
            with(
                statement(),
                "/context",
                json!({"instructor": with(agent("ida"), "/objectType", json!({}))}),
            ),
            "xapi.agent.object_type",
            "$.context.instructor.objectType",
        ),
        invalid(
            "objectType: a number on the context team",
            v,
            with(
                statement(),
                "/context",
                json!({"team": with(group.clone(), "/objectType", json!(3))}),
            ),
            "xapi.context.team",
            "$.context.team",
        ),
        invalid(
            "objectType: a number on a Group's member",
            v,
            with(
                statement(),
                "/actor",
                with(group.clone(), "/member/1/objectType", json!(4)),
            ),
            "xapi.agent.object_type",
            "$.actor.member[1].objectType",
        ),
        invalid(
            "objectType: a Group's member that says Person",
            v,
            with(
                statement(),
                "/actor",
                with(group, "/member/0/objectType", json!("Person")),
            ),
            "xapi.agent.object_type",
            "$.actor.member[0].objectType",
        ),
        invalid(
            "objectType: a number on a SubStatement's actor",
            v,
            with(statement(), "/object", sub),
            "xapi.agent.object_type",
            "$.object.actor.objectType",
        ),
    ]
}

fn interaction(definition: Value) -> Value {
    let mut d = json!({"type": "http://adlnet.gov/expapi/activities/cmi.interaction"});
    for (k, val) in definition.as_object().unwrap() {
        d[k] = val.clone();
    }
    with(statement(), "/object/definition", d)
}

/// An Activity Definition that describes an interaction names its
/// `interactionType`, and its component lists fit that type (Data 2.4.4.1).
fn interactions(v: &'static str) -> Vec<Case> {
    let choices = json!([{"id": "golf", "description": {"en-US": "Golf"}}, {"id": "tetris", "description": {"en-US": "Tetris"}}]);
    let scale = json!([{"id": "likert_0", "description": {"en-US": "Not at all"}}, {"id": "likert_1", "description": {"en-US": "Very"}}]);
    vec![
        valid(
            "interaction: choice with choices and a pattern",
            v,
            interaction(
                json!({"interactionType": "choice", "correctResponsesPattern": ["golf[,]tetris"], "choices": choices}),
            ),
        ),
        valid(
            "interaction: sequencing with choices",
            v,
            interaction(json!({"interactionType": "sequencing", "choices": choices})),
        ),
        valid(
            "interaction: likert with a scale",
            v,
            interaction(json!({"interactionType": "likert", "scale": scale})),
        ),
        valid(
            "interaction: matching with source and target",
            v,
            interaction(
                json!({"interactionType": "matching", "correctResponsesPattern": ["ben[.]3"],
                "source": [{"id": "ben"}], "target": [{"id": "3"}]}),
            ),
        ),
        valid(
            "interaction: performance with steps",
            v,
            interaction(
                json!({"interactionType": "performance", "steps": [{"id": "pong"}, {"id": "dg"}]}),
            ),
        ),
        valid(
            "interaction: true-false with only a pattern",
            v,
            interaction(
                json!({"interactionType": "true-false", "correctResponsesPattern": ["true"]}),
            ),
        ),
        invalid(
            "interaction: choices without interactionType",
            v,
            interaction(json!({"choices": choices})),
            "xapi.definition.interaction_type_missing",
            "$.object.definition.choices",
        ),
        invalid(
            "interaction: a pattern without interactionType",
            v,
            interaction(json!({"correctResponsesPattern": ["golf"]})),
            "xapi.definition.interaction_type_missing",
            "$.object.definition.correctResponsesPattern",
        ),
        invalid(
            "interaction: steps without interactionType",
            v,
            interaction(json!({"steps": [{"id": "pong"}]})),
            "xapi.definition.interaction_type_missing",
            "$.object.definition.steps",
        ),
        invalid(
            "interaction: a likert with choices",
            v,
            interaction(json!({"interactionType": "likert", "choices": choices})),
            "xapi.definition.components",
            "$.object.definition.choices",
        ),
        invalid(
            "interaction: a true-false with a scale",
            v,
            interaction(json!({"interactionType": "true-false", "scale": scale})),
            "xapi.definition.components",
            "$.object.definition.scale",
        ),
        invalid(
            "interaction: a choice with a target",
            v,
            interaction(
                json!({"interactionType": "choice", "choices": choices, "target": [{"id": "3"}]}),
            ),
            "xapi.definition.components",
            "$.object.definition.target",
        ),
        invalid(
            "interaction: two components with one id",
            v,
            interaction(
                json!({"interactionType": "choice", "choices": [{"id": "golf"}, {"id": "golf"}]}),
            ),
            "xapi.definition.component_id",
            "$.object.definition.choices[1].id",
        ),
    ]
}

/// `context.revision` and `context.platform` only when the statement's (or
/// SubStatement's) object is an Activity (Data 2.4.6).
fn revision_and_platform(v: &'static str) -> Vec<Case> {
    let ctx = json!({"revision": "2", "platform": "Example LMS"});
    let sub = |object: Value, context: Option<Value>| {
        let mut s = json!({"objectType": "SubStatement", "actor": agent("bo"),
            "verb": {"id": "http://adlnet.gov/expapi/verbs/attended"}, "object": object});
        if let Some(c) = context {
            s["context"] = c;
        }
        s
    };
    let activity = json!({"id": "https://lms.example.org/meetings/4"});
    vec![
        valid(
            "revision/platform: with an Activity",
            v,
            with(statement(), "/context", ctx.clone()),
        ),
        valid(
            "revision/platform: inside a SubStatement about an Activity",
            v,
            with(
                statement(),
                "/object",
                sub(activity.clone(), Some(ctx.clone())),
            ),
        ),
        invalid(
            "revision/platform: platform with a StatementRef",
            v,
            with(
                with(statement(), "/object", statement_ref()),
                "/context",
                json!({"platform": "Example LMS"}),
            ),
            "xapi.context.revision_platform",
            "$.context.platform",
        ),
        invalid(
            "revision/platform: revision with a SubStatement",
            v,
            with(
                with(statement(), "/object", sub(activity, None)),
                "/context",
                json!({"revision": "2"}),
            ),
            "xapi.context.revision_platform",
            "$.context.revision",
        ),
        invalid(
            "revision/platform: revision with an Agent",
            v,
            with(
                with(statement(), "/object", agent("bo")),
                "/context",
                json!({"revision": "2"}),
            ),
            "xapi.context.revision_platform",
            "$.context.revision",
        ),
        invalid(
            "revision/platform: in a SubStatement about a StatementRef",
            v,
            with(
                statement(),
                "/object",
                sub(statement_ref(), Some(json!({"platform": "Example LMS"}))),
            ),
            "xapi.context.revision_platform",
            "$.object.context.platform",
        ),
    ]
}

/// `authority` is an Agent, or the anonymous two-Agent Group of an OAuth
/// consumer and its user (Data 2.4.9).
fn authority(v: &'static str) -> Vec<Case> {
    let pair = json!({"objectType": "Group", "member": [
        {"account": {"homePage": "https://lms.example.org", "name": "oauth-consumer-7"}}, agent("ann")]});
    vec![
        valid(
            "authority: an Agent",
            v,
            with(statement(), "/authority", agent("lms")),
        ),
        valid(
            "authority: an OAuth consumer pair",
            v,
            with(statement(), "/authority", pair.clone()),
        ),
        invalid(
            "authority: an identified Group",
            v,
            with(
                statement(),
                "/authority",
                with(pair.clone(), "/mbox", json!("mailto:staff@example.org")),
            ),
            "xapi.authority",
            "$.authority.mbox",
        ),
        invalid(
            "authority: a Group of one",
            v,
            with(
                statement(),
                "/authority",
                with(pair.clone(), "/member", json!([agent("ann")])),
            ),
            "xapi.authority",
            "$.authority.member",
        ),
        invalid(
            "authority: a Group of three",
            v,
            with(
                statement(),
                "/authority",
                with(
                    pair,
                    "/member",
                    json!([agent("ann"), agent("bo"), agent("cy")]),
                ),
            ),
            "xapi.authority",
            "$.authority.member",
        ),
    ]
}

/// Durations are ISO 8601 durations: the week form alone, a fraction only
/// in the last component, at least one component after `T` (Data 2.4.5).
fn durations(v: &'static str) -> Vec<Case> {
    let d = |s: &str| with(statement(), "/result", json!({"duration": s}));
    let mut cases: Vec<Case> = ["P4W", "PT1H30M15.25S", "P1Y2M3DT4H5M6S", "PT0.5S", "P3D"]
        .into_iter()
        .map(|s| valid(&format!("duration: {s}"), v, d(s)))
        .collect();
    for s in [
        "P4W1D",
        "P2WT3H",
        "P1.5DT2H",
        "PT1.5H30M",
        "PT",
        "P1DT",
        "PT.5S",
        "1H",
    ] {
        cases.push(invalid(
            &format!("duration: {s}"),
            v,
            d(s),
            "xapi.duration",
            "$.result.duration",
        ));
    }
    cases
}

/// Every xAPI case, under each version.
pub fn cases() -> Vec<Case> {
    VERSIONS
        .into_iter()
        .flat_map(|v| {
            [
                object_types(v),
                interactions(v),
                revision_and_platform(v),
                authority(v),
                durations(v),
            ]
        })
        .flatten()
        .map(|mut c| {
            c.name = format!("{} (xAPI {})", c.name, c.version);
            c
        })
        .collect()
}
