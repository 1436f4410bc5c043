//! The join and the operator over a roster loaded from the 1.2 test export
//! (and, when present, the shared fixture rosters): identity rules, class,
//! term and role, pseudonyms, opt-outs, held and unmatched events, and a
//! scan proving no personal value of the roster reaches an EnrichedEvent.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use common::{PERSONAL_1P2, export_1p2, load, roster_of};
use lap_enrich::join::{JoinOptions, Joined, join};
use lap_enrich::metrics::EnrichMetrics;
use lap_enrich::pseudonym::Pseudonymiser;
use lap_enrich::state::Roster;
use lap_enrich::{Enrich, EnrichTopics, HoldPolicy};
use lap_runtime::config::Secret;
use lap_runtime::metrics::Metrics;
use lap_runtime::stage::{Operator, Output};
use lap_runtime::transport::Message;
use lap_schemas::{
    Action, Actor, ActorKind, DeadLetter, EnrichedEvent, EventContext, EventObject, EventResult,
    LearningEvent, Role, SourceStandard, decode, encode,
};
use parking_lot::RwLock;

fn keys() -> Pseudonymiser {
    Pseudonymiser::new(&Secret::new("0123456789abcdef-test-key")).unwrap()
}

/// 2024-10-01T09:00:00Z, in the autumn term.
const AUTUMN: i64 = 1_727_773_200_000_000;
/// 2025-02-03T09:00:00Z, in the spring term.
const SPRING: i64 = 1_738_573_200_000_000;

fn event(kind: ActorKind, id: &str, class_refs: &[&str], time: i64) -> LearningEvent {
    LearningEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        source: SourceStandard::Xapi,
        spec_version: "1.0.3".into(),
        event_time: time,
        stored_time: time,
        actor: Actor {
            kind,
            id: id.into(),
            home_page: (kind == ActorKind::Account).then(|| "https://lms.hillside.example".into()),
            actor_type: Some("Agent".into()),
        },
        action: Action::Scored,
        verb: "http://adlnet.gov/expapi/verbs/scored".into(),
        object: EventObject {
            id: "https://lms.hillside.example/quiz/fractions-1".into(),
            object_type: Some("http://adlnet.gov/expapi/activities/assessment".into()),
            name: Some("Fractions quiz".into()),
        },
        result: Some(EventResult {
            score_scaled: Some(0.7),
            response: Some("I asked Amara Okafor for help".into()),
            ..Default::default()
        }),
        context: EventContext {
            class_refs: class_refs.iter().map(|s| s.to_string()).collect(),
            instructor: Some(Actor {
                kind: ActorKind::Mbox,
                id: "mailto:eleanor.hughes@hillside.example".into(),
                home_page: None,
                actor_type: Some("Agent".into()),
            }),
            ..Default::default()
        },
        due_time: None,
        voids: None,
        extensions: Some(r#"{"https://lms.example/ext/nickname":"amara.okafor"}"#.into()),
    }
}

fn enriched(j: Joined) -> EnrichedEvent {
    match j {
        Joined::Enriched(e) => *e,
        other => panic!("expected a join, got {other:?}"),
    }
}

fn roster() -> Roster {
    roster_of(&load(export_1p2().path()))
}

#[test]
fn every_identity_rule_finds_the_user() {
    let r = roster();
    let k = keys();
    let o = JoinOptions::default();
    let sha = "mailto:amara.okafor@hillside.example";
    let sha = {
        use sha1::Digest;
        hex::encode(sha1::Sha1::digest(sha.as_bytes()))
    };
    let ways = [
        (ActorKind::Account, "amara.okafor".to_string()), // username
        (ActorKind::Account, "S-1001".to_string()),       // identifier
        (ActorKind::Account, "lms-991".to_string()),      // a userIds entry
        (
            ActorKind::Mbox,
            "mailto:Amara.Okafor@hillside.example".to_string(),
        ),
        (ActorKind::MboxSha1sum, sha),
        (
            ActorKind::Iri,
            "https://sis.hillside.example/users/u1".to_string(),
        ),
    ];
    let expected = k.key("t1", "u1");
    for (kind, id) in ways {
        let e = enriched(join(&r, &event(kind, &id, &[], AUTUMN), &k, &o));
        assert_eq!(e.person_key, expected, "{kind:?} {id}");
        assert_eq!(e.role, Role::Learner, "role from roles.csv without a class");
        assert_eq!(e.school_id.as_deref(), Some("sch1"), "primaryOrgSourcedId");
        assert_eq!(e.class_id, None);
    }
}

