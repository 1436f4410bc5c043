//! Property tests: every record type survives encode → decode unchanged,
//! and the bytes are standard single-object encoding that apache-avro's own
//! reader understands.

use std::collections::BTreeMap;

use apache_avro::reader::single_object::GenericSingleObjectReader;
use lap_schemas::*;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,24}"
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn num() -> impl Strategy<Value = f64> {
    -1.0e12..1.0e12f64
}

fn time() -> impl Strategy<Value = i64> {
    0i64..4_102_444_800_000_000
}

fn action() -> impl Strategy<Value = Action> {
    proptest::sample::select(Action::ALL.to_vec())
}

fn actor() -> impl Strategy<Value = Actor> {
    let kind = proptest::sample::select(vec![
        ActorKind::Account,
        ActorKind::Mbox,
        ActorKind::MboxSha1sum,
        ActorKind::Openid,
        ActorKind::Iri,
    ]);
    (kind, text(), opt_text(), opt_text()).prop_map(|(kind, id, home_page, actor_type)| Actor {
        kind,
        id,
        home_page,
        actor_type,
    })
}

fn result() -> impl Strategy<Value = EventResult> {
    (
        proptest::option::of(0.0..=1.0f64),
        proptest::option::of(num()),
        proptest::option::of(num()),
        proptest::option::of(num()),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<i64>()),
        opt_text(),
    )
        .prop_map(|(s, r, mn, mx, su, co, d, resp)| EventResult {
            score_scaled: s,
            score_raw: r,
            score_min: mn,
            score_max: mx,
            success: su,
            completion: co,
            duration_ms: d,
            response: resp,
        })
}

fn source() -> impl Strategy<Value = SourceStandard> {
    prop_oneof![Just(SourceStandard::Xapi), Just(SourceStandard::Caliper)]
}

prop_compose! {
    fn learning_event()(
        event_id in text(), source in source(), spec_version in text(),
        event_time in time(), stored_time in time(), actor in actor(), action in action(),
        verb in text(), oid in text(), otype in opt_text(), oname in opt_text(),
        result in proptest::option::of(result()),
        registration in opt_text(), platform in opt_text(),
        instructor in proptest::option::of(actor()),
        class_refs in vec(text(), 0..3), category_ids in vec(text(), 0..3),
        objective_ids in vec(text(), 0..3), session_id in opt_text(), roles in vec(text(), 0..2),
        due_time in proptest::option::of(time()), voids in opt_text(), extensions in opt_text(),
    ) -> LearningEvent {
        LearningEvent {
            event_id, source, spec_version, event_time, stored_time, actor, action, verb,
            object: EventObject { id: oid, object_type: otype, name: oname },
            result,
            context: EventContext {
                registration, platform, instructor, class_refs, category_ids, objective_ids,
                session_id, roles,
            },
            due_time, voids, extensions,
        }
    }
}

prop_compose! {
    fn enriched_event()(
        base in learning_event(), tenant in text(), person_key in "[0-9a-f]{64}",
        role in proptest::sample::select(vec![Role::Learner, Role::Teacher, Role::Administrator, Role::Guardian, Role::Other]),
        ids in (opt_text(), opt_text(), opt_text(), opt_text()),
        subject_codes in vec(text(), 0..3), grades in vec(text(), 0..3),
        response_value in proptest::option::of(num()), response_text in opt_text(),
    ) -> EnrichedEvent {
        let r = base.result.clone().unwrap_or_default();
        EnrichedEvent {
            event_id: base.event_id, source: base.source, spec_version: base.spec_version,
            event_time: base.event_time, stored_time: base.stored_time, tenant, person_key, role,
            school_id: ids.0, class_id: ids.1, course_id: ids.2, term_id: ids.3,
            subject_codes, grades, action: base.action, verb: base.verb,
            object_id: base.object.id, object_type: base.object.object_type, object_name: base.object.name,
            score_scaled: r.score_scaled, score_raw: r.score_raw, score_min: r.score_min,
            score_max: r.score_max, success: r.success, completion: r.completion,
            duration_ms: r.duration_ms, response_value, response_text,
            registration: base.context.registration, session_id: base.context.session_id,
            objective_ids: base.context.objective_ids, due_time: base.due_time, voids: base.voids,
        }
    }
}

prop_compose! {
    fn indicator_row()(
        table_name in text(), weekly in any::<bool>(), window_start in time(), len in 1i64..1_000_000_000,
        time_zone in text(), kind in 0..3usize, entity_id in text(), class_id in opt_text(),
        school_id in opt_text(), revision in any::<i64>(), is_final in any::<bool>(),
        emitted_time in time(), contributors in any::<i32>(), suppressed in any::<bool>(),
        indicators in btree_map(text(), proptest::option::of(num()), 0..6),
        flags in vec((text(), text(), btree_map(text(), num(), 0..4)), 0..3),
        cleared in vec((text(), text(), btree_map(text(), num(), 0..4)), 0..2),
        newest_event_time in proptest::option::of(time()),
    ) -> IndicatorRow {
        let flag = |(code, reason, evidence)| Flag { code, reason, evidence };
        IndicatorRow {
            table_name,
            window_kind: if weekly { WindowKind::Weekly } else { WindowKind::Daily },
            window_start, window_end: window_start + len, time_zone,
            entity_kind: [EntityKind::Learner, EntityKind::Class, EntityKind::School][kind],
            entity_id, class_id, school_id, revision, is_final, emitted_time, contributors, suppressed,
            indicators,
            flags: flags.into_iter().map(flag).collect(),
            cleared_flags: cleared.into_iter().map(flag).collect(),
            newest_event_time,
        }
    }
}

