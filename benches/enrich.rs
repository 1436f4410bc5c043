//! Enrich throughput on one core: the enrich operator over Avro-encoded
//! `LearningEvent`s (decode, join with a 100,000-learner roster, pseudonymise,
//! encode the `EnrichedEvent`), in batches as the service receives them.
//! Run: `cargo bench --bench enrich`.

#[path = "support/roster.rs"]
mod synthetic;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lap_enrich::join::{JoinOptions, Joined, join};
use lap_enrich::metrics::EnrichMetrics;
use lap_enrich::pseudonym::Pseudonymiser;
use lap_enrich::state::Roster;
use lap_enrich::{Enrich, EnrichTopics, HoldPolicy};
use lap_runtime::config::{IdentityConfig, Secret};
use lap_runtime::metrics::Metrics;
use lap_runtime::stage::{Operator, Output};
use lap_runtime::transport::Message;
use lap_schemas::{
    Action, Actor, ActorKind, EventContext, EventObject, EventResult, LearningEvent, SourceStandard,
};
use parking_lot::RwLock;

// The allocator the service binaries use.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const LEARNERS: usize = 100_000;
const CLASSES: usize = 6;
const BATCH: usize = 500;

/// A realistic scored-assessment event of `learner` in its `n`-th class.
fn event(i: usize, learner: usize, n: usize) -> LearningEvent {
    let t = 1_727_773_200_000_000 + i as i64 * 1_000_000;
    LearningEvent {
        event_id: format!("3f1c0b2a-5d4e-4f6a-9b8c-{i:012}"),
        source: SourceStandard::Xapi,
        spec_version: "1.0.3".into(),
        event_time: t,
        stored_time: t + 150_000,
        actor: Actor {
            kind: ActorKind::Account,
            id: synthetic::username(learner),
            home_page: Some("https://lms.school.example".into()),
            actor_type: Some("Agent".into()),
        },
        action: Action::Scored,
        verb: "http://adlnet.gov/expapi/verbs/scored".into(),
        object: EventObject {
            id: format!("https://lms.school.example/quizzes/{}", i % 300),
            object_type: Some("http://adlnet.gov/expapi/activities/assessment".into()),
            name: Some("Fractions quiz".into()),
        },
        result: Some(EventResult {
            score_scaled: Some(0.8),
            score_raw: Some(16.0),
            score_min: Some(0.0),
            score_max: Some(20.0),
            success: Some(true),
            completion: Some(true),
            duration_ms: Some(750_000),
            ..Default::default()
        }),
        context: EventContext {
            class_refs: vec![format!(
                "https://sis.school.example/classes/{}",
                synthetic::class_of(learner, n)
            )],
            registration: Some("ec531277-b57b-4c15-8d91-d292c5b2b8f7".into()),
            ..Default::default()
        },
        due_time: None,
        voids: None,
        extensions: None,
    }
}

fn enrich(c: &mut Criterion) {
    let mut roster = Roster::new(synthetic::TENANT, IdentityConfig::default());
    for r in synthetic::records(LEARNERS, CLASSES) {
        roster.apply(r);
    }
    let roster = Arc::new(RwLock::new(roster));
    let topic: Arc<str> = Arc::from("lap.events");
    let messages: Vec<Message> = (0..20_000)
        .map(|i| {
            let e = event(i, (i * 7919) % LEARNERS, i % CLASSES);
            Message {
                topic: topic.clone(),
                partition: 0,
                offset: i as i64,
                key: None,
                payload: Some(Bytes::from(lap_schemas::encode(&e).unwrap())),
                timestamp_ms: None,
                headers: Vec::new(),
            }
        })
        .collect();
    let keys = Pseudonymiser::new(&Secret::new("benchmark-key-of-32-characters--")).unwrap();
    let mut op = Enrich::new(
        roster.clone(),
        keys.clone(),
        JoinOptions::default(),
        EnrichTopics {
            enriched: Arc::from("lap.enriched"),
            unmatched: Arc::from("lap.unmatched"),
            dlq: Arc::from("lap.dlq"),
        },
        HoldPolicy {
            grace: Duration::from_secs(600),
            max_held: 1000,
        },
        EnrichMetrics::register(&Metrics::new("bench")),
    );
    let mut group = c.benchmark_group("enrich");
    group.throughput(Throughput::Elements(1));
    let payload = messages[0].payload.clone().unwrap();
    group.bench_function("part_avro_decode_learning_event", |b| {
        b.iter(|| lap_schemas::decode::<LearningEvent>(&payload).unwrap())
    });
    let decoded: LearningEvent = lap_schemas::decode(&payload).unwrap();
    group.bench_function("part_join", |b| {
        b.iter(|| join(&roster.read(), &decoded, &keys, &JoinOptions::default()))
    });
    let Joined::Enriched(enriched) = join(&roster.read(), &decoded, &keys, &JoinOptions::default())
    else {
        panic!("the event joins")
    };
    group.bench_function("part_avro_encode_enriched_event", |b| {
        b.iter(|| lap_schemas::encode(enriched.as_ref()).unwrap())
    });
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut chunks = messages.chunks(BATCH).cycle();
    group.bench_function(format!("operator_{LEARNERS}_learners_batch_{BATCH}"), |b| {
        b.iter(|| {
            let mut out = Output::default();
            op.process_batch(chunks.next().unwrap(), &mut out).unwrap();
            assert_eq!(out.records().len(), BATCH, "every event joins");
            out
        })
    });
    group.finish();
}

criterion_group!(benches, enrich);
criterion_main!(benches);