#[test]
fn class_course_school_term_subjects_and_role_are_joined() {
    let r = roster();
    let (k, o) = (keys(), JoinOptions::default());
    for refs in [
        vec!["https://lms.hillside.example/classes/c7a"],
        vec!["7A-MATH"],
        vec!["https://lms.hillside.example/unknown", "MATH-7"],
    ] {
        let e = enriched(join(
            &r,
            &event(ActorKind::Account, "amara.okafor", &refs, AUTUMN),
            &k,
            &o,
        ));
        assert_eq!(e.class_id.as_deref(), Some("c7a"), "{refs:?}");
        assert_eq!(e.course_id.as_deref(), Some("math7"));
        assert_eq!(e.school_id.as_deref(), Some("sch1"));
        assert_eq!(e.term_id.as_deref(), Some("t1"));
        assert_eq!(
            e.subject_codes,
            ["MTH", "ALG"],
            "from the course, the class has none"
        );
        assert_eq!(e.grades, ["07"]);
    }
    let spring = enriched(join(
        &r,
        &event(ActorKind::Account, "S-1001", &["c7a"], SPRING),
        &k,
        &o,
    ));
    assert_eq!(spring.term_id.as_deref(), Some("t2"));
    let teacher = enriched(join(
        &r,
        &event(ActorKind::Account, "mrs.hughes", &["c7a"], AUTUMN),
        &k,
        &o,
    ));
    assert_eq!(teacher.role, Role::Teacher, "teacher events are told apart");
    assert_eq!(teacher.person_key, k.key("t1", "t9"));
}

#[test]
fn pseudonyms_are_stable_and_depend_on_key_and_tenant() {
    let k = keys();
    assert_eq!(k.key("t1", "u1"), k.key("t1", "u1"));
    assert_ne!(k.key("t1", "u1"), k.key("t2", "u1"));
    let other = Pseudonymiser::new(&Secret::new("another-key-of-enough-length")).unwrap();
    assert_ne!(k.key("t1", "u1"), other.key("t1", "u1"));
    assert_eq!(k.key("t1", "u1").len(), 64);
    let weak = Pseudonymiser::new(&Secret::new("short")).unwrap_err();
    assert!(weak.to_string().contains("at least 16"), "{weak}");
}

#[test]
fn opted_out_ambiguous_and_unknown_are_told_apart() {
    let mut r = roster();
    let (k, o) = (keys(), JoinOptions::default());
    // u3 opted out in lap-consent.csv.
    assert_eq!(
        join(
            &r,
            &event(ActorKind::Account, "chen.wei", &[], AUTUMN),
            &k,
            &o
        ),
        Joined::OptedOut
    );
    let Joined::Unmatched(u) = join(
        &r,
        &event(ActorKind::Account, "nobody", &[], AUTUMN),
        &k,
        &o,
    ) else {
        panic!()
    };
    assert_eq!(u.code, "enrich.unmatched.actor");
    let Joined::Unmatched(u) = join(
        &r,
        &event(
            ActorKind::Account,
            "amara.okafor",
            &["https://x.example/c/zz"],
            AUTUMN,
        ),
        &k,
        &o,
    ) else {
        panic!()
    };
    assert_eq!(u.code, "enrich.unmatched.class");
    // Two users sharing an identifier: refuse to guess.
    let mut dup = load(export_1p2().path())
        .records
        .into_iter()
        .find(|r| r.entity == lap_schemas::RosterEntity::User && r.sourced_id == "u2")
        .unwrap();
    dup.sourced_id = "u2b".into();
    r.apply(dup.clone());
    let bjorn = event(ActorKind::Account, "bjorn.lindqvist", &[], AUTUMN);
    let Joined::Unmatched(u) = join(&r, &bjorn, &k, &o) else {
        panic!()
    };
    assert_eq!(u.code, "enrich.ambiguous.actor");
    // Deleting the second holder makes the identifier unique again.
    dup.status = lap_schemas::RosterStatus::Tobedeleted;
    r.apply(dup);
    assert_eq!(
        enriched(join(&r, &bjorn, &k, &o)).person_key,
        k.key("t1", "u2")
    );
}