prop_compose! {
    fn dead_letter()(
        id in text(), stage in text(), received_time in time(),
        kind in proptest::sample::select(vec![OriginKind::Kafka, OriginKind::Http, OriginKind::File]),
        topic in opt_text(), partition in proptest::option::of(any::<i32>()),
        offset in proptest::option::of(any::<i64>()), client_id in opt_text(), path in opt_text(),
        line in proptest::option::of(any::<i64>()), index in proptest::option::of(any::<i32>()),
        format in text(), error_code in text(), message in text(),
        problems in vec((text(), text(), text()), 0..4), payload in vec(any::<u8>(), 0..200),
    ) -> DeadLetter {
        DeadLetter {
            id, stage, received_time,
            origin: Origin { kind, topic, partition, offset, client_id, path, line, index },
            format, error_code, message,
            problems: problems.into_iter().map(|(code, path, message)| Problem { code, path, message }).collect(),
            payload,
        }
    }
}

prop_compose! {
    fn roster_record()(
        tenant in text(),
        entity in proptest::sample::select(vec![
            RosterEntity::Org, RosterEntity::AcademicSession, RosterEntity::Course, RosterEntity::Class,
            RosterEntity::User, RosterEntity::Enrollment, RosterEntity::Demographics, RosterEntity::Role,
            RosterEntity::CurriculumObjective, RosterEntity::QuestionnaireItem, RosterEntity::Consent,
            RosterEntity::Other, RosterEntity::ClassMember,
        ]),
        sourced_id in text(), deleted in any::<bool>(),
        date_last_modified in proptest::option::of(time()),
        fields in btree_map(text(), text(), 0..8), metadata in btree_map(text(), text(), 0..4),
        spec_version in text(),
    ) -> RosterRecord {
        RosterRecord {
            tenant, entity, sourced_id,
            status: if deleted { RosterStatus::Tobedeleted } else { RosterStatus::Active },
            date_last_modified, fields, metadata, spec_version,
        }
    }
}

/// Round trip through our codec, and a decode by apache-avro's own
/// single-object reader to prove the framing is the standard one.
fn round_trip<R: Record + PartialEq + std::fmt::Debug>(record: &R) -> Result<(), TestCaseError> {
    let bytes = encode(record).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: R = decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, record);
    let reader = GenericSingleObjectReader::builder()
        .schema(R::schemas().current().clone())
        .build()
        .unwrap();
    let via_library: R = reader
        .read_deser(&mut bytes.as_slice())
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&via_library, record);
    Ok(())
}

/// Runs 128 cases on a thread with a large stack: the composed strategies
/// of the bigger records need more than the default test thread's stack in
/// unoptimised builds.
fn check<S>(strategy: S)
where
    S: Strategy + Send + 'static,
    S::Value: Record + PartialEq + std::fmt::Debug,
{
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let mut runner =
                proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(128));
            runner.run(&strategy, |record| round_trip(&record)).unwrap();
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn learning_event_round_trips() {
    check(learning_event());
}

#[test]
fn enriched_event_round_trips() {
    check(enriched_event());
}

#[test]
fn indicator_row_round_trips() {
    check(indicator_row());
}

#[test]
fn dead_letter_round_trips() {
    check(dead_letter());
}

#[test]
fn roster_record_round_trips() {
    check(roster_record());
}

#[test]
fn garbage_is_rejected_with_a_reason() {
    let err = decode::<LearningEvent>(b"{\"not\": \"avro\"}").unwrap_err();
    assert!(
        err.to_string()
            .contains("not an Avro single-object message"),
        "{err}"
    );
    let mut wrong = encode(&RosterRecord {
        tenant: "t".into(),
        entity: RosterEntity::User,
        sourced_id: "u1".into(),
        status: RosterStatus::Active,
        date_last_modified: None,
        fields: BTreeMap::new(),
        metadata: BTreeMap::new(),
        spec_version: "1.1".into(),
    })
    .unwrap();
    let err = decode::<LearningEvent>(&wrong).unwrap_err();
    assert!(matches!(err, CodecError::UnknownSchema { .. }), "{err}");
    wrong.truncate(12);
    assert!(
        decode::<RosterRecord>(&wrong).is_err(),
        "truncated datum fails"
    );
}

#[test]
fn action_symbols_match_the_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../avro/LearningEvent.avsc")).unwrap();
    let field = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "action")
        .unwrap();
    let symbols: Vec<&str> = field["type"]["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let ours: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
    assert_eq!(symbols, ours);
    for a in Action::ALL {
        assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        assert_eq!(Action::from_symbol(a.as_str()), Some(a));
    }
}

#[test]
fn role_labels_are_the_serialised_symbols() {
    use lap_schemas::Role;
    for r in [
        Role::Learner,
        Role::Teacher,
        Role::Administrator,
        Role::Guardian,
        Role::Other,
    ] {
        assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
    }
}

#[test]
fn window_and_entity_kinds_store_their_serialised_symbols() {
    for k in [WindowKind::Daily, WindowKind::Weekly] {
        assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
    }
    for k in [EntityKind::Learner, EntityKind::Class, EntityKind::School] {
        assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
    }
}
