//! One test per xAPI rule: an input that breaks it (with the code and path
//! it must produce) and an input that satisfies it. Inputs are written from
//! the xAPI 1.0.3 and 2.0 specifications.

use lap_ingest::json;
use lap_ingest::xapi::{Envelope, XapiVersion, parse_statement};
use lap_schemas::{Action, ActorKind, LearningEvent};
use serde_json::{Value, json};

const STORED: i64 = 1_709_280_000_000_000;
const ASSIGNED: &str = "00000000-0000-4000-8000-000000000001";

fn base() -> Value {
    json!({
        "id": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
        "actor": {"objectType": "Agent", "name": "Ann", "mbox": "mailto:ann@example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "completed"}},
        "object": {"id": "https://lms.example.org/activities/fractions-1",
                   "definition": {"name": {"en-US": "Fractions 1"}, "type": "http://adlnet.gov/expapi/activities/lesson"}},
        "timestamp": "2024-03-01T08:15:00.000Z"
    })
}

fn run(v: &Value, version: &str) -> Result<LearningEvent, Vec<(String, String, String)>> {
    let text = v.to_string();
    let arena = json::Arena::for_input(text.len());
    let tree = json::parse(text.as_bytes(), 32, &arena)
        .map_err(|e| vec![("json".into(), "$".into(), e.to_string())])?;
    let env = Envelope {
        header_version: Some(version),
        default_version: "1.0.3",
        stored_us: STORED,
        assigned_id: ASSIGNED,
    };
    parse_statement(&tree, &env).map(|s| s.event).map_err(|p| {
        p.0.into_iter()
            .map(|p| (p.code.to_string(), p.path, p.message))
            .collect()
    })
}

fn ok(v: &Value) -> LearningEvent {
    run(v, "1.0.3").unwrap_or_else(|p| panic!("expected valid, got {p:?}"))
}

fn ok2(v: &Value) -> LearningEvent {
    run(v, "2.0.0").unwrap_or_else(|p| panic!("expected valid under 2.0, got {p:?}"))
}

/// Asserts rejection with `code` at `path`, returning the message.
fn rejects_in(v: &Value, version: &str, code: &str, path: &str) -> String {
    match run(v, version) {
        Ok(e) => panic!("expected {code} at {path}, but accepted: {e:?}"),
        Err(problems) => problems
            .iter()
            .find(|(c, p, _)| c == code && p == path)
            .map(|(_, _, m)| m.clone())
            .unwrap_or_else(|| panic!("expected {code} at {path}, got {problems:?}")),
    }
}

fn rejects(v: &Value, code: &str, path: &str) -> String {
    rejects_in(v, "1.0.3", code, path)
}

fn with(mut v: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = if parent.is_empty() {
        &mut v
    } else {
        v.pointer_mut(parent).unwrap()
    };
    target
        .as_object_mut()
        .unwrap()
        .insert(key.to_string(), value);
    v
}

fn without(mut v: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = if parent.is_empty() {
        &mut v
    } else {
        v.pointer_mut(parent).unwrap()
    };
    target.as_object_mut().unwrap().remove(key);
    v
}

#[test]
fn actor_verb_and_object_are_required() {
    ok(&base());
    for key in ["actor", "verb", "object"] {
        rejects(
            &without(base(), &format!("/{key}")),
            "xapi.property.missing",
            &format!("$.{key}"),
        );
    }
}

#[test]
fn each_property_appears_once() {
    let text = r#"{"actor":{"mbox":"mailto:a@b.org"},"verb":{"id":"http://v.org/x"},"object":{"id":"http://o.org/1"},"verb":{"id":"http://v.org/y"}}"#;
    let err = json::parse(text.as_bytes(), 32, &json::Arena::for_input(text.len())).unwrap_err();
    assert_eq!(
        lap_ingest::json_problem(&err).0[0].code,
        "json.duplicate_key"
    );
    assert!(err.to_string().contains("`verb` appears twice"), "{err}");
}

#[test]
fn null_only_inside_extensions() {
    rejects(
        &with(base(), "/result", json!({"success": null})),
        "xapi.property.null",
        "$.result.success",
    );
    ok(&with(
        base(),
        "/result",
        json!({"success": true, "extensions": {"http://x.org/e": null}}),
    ));
}

#[test]
fn wrong_types_are_rejected() {
    rejects(
        &with(base(), "/verb", json!("completed")),
        "xapi.property.type",
        "$.verb",
    );
    rejects(
        &with(base(), "/result", json!({"success": "yes"})),
        "xapi.property.type",
        "$.result.success",
    );
    rejects(
        &with(base(), "/result", json!({"score": {"raw": "10"}})),
        "xapi.property.type",
        "$.result.score.raw",
    );
    ok(&with(
        base(),
        "/result",
        json!({"success": true, "score": {"raw": 10}}),
    ));
}

#[test]
fn key_case_matters() {
    let v = with(
        without(base(), "/actor"),
        "/Actor",
        json!({"mbox": "mailto:a@b.org"}),
    );
    let msg = rejects(&v, "xapi.property.case", "$.Actor");
    assert!(msg.contains("write `actor`"), "{msg}");
    rejects(
        &with(base(), "/verb/ID", json!("http://x.org/v")),
        "xapi.property.case",
        "$.verb.ID",
    );
}

#[test]
fn unknown_properties_are_rejected() {
    rejects(
        &with(base(), "/mood", json!("happy")),
        "xapi.property.unknown",
        "$.mood",
    );
    rejects(
        &with(base(), "/result", json!({"grade": "A"})),
        "xapi.property.unknown",
        "$.result.grade",
    );
    // Each problem once, though a statement's properties are looked at by
    // the statement and by the part it shares with SubStatements.
    let problems = run(&with(base(), "/mood", json!("happy")), "1.0.3").unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let problems = run(&with(base(), "/Verb", json!({"id": "http://v/x"})), "1.0.3").unwrap_err();
    assert_eq!(
        problems.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
        ["xapi.property.case"],
        "{problems:?}"
    );
    // Extensions are the place for anything else.
    ok(&with(
        base(),
        "/result",
        json!({"extensions": {"https://lms.example.org/grade": "A"}}),
    ));
}

#[test]
fn ids_are_canonical_uuids() {
    rejects(&with(base(), "/id", json!("12345")), "xapi.uuid", "$.id");
    rejects(
        &with(base(), "/id", json!("fd41c918b88b4b20a0a5a4c32391aaa0")),
        "xapi.uuid",
        "$.id",
    );
    assert_eq!(
        ok(&with(
            base(),
            "/id",
            json!("FD41C918-B88B-4B20-A0A5-A4C32391AAA0")
        ))
        .event_id,
        "fd41c918-b88b-4b20-a0a5-a4c32391aaa0"
    );
}

#[test]
fn missing_ids_are_assigned_and_stored_is_set() {
    let e = ok(&without(without(base(), "/id"), "/timestamp"));
    assert_eq!(e.event_id, ASSIGNED);
    assert_eq!(e.stored_time, STORED);
    assert_eq!(e.event_time, STORED, "timestamp defaults to stored");
}

#[test]
fn timestamps_need_a_zone() {
    let msg = rejects(
        &with(base(), "/timestamp", json!("2024-03-01T08:15:00")),
        "xapi.timestamp.zone",
        "$.timestamp",
    );
    assert!(msg.contains("no time zone"), "{msg}");
    assert_eq!(
        ok(&with(
            base(),
            "/timestamp",
            json!("2024-03-01T17:15:00+09:00")
        ))
        .event_time,
        1_709_280_900_000_000
    );
    rejects(
        &with(base(), "/timestamp", json!("March 1st")),
        "xapi.timestamp.format",
        "$.timestamp",
    );
}

#[test]
fn xapi2_rejects_unknown_offsets_and_accepts_a_space() {
    for bad in [
        "2024-03-01T08:15:00-00",
        "2024-03-01T08:15:00-0000",
        "2024-03-01T08:15:00-00:00",
    ] {
        rejects_in(
            &with(base(), "/timestamp", json!(bad)),
            "2.0.0",
            "xapi.timestamp.unknown_offset",
            "$.timestamp",
        );
    }
    ok(&with(
        base(),
        "/timestamp",
        json!("2024-03-01T08:15:00-00:00"),
    ));
    ok2(&with(base(), "/timestamp", json!("2024-03-01 08:15:00Z")));
    rejects(
        &with(base(), "/timestamp", json!("2024-03-01 08:15:00Z")),
        "xapi.timestamp.format",
        "$.timestamp",
    );
}

#[test]
fn agents_have_exactly_one_identifier() {
    let two = json!({"mbox": "mailto:a@b.org", "openid": "https://id.example.org/a"});
    let msg = rejects(&with(base(), "/actor", two), "xapi.agent.ifi", "$.actor");
    assert!(msg.contains("mbox, openid"), "{msg}");
    rejects(
        &with(base(), "/actor", json!({"name": "nobody"})),
        "xapi.agent.ifi",
        "$.actor",
    );
    rejects(
        &with(base(), "/actor", json!({"mbox": "ann@example.org"})),
        "xapi.agent.mbox",
        "$.actor.mbox",
    );
    rejects(
        &with(base(), "/actor", json!({"mbox_sha1sum": "abc"})),
        "xapi.agent.mbox_sha1sum",
        "$.actor.mbox_sha1sum",
    );
    rejects(
        &with(base(), "/actor", json!({"openid": "not an iri"})),
        "xapi.iri",
        "$.actor.openid",
    );
    rejects(
        &with(
            base(),
            "/actor",
            json!({"account": {"homePage": "https://lms.example.org"}}),
        ),
        "xapi.property.missing",
        "$.actor.account.name",
    );
    let e = ok(&with(
        base(),
        "/actor",
        json!({"account": {"homePage": "https://lms.example.org", "name": "s-1042"}}),
    ));
    assert_eq!(
        (
            e.actor.kind,
            e.actor.id.as_str(),
            e.actor.home_page.as_deref()
        ),
        (
            ActorKind::Account,
            "s-1042",
            Some("https://lms.example.org")
        )
    );
    let sha = ok(&with(
        base(),
        "/actor",
        json!({"mbox_sha1sum": "ABCDEF0123456789ABCDEF0123456789ABCDEF01"}),
    ));
    assert_eq!(sha.actor.id, "abcdef0123456789abcdef0123456789abcdef01");
}

#[test]
fn groups_anonymous_and_identified() {
    let anon_empty = json!({"objectType": "Group", "name": "Team A"});
    rejects(
        &with(base(), "/actor", anon_empty),
        "xapi.group.member",
        "$.actor",
    );
    let anon = json!({"objectType": "Group", "member": [{"mbox": "mailto:a@b.org"}, {"mbox": "mailto:c@d.org"}]});
    let e = ok(&with(base(), "/actor", anon));
    assert!(e.actor.id.starts_with("urn:lap:anonymous-group:"));
    let identified = json!({"objectType": "Group", "account": {"homePage": "https://lms.example.org", "name": "team-a"}});
    ok(&with(base(), "/actor", identified));
    let nested = json!({"objectType": "Group", "member": [{"objectType": "Group", "member": [{"mbox": "mailto:a@b.org"}]}]});
    rejects(
        &with(base(), "/actor", nested),
        "xapi.group.member",
        "$.actor.member[0]",
    );
}

#[test]
fn iris_need_a_scheme() {
    rejects(
        &with(base(), "/verb/id", json!("completed")),
        "xapi.iri",
        "$.verb.id",
    );
    rejects(
        &with(base(), "/object/id", json!("lesson 1")),
        "xapi.iri",
        "$.object.id",
    );
    ok(&with(base(), "/object/id", json!("urn:lap:lesson:1")));
}

#[test]
fn language_map_keys_are_rfc5646_tags() {
    rejects(
        &with(base(), "/verb/display", json!({"en_US": "completed"})),
        "xapi.language_tag",
        "$.verb.display.en_US",
    );
    ok(&with(
        base(),
        "/verb/display",
        json!({"ja-JP": "完了", "zh-Hant-TW": "完成"}),
    ));
}

#[test]
fn extension_keys_are_iris_and_values_are_free() {
    let ctx = json!({"extensions": {"grade": 5}});
    rejects(
        &with(base(), "/context", ctx),
        "xapi.extension.key",
        "$.context.extensions.grade",
    );
    let ctx = json!({"extensions": {"https://lms.example.org/x": {"anything": [null, 1, "two"]}}});
    let e = ok(&with(base(), "/context", ctx));
    assert!(e.extensions.unwrap().contains("anything"));
}

#[test]
fn scaled_score_is_within_minus_one_and_one() {
    let msg = rejects(
        &with(base(), "/result", json!({"score": {"scaled": 7}})),
        "xapi.score.scaled_range",
        "$.result.score.scaled",
    );
    assert_eq!(msg, "7 is outside [-1, 1]");
    ok(&with(base(), "/result", json!({"score": {"scaled": -1}})));
}

#[test]
fn min_is_below_max_and_raw_between() {
    rejects(
        &with(base(), "/result", json!({"score": {"min": 10, "max": 5}})),
        "xapi.score.min_max",
        "$.result.score.min",
    );
    rejects(
        &with(
            base(),
            "/result",
            json!({"score": {"raw": 11, "min": 0, "max": 10}}),
        ),
        "xapi.score.raw_range",
        "$.result.score.raw",
    );
    rejects(
        &with(
            base(),
            "/result",
            json!({"score": {"raw": -1, "min": 0, "max": 10}}),
        ),
        "xapi.score.raw_range",
        "$.result.score.raw",
    );
    let e = ok(&with(
        base(),
        "/result",
        json!({"score": {"raw": 15, "min": 10, "max": 20}}),
    ));
    assert_eq!(
        e.result.unwrap().score_scaled,
        Some(0.5),
        "(raw-min)/(max-min)"
    );
}

#[test]
fn scaled_scores_normalise_to_zero_one() {
    assert_eq!(
        ok(&with(base(), "/result", json!({"score": {"scaled": 0.8}})))
            .result
            .unwrap()
            .score_scaled,
        Some(0.8)
    );
    assert_eq!(
        ok(&with(base(), "/result", json!({"score": {"scaled": -0.5}})))
            .result
            .unwrap()
            .score_scaled,
        Some(0.0)
    );
    assert_eq!(
        ok(&with(
            base(),
            "/result",
            json!({"score": {"raw": 3, "max": 4}})
        ))
        .result
        .unwrap()
        .score_scaled,
        Some(0.75)
    );
}

#[test]
fn durations_are_iso8601() {
    rejects(
        &with(base(), "/result", json!({"duration": "90 minutes"})),
        "xapi.duration",
        "$.result.duration",
    );
    assert_eq!(
        ok(&with(base(), "/result", json!({"duration": "PT1H30M"})))
            .result
            .unwrap()
            .duration_ms,
        Some(5_400_000)
    );
}

#[test]
fn substatements_have_no_id_stored_version_authority_and_do_not_nest() {
    let sub = json!({"objectType": "SubStatement", "id": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
        "actor": {"mbox": "mailto:a@b.org"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/attempted"},
        "object": {"id": "http://o.org/1"}});
    rejects(
        &with(base(), "/object", sub.clone()),
        "xapi.substatement.property",
        "$.object.id",
    );
    let nested = json!({"objectType": "SubStatement", "actor": {"mbox": "mailto:a@b.org"},
        "verb": {"id": "http://v.org/x"}, "object": {"objectType": "SubStatement"}});
    rejects(
        &with(base(), "/object", nested),
        "xapi.substatement.nested",
        "$.object.object.objectType",
    );
    let e = ok(&with(base(), "/object", without(sub, "/id")));
    assert_eq!(e.object.object_type.as_deref(), Some("SubStatement"));
}

#[test]
fn single_context_activities_become_lists() {
    let ctx = json!({"contextActivities": {
        "parent": {"id": "https://sis.example.org/classes/7b-math"},
        "grouping": [{"id": "https://sis.example.org/courses/math-7"}],
        "category": {"id": "https://w3id.org/xapi/cmi5/context/categories/cmi5"},
        "other": [{"id": "https://lms.example.org/objectives/fractions", "definition": {"type": "http://adlnet.gov/expapi/activities/objective"}}]
    }});
    let e = ok(&with(base(), "/context", ctx));
    assert_eq!(
        e.context.class_refs,
        [
            "https://sis.example.org/classes/7b-math",
            "https://sis.example.org/courses/math-7"
        ]
    );
    assert_eq!(
        e.context.category_ids,
        ["https://w3id.org/xapi/cmi5/context/categories/cmi5"]
    );
    assert_eq!(
        e.context.objective_ids,
        ["https://lms.example.org/objectives/fractions"]
    );
    rejects(
        &with(
            base(),
            "/context",
            json!({"contextActivities": {"parent": "https://x.org"}}),
        ),
        "xapi.property.type",
        "$.context.contextActivities.parent",
    );
}

#[test]
fn context_agents_and_groups_are_xapi2_only() {
    let agents = json!({"contextAgents": [{"objectType": "contextAgent", "agent": {"mbox": "mailto:t@s.org"},
        "relevantTypes": ["https://w3id.org/xapi/roles/teacher"]}]});
    ok2(&with(base(), "/context", agents.clone()));
    rejects(
        &with(base(), "/context", agents),
        "xapi.property.unknown",
        "$.context.contextAgents",
    );
    let wrong_type =
        json!({"contextAgents": [{"objectType": "Agent", "agent": {"mbox": "mailto:t@s.org"}}]});
    rejects_in(
        &with(base(), "/context", wrong_type),
        "2.0.0",
        "xapi.context.agents",
        "$.context.contextAgents[0].objectType",
    );
    let empty = json!({"contextGroups": [{"objectType": "contextGroup",
        "group": {"objectType": "Group", "member": [{"mbox": "mailto:a@b.org"}]}, "relevantTypes": []}]});
    rejects_in(
        &with(base(), "/context", empty),
        "2.0.0",
        "xapi.context.agents",
        "$.context.contextGroups[0].relevantTypes",
    );
    let not_iri = json!({"contextAgents": [{"objectType": "contextAgent", "agent": {"mbox": "mailto:t@s.org"}, "relevantTypes": ["teacher"]}]});
    rejects_in(
        &with(base(), "/context", not_iri),
        "2.0.0",
        "xapi.iri",
        "$.context.contextAgents[0].relevantTypes[0]",
    );
}

#[test]
fn revision_and_platform_not_with_agent_objects() {
    let v = with(
        with(
            base(),
            "/object",
            json!({"objectType": "Agent", "mbox": "mailto:b@c.org"}),
        ),
        "/context",
        json!({"platform": "LMS"}),
    );
    rejects(&v, "xapi.context.revision_platform", "$.context.platform");
    assert_eq!(
        ok(&with(base(), "/context", json!({"platform": "LMS"})))
            .context
            .platform
            .as_deref(),
        Some("LMS")
    );
}

#[test]
fn versions_are_1_0_x_or_2_0_x() {
    rejects(
        &with(base(), "/version", json!("0.95")),
        "xapi.version",
        "$.version",
    );
    ok(&with(base(), "/version", json!("1.0.3")));
    rejects_in(
        &with(base(), "/version", json!("3.0.0")),
        "2.0.0",
        "xapi.version",
        "$.version",
    );
    assert_eq!(
        ok(&with(base(), "/version", json!("2.0.0"))).spec_version,
        "2.0.0"
    );
    let msg = XapiVersion::parse("1.0.4", true).unwrap_err();
    assert!(msg.contains("1.0.0, 1.0.1, 1.0.2, 1.0.3, 2.0.0"), "{msg}");
    assert_eq!(XapiVersion::parse("2.0.0", true), Ok(XapiVersion::V2));
}

#[test]
fn voiding_statements_target_a_statement_ref() {
    let voiding = with(
        base(),
        "/verb",
        json!({"id": "http://adlnet.gov/expapi/verbs/voided"}),
    );
    rejects(&voiding, "xapi.voiding.object", "$.object");
    let v = with(
        voiding,
        "/object",
        json!({"objectType": "StatementRef", "id": "e05aa883-acaf-40ad-bf54-02c8ce485fb0"}),
    );
    let e = ok(&v);
    assert_eq!(e.action, Action::Voided);
    assert_eq!(
        e.voids.as_deref(),
        Some("e05aa883-acaf-40ad-bf54-02c8ce485fb0")
    );
}

#[test]
fn verbs_map_to_actions_and_unknown_verbs_are_kept() {
    let absent = with(
        base(),
        "/verb",
        json!({"id": "https://lap-analytics.org/xapi/verbs/absent"}),
    );
    assert_eq!(ok(&absent).action, Action::Absent);
    let odd = with(
        base(),
        "/verb",
        json!({"id": "https://example.org/verbs/juggled"}),
    );
    let e = ok(&odd);
    assert_eq!(
        (e.action, e.verb.as_str()),
        (Action::Other, "https://example.org/verbs/juggled")
    );
}

#[test]
fn due_time_comes_from_lap_extension() {
    let ctx = json!({"registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7",
        "extensions": {"https://lap-analytics.org/xapi/extensions/due-time": "2024-03-04T23:59:00Z"}});
    let e = ok(&with(base(), "/context", ctx));
    assert_eq!(e.due_time, Some(1_709_596_740_000_000));
    assert_eq!(
        e.context.registration.as_deref(),
        Some("ec531277-b57b-4c15-8d91-d292c5b2b8f7")
    );
}

#[test]
fn attachments_metadata_is_checked() {
    let att = json!([{"usageType": "http://adlnet.gov/expapi/attachments/signature", "display": {"en-US": "Signature"},
        "contentType": "application/octet-stream", "length": 4235, "sha2": "672fa5fa658017f1b72d65036f13379c6ab05d4ab3b6664908d8acf0b6a0c634"}]);
    ok(&with(base(), "/attachments", att.clone()));
    rejects(
        &with(base(), "/attachments", without(att.clone(), "/0/sha2")),
        "xapi.property.missing",
        "$.attachments[0].sha2",
    );
    rejects(
        &with(base(), "/attachments", with(att, "/0/length", json!(-1))),
        "xapi.property.type",
        "$.attachments[0].length",
    );
}