fn operator(roster: Arc<RwLock<Roster>>, grace: Duration, max_held: usize) -> Enrich {
    Enrich::new(
        roster,
        keys(),
        JoinOptions::default(),
        EnrichTopics {
            enriched: Arc::from("enriched"),
            unmatched: Arc::from("unmatched"),
            dlq: Arc::from("dlq"),
        },
        HoldPolicy { grace, max_held },
        EnrichMetrics::register(&Metrics::new("enrich-test")),
    )
}

fn message(offset: i64, e: &LearningEvent) -> Message {
    Message {
        topic: Arc::from("events"),
        partition: 0,
        offset,
        key: None,
        payload: Some(Bytes::from(encode(e).unwrap())),
        timestamp_ms: None,
        headers: Vec::new(),
    }
}

fn outputs(out: &Output, topic: &str) -> Vec<Bytes> {
    out.records()
        .iter()
        .filter(|r| &*r.topic == topic)
        .map(|r| r.payload.clone().unwrap())
        .collect()
}

#[test]
fn unmatched_events_wait_for_a_late_roster_then_time_out_with_the_reason() {
    let export = load(export_1p2().path());
    let shared = Arc::new(RwLock::new(Roster::new("t1", Default::default())));
    let mut op = operator(shared.clone(), Duration::from_secs(60), 10);
    let early = event(ActorKind::Account, "amara.okafor", &["c7a"], AUTUMN);
    let stranger = event(ActorKind::Account, "nobody", &[], AUTUMN);
    let mut out = Output::default();
    op.process_batch(&[message(0, &early), message(1, &stranger)], &mut out)
        .unwrap();
    assert!(out.records().is_empty(), "nothing yet: the roster is empty");
    assert_eq!(op.held(), 2);

    for rec in &export.records {
        shared.write().apply(rec.clone());
    }
    let mut out = Output::default();
    op.on_tick(SystemTime::now(), &mut out).unwrap();
    let joined = outputs(&out, "enriched");
    assert_eq!(joined.len(), 1, "re-joined once the roster arrived");
    assert_eq!(
        decode::<EnrichedEvent>(&joined[0]).unwrap().event_id,
        early.event_id
    );
    assert_eq!(op.held(), 1);

    let mut out = Output::default();
    op.on_tick(SystemTime::now() + Duration::from_secs(61), &mut out)
        .unwrap();
    let gone = outputs(&out, "unmatched");
    assert_eq!(gone.len(), 1);
    let letter: DeadLetter = decode(&gone[0]).unwrap();
    assert_eq!(letter.error_code, "enrich.unmatched.actor");
    assert_eq!(letter.stage, "enrich");
    assert_eq!(letter.origin.offset, Some(1));
    assert_eq!(
        decode::<LearningEvent>(&letter.payload).unwrap(),
        stranger,
        "the original event, intact"
    );
    assert_eq!(op.held(), 0);
}

#[test]
fn the_hold_is_bounded_and_garbage_is_dead_lettered() {
    let shared = Arc::new(RwLock::new(Roster::new("t1", Default::default())));
    let mut op = operator(shared, Duration::from_secs(600), 2);
    let batch: Vec<Message> = (0..5)
        .map(|i| message(i, &event(ActorKind::Account, &format!("x{i}"), &[], AUTUMN)))
        .collect();
    let mut out = Output::default();
    op.process_batch(&batch, &mut out).unwrap();
    assert_eq!(op.held(), 2);
    let routed: Vec<i64> = outputs(&out, "unmatched")
        .iter()
        .map(|b| decode::<DeadLetter>(b).unwrap().origin.offset.unwrap())
        .collect();
    assert_eq!(routed, [0, 1, 2], "the oldest go on when the hold is full");

    let mut garbage = message(9, &event(ActorKind::Account, "x", &[], AUTUMN));
    garbage.payload = Some(Bytes::from_static(b"not avro"));
    let mut out = Output::default();
    op.process_batch(&[garbage], &mut out).unwrap();
    let letter: DeadLetter = decode(&outputs(&out, "dlq")[0]).unwrap();
    assert_eq!(
        (letter.error_code.as_str(), letter.payload.as_slice()),
        ("enrich.decode", &b"not avro"[..])
    );
}

/// Serialises an enriched event to text and reports any personal value in it.
fn leaks<'a>(e: &EnrichedEvent, personal: &[&'a str]) -> Vec<&'a str> {
    let text = serde_json::to_string(e).unwrap();
    personal
        .iter()
        .copied()
        .filter(|p| text.contains(p))
        .collect()
}

