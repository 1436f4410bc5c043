//! The hand-written codecs of `LearningEvent` and `EnrichedEvent` against
//! `apache-avro`'s generic writer and reader, on random records: the same
//! bytes out, the same records back, and truncated bodies refused.

use lap_schemas::{
    Action, Actor, ActorKind, EnrichedEvent, EventContext, EventObject, EventResult, LearningEvent,
    Record, Role, SourceStandard, decode, decode_generic, encode, encode_generic,
};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[a-z0-9:/._-]{1,40}", "\\PC{0,12}"]
}

fn opt<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> impl Strategy<Value = Option<T>> {
    prop::option::of(s)
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(text(), 0..4)
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("NaN never equals itself", |x| !x.is_nan()),
        -1.0..1.0f64
    ]
}

fn time() -> impl Strategy<Value = i64> {
    prop_oneof![any::<i64>(), 0..2_000_000_000_000_000i64]
}

fn source() -> impl Strategy<Value = SourceStandard> {
    prop_oneof![Just(SourceStandard::Xapi), Just(SourceStandard::Caliper)]
}

fn action() -> impl Strategy<Value = Action> {
    (0..Action::ALL.len()).prop_map(|i| Action::ALL[i])
}

fn actor() -> impl Strategy<Value = Actor> {
    let kinds = [
        ActorKind::Account,
        ActorKind::Mbox,
        ActorKind::MboxSha1sum,
        ActorKind::Openid,
        ActorKind::Iri,
    ];
    ((0..5usize), text(), opt(text()), opt(text())).prop_map(
        move |(k, id, home_page, actor_type)| Actor {
            kind: kinds[k],
            id,
            home_page,
            actor_type,
        },
    )
}

fn learning_event() -> impl Strategy<Value = LearningEvent> {
    let result = opt((
        (opt(number()), opt(number()), opt(number()), opt(number())),
        (
            opt(any::<bool>()),
            opt(any::<bool>()),
            opt(time()),
            opt(text()),
        ),
    )
        .prop_map(
            |(
                (score_scaled, score_raw, score_min, score_max),
                (success, completion, duration_ms, response),
            )| {
                EventResult {
                    score_scaled,
                    score_raw,
                    score_min,
                    score_max,
                    success,
                    completion,
                    duration_ms,
                    response,
                }
            },
        ));
    let context = (
        opt(text()),
        opt(text()),
        opt(actor()),
        texts(),
        texts(),
        texts(),
        opt(text()),
        texts(),
    )
        .prop_map(|c| EventContext {
            registration: c.0,
            platform: c.1,
            instructor: c.2,
            class_refs: c.3,
            category_ids: c.4,
            objective_ids: c.5,
            session_id: c.6,
            roles: c.7,
        });
    (
        (
            text(),
            source(),
            text(),
            time(),
            time(),
            actor(),
            action(),
            text(),
        ),
        (
            (text(), opt(text()), opt(text())),
            result,
            context,
            opt(time()),
            opt(text()),
            opt(text()),
        ),
    )
        .prop_map(
            |(
                (event_id, source, spec_version, event_time, stored_time, actor, action, verb),
                ((id, object_type, name), result, context, due_time, voids, extensions),
            )| LearningEvent {
                event_id,
                source,
                spec_version,
                event_time,
                stored_time,
                actor,
                action,
                verb,
                object: EventObject {
                    id,
                    object_type,
                    name,
                },
                result,
                context,
                due_time,
                voids,
                extensions,
            },
        )
}

fn enriched_event() -> impl Strategy<Value = EnrichedEvent> {
    (
        (
            text(),
            source(),
            text(),
            time(),
            time(),
            text(),
            text(),
            (0..Role::ALL.len()).prop_map(|i| Role::ALL[i]),
        ),
        (
            opt(text()),
            opt(text()),
            opt(text()),
            opt(text()),
            texts(),
            texts(),
            action(),
            text(),
        ),
        (
            text(),
            opt(text()),
            opt(text()),
            opt(number()),
            opt(number()),
            opt(number()),
            opt(number()),
        ),
        (
            opt(any::<bool>()),
            opt(any::<bool>()),
            opt(time()),
            opt(number()),
            opt(text()),
            opt(text()),
            opt(text()),
        ),
        (texts(), opt(time()), opt(text())),
    )
        .prop_map(|(a, b, c, d, e)| EnrichedEvent {
            event_id: a.0,
            source: a.1,
            spec_version: a.2,
            event_time: a.3,
            stored_time: a.4,
            tenant: a.5,
            person_key: a.6,
            role: a.7,
            school_id: b.0,
            class_id: b.1,
            course_id: b.2,
            term_id: b.3,
            subject_codes: b.4,
            grades: b.5,
            action: b.6,
            verb: b.7,
            object_id: c.0,
            object_type: c.1,
            object_name: c.2,
            score_scaled: c.3,
            score_raw: c.4,
            score_min: c.5,
            score_max: c.6,
            success: d.0,
            completion: d.1,
            duration_ms: d.2,
            response_value: d.3,
            response_text: d.4,
            registration: d.5,
            session_id: d.6,
            objective_ids: e.0,
            due_time: e.1,
            voids: e.2,
        })
}

/// Fast and generic agree on bytes and on records; every strict prefix of
/// the body is refused rather than misread.
fn agrees<R: Record + PartialEq + std::fmt::Debug>(record: &R) {
    let fast = encode(record).unwrap();
    assert_eq!(
        fast,
        encode_generic(record).unwrap(),
        "bytes differ for {record:?}"
    );
    assert_eq!(&decode::<R>(&fast).unwrap(), record);
    assert_eq!(&decode_generic::<R>(&fast).unwrap(), record);
    for cut in [fast.len() - 1, 10 + (fast.len() - 10) / 2] {
        assert!(
            decode::<R>(&fast[..cut]).is_err(),
            "a body cut at {cut} must not decode"
        );
    }
    let mut longer = fast.clone();
    longer.push(0);
    assert!(decode::<R>(&longer).is_err(), "trailing bytes are refused");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn learning_events_match_the_generic_codec(e in learning_event()) {
        agrees(&e);
    }

    #[test]
    fn enriched_events_match_the_generic_codec(e in enriched_event()) {
        agrees(&e);
    }
}