/// Every field of every event produced from `roster`'s users (by each
/// identity the roster offers, in each class they are in, with a free-text
/// answer naming them and a person as object) must be free of personal data.
fn scan(export: &lap_enrich::roster::Export, personal: &[&str]) -> usize {
    let roster = roster_of(export);
    let of = |e| export.records.iter().filter(move |r| r.entity == e);
    let users: Vec<_> = of(lap_schemas::RosterEntity::User).collect();
    let classes: Vec<&str> = of(lap_schemas::RosterEntity::Class)
        .map(|r| r.sourced_id.as_str())
        .collect();
    let (k, o) = (keys(), JoinOptions::default());
    let mut produced = 0;
    for u in &users {
        let mut ids = vec![(
            ActorKind::Iri,
            format!("https://sis.example/users/{}", u.sourced_id),
        )];
        if let Some(n) = u.fields.get("username") {
            ids.push((ActorKind::Account, n.clone()));
        }
        if let Some(m) = u.fields.get("email") {
            ids.push((ActorKind::Mbox, format!("mailto:{m}")));
        }
        for (kind, id) in ids {
            for class in classes.iter().map(|c| vec![*c]).chain([vec![]]) {
                let mut ev = event(kind, &id, &class, AUTUMN);
                if let Some(name) = u.fields.get("givenName") {
                    ev.result.as_mut().unwrap().response = Some(format!("{name} says hi"));
                    ev.object = EventObject {
                        id: format!(
                            "mailto:{}",
                            u.fields.get("email").cloned().unwrap_or_default()
                        ),
                        object_type: Some("Agent".into()),
                        name: Some(name.clone()),
                    };
                }
                if let Joined::Enriched(e) = join(&roster, &ev, &k, &o) {
                    produced += 1;
                    assert_eq!(leaks(&e, personal), Vec::<&str>::new(), "{e:#?}");
                }
            }
        }
    }
    produced
}

#[test]
fn no_name_email_or_username_leaves_enrich() {
    let produced = scan(&load(export_1p2().path()), PERSONAL_1P2);
    assert!(produced >= 20, "the scan must see events ({produced})");
    // The scan itself bites: with free text kept, the answer's name shows.
    let r = roster();
    let kept = JoinOptions {
        keep_free_text: true,
    };
    let e = enriched(join(
        &r,
        &event(ActorKind::Account, "amara.okafor", &[], AUTUMN),
        &keys(),
        &kept,
    ));
    assert_eq!(leaks(&e, PERSONAL_1P2), ["Amara", "Okafor"]);
}

/// A shared fixture roster's export, or `None` (with the reason printed)
/// when `../shared/fixtures` is absent, as in a user's fresh clone.
fn shared_export(name: &str) -> Option<lap_enrich::roster::Export> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures")
        .join(name);
    if !dir.is_dir() {
        println!("skipped {name}: {} is absent", dir.display());
        return None;
    }
    Some(lap_enrich::roster::load(&dir, "t1", &mut |_| {}).unwrap())
}

/// 2020-10-01T09:00:00Z: in the lepo roster's first term (as0001) and full year (as0003).
const LEPO_AUTUMN: i64 = 1_601_542_800_000_000;
/// 2021-03-01T09:00:00Z: after as0001 ended (2021-02-01), inside as0003.
const LEPO_SPRING: i64 = 1_614_589_200_000_000;

/// Hand-written events against the lepo fixture roster. Expected values
/// read off its CSV files: us0003 (user03) is a student in cl0001 (classCode
/// C401, course co0001 "CC401", term as0001) and cl0003 (course co0002
/// "CC402", term as0003); us0001 is a `student` in users.csv but the
/// teacher of cl0001..cl0004.
#[test]
fn joins_on_the_lepo_fixture_roster_match_its_files() {
    let Some(export) = shared_export("oneroster-lepo-en") else {
        return;
    };
    let r = roster_of(&export);
    let (k, o) = (keys(), JoinOptions::default());
    let run = |kind, id: &str, refs: &[&str], time| join(&r, &event(kind, id, refs, time), &k, &o);

    let e = enriched(run(
        ActorKind::Account,
        "user03",
        &["https://lms.sample-u.ac.jp/classes/C401"],
        LEPO_AUTUMN,
    ));
    assert_eq!(e.person_key, k.key("t1", "us0003"));
    assert_eq!(
        (
            e.class_id.as_deref(),
            e.course_id.as_deref(),
            e.school_id.as_deref(),
            e.term_id.as_deref(),
            e.role
        ),
        (
            Some("cl0001"),
            Some("co0001"),
            Some("or0001"),
            Some("as0001"),
            Role::Learner
        )
    );
    let e = enriched(run(ActorKind::Account, "user03", &["CC402"], LEPO_SPRING));
    assert_eq!(
        (e.class_id.as_deref(), e.term_id.as_deref()),
        (Some("cl0003"), Some("as0003")),
        "course code CC402: user03's only class of co0002, in the full-year term"
    );
    let e = enriched(run(ActorKind::Account, "user03", &["cl0001"], LEPO_SPRING));
    assert_eq!(
        (e.class_id.as_deref(), e.term_id),
        (Some("cl0001"), None),
        "as0001 ended on 2021-02-01"
    );

    let e = enriched(run(
        ActorKind::Mbox,
        "mailto:USER05@sample-u.ac.jp",
        &["C401"],
        LEPO_AUTUMN,
    ));
    assert_eq!(
        e.person_key,
        k.key("t1", "us0005"),
        "mbox matches the email case-insensitively"
    );

    let teacher = enriched(run(ActorKind::Account, "user01", &["cl0001"], LEPO_AUTUMN));
    assert_eq!(
        teacher.role,
        Role::Teacher,
        "the enrollment's role wins over users.csv"
    );
    let outside = enriched(run(ActorKind::Account, "user01", &[], LEPO_AUTUMN));
    assert_eq!(
        (outside.role, outside.class_id),
        (Role::Learner, None),
        "users.csv role outside a class"
    );

    let Joined::Unmatched(u) = run(ActorKind::Account, "user01", &["CC401"], LEPO_AUTUMN) else {
        panic!("user01 teaches two classes of CC401: no unique class")
    };
    assert_eq!(u.code, "enrich.unmatched.class");
    let Joined::Unmatched(u) = run(ActorKind::Account, "user99", &["C401"], LEPO_AUTUMN) else {
        panic!("user99 is not in the roster")
    };
    assert_eq!(u.code, "enrich.unmatched.actor");
}

/// The oat fixture: both users share the vendor `userId` column value
/// `abc` (read as `userIds`), so an account `abc` is ambiguous, while
/// user1's username `ionut` joins class1 of school 12345 with grade 2.
#[test]
fn joins_on_the_oat_fixture_roster_match_its_files() {
    let Some(export) = shared_export("oneroster-oat-v1p1") else {
        return;
    };
    let r = roster_of(&export);
    let (k, o) = (keys(), JoinOptions::default());
    let e = enriched(join(
        &r,
        &event(ActorKind::Account, "ionut", &["class1"], AUTUMN),
        &k,
        &o,
    ));
    assert_eq!(e.person_key, k.key("t1", "user1"));
    assert_eq!(
        (
            e.class_id.as_deref(),
            e.school_id.as_deref(),
            e.grades.as_slice(),
            e.term_id
        ),
        (
            Some("class1"),
            Some("12345"),
            ["2".to_string()].as_slice(),
            None
        ),
        "the export has no academicSessions rows, so no term"
    );
    let Joined::Unmatched(u) = join(&r, &event(ActorKind::Account, "abc", &[], AUTUMN), &k, &o)
    else {
        panic!("abc is both users' userId")
    };
    assert_eq!(u.code, "enrich.ambiguous.actor");
}

#[test]
fn no_personal_data_leaves_enrich_with_the_fixture_rosters() {
    for name in ["oneroster-lepo-en", "oneroster-oat-v1p1"] {
        let Some(export) = shared_export(name) else {
            continue;
        };
        let personal: Vec<String> = export
            .records
            .iter()
            .filter(|r| r.entity == lap_schemas::RosterEntity::User)
            .flat_map(|u| {
                ["username", "givenName", "familyName", "email", "identifier"]
                    .iter()
                    .filter_map(|f| u.fields.get(*f).cloned())
            })
            .collect();
        let personal: Vec<&str> = personal.iter().map(String::as_str).collect();
        let produced = scan(&export, &personal);
        assert!(produced > 0, "{name}: the scan must see events");
    }
}

#[test]
fn the_feed_applies_records_and_tombstones_from_the_roster_topic() {
    let export = load(export_1p2().path());
    let mut r = Roster::new("t1", Default::default());
    let msg = |key: &str, payload: Option<Bytes>| Message {
        topic: Arc::from("roster"),
        partition: 0,
        offset: 0,
        key: Some(Bytes::from(key.to_string())),
        payload,
        timestamp_ms: None,
        headers: Vec::new(),
    };
    for rec in &export.records {
        let key = lap_enrich::roster::record_key("t1", rec.entity, &rec.sourced_id);
        lap_enrich::feed::apply(&mut r, &msg(&key, Some(Bytes::from(encode(rec).unwrap()))))
            .unwrap();
    }
    let (k, o) = (keys(), JoinOptions::default());
    assert!(matches!(
        join(
            &r,
            &event(ActorKind::Account, "amara.okafor", &[], AUTUMN),
            &k,
            &o
        ),
        Joined::Enriched(_)
    ));
    let before = r.version();
    lap_enrich::feed::apply(&mut r, &msg("t1/user/u1", None)).unwrap();
    assert!(r.version() > before, "a tombstone is a change");
    let Joined::Unmatched(u) = join(
        &r,
        &event(ActorKind::Account, "amara.okafor", &[], AUTUMN),
        &k,
        &o,
    ) else {
        panic!("u1 was deleted")
    };
    assert_eq!(u.code, "enrich.unmatched.actor");
    let err = lap_enrich::feed::apply(
        &mut r,
        &msg("t1/user/u2", Some(Bytes::from_static(b"junk"))),
    )
    .unwrap_err();
    assert!(err.to_string().contains("is not a RosterRecord"), "{err}");
}

/// Roster changes apply in place: a renamed user is found by the new name
/// only, a class's new code replaces the old one, a deleted enrollment
/// takes the user out of that class, and a withdrawn opt-out lets the
/// learner's events through again.
#[test]
fn roster_changes_update_the_indexes_in_place() {
    let export = load(export_1p2().path());
    let mut r = roster_of(&export);
    let (k, o) = (keys(), JoinOptions::default());
    let record = |entity, id: &str| {
        export
            .records
            .iter()
            .find(|x| x.entity == entity && x.sourced_id == id)
            .unwrap()
            .clone()
    };
    let joins = |r: &Roster, who: &str, refs: &[&str]| {
        join(r, &event(ActorKind::Account, who, refs, AUTUMN), &k, &o)
    };

    let mut u1 = record(lap_schemas::RosterEntity::User, "u1");
    u1.fields.insert("username".into(), "amara.o".into());
    let before = r.version();
    r.apply(u1);
    assert!(r.version() > before);
    assert!(matches!(
        joins(&r, "amara.okafor", &[]),
        Joined::Unmatched(_)
    ));
    assert_eq!(
        enriched(joins(&r, "amara.o", &[])).person_key,
        k.key("t1", "u1")
    );
    assert_eq!(
        enriched(joins(&r, "S-1001", &[])).person_key,
        k.key("t1", "u1")
    );

    let mut c7a = record(lap_schemas::RosterEntity::Class, "c7a");
    c7a.fields.insert("classCode".into(), "7A-MATHS".into());
    r.apply(c7a);
    assert!(matches!(
        joins(&r, "amara.o", &["7A-MATH"]),
        Joined::Unmatched(_)
    ));
    assert_eq!(
        enriched(joins(&r, "amara.o", &["7A-MATHS"]))
            .class_id
            .as_deref(),
        Some("c7a")
    );

    // u1's only class of course MATH-7 is c7a, through enrollment e1.
    assert_eq!(
        enriched(joins(&r, "amara.o", &["MATH-7"]))
            .class_id
            .as_deref(),
        Some("c7a")
    );
    let len = r.len();
    r.delete(&lap_enrich::roster::record_key(
        "t1",
        lap_schemas::RosterEntity::Enrollment,
        "e1",
    ));
    assert_eq!(r.len(), len - 1);
    let Joined::Unmatched(u) = joins(&r, "amara.o", &["MATH-7"]) else {
        panic!("without e1, u1 has no class of MATH-7")
    };
    assert_eq!(u.code, "enrich.unmatched.class");

    assert_eq!(joins(&r, "chen.wei", &[]), Joined::OptedOut);
    r.delete(&lap_enrich::roster::record_key(
        "t1",
        lap_schemas::RosterEntity::Consent,
        "u3",
    ));
    assert!(matches!(joins(&r, "chen.wei", &[]), Joined::Enriched(_)));
}
