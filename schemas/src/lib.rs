//! The canonical records of lap and their wire format.
//!
//! Every topic between stages carries one of five records, each defined by
//! an Avro schema in `schemas/avro/` (the contract, with a description for
//! every field) and mirrored by a Rust type in [`records`]:
//!
//! | record | topic | written by |
//! |---|---|---|
//! | [`LearningEvent`] | `lap.events` | ingest |
//! | [`EnrichedEvent`] | `lap.enriched` | enrich |
//! | [`IndicatorRow`] | `lap.indicators` | aggregate |
//! | [`DeadLetter`] | `lap.dlq` | any stage |
//! | [`RosterRecord`] | `lap.roster` | `lap roster load` |
//!
//! [`codec`] writes them in Avro single-object encoding, whose header names
//! the writer schema by fingerprint; every published version stays in
//! `schemas/history/` so old messages stay readable, and [`compat`] is the
//! check that a schema change keeps them readable.

pub mod codec;
pub mod compat;
pub mod fast;
pub mod records;

/// The current Avro schema text of every record, by record name. Each field
/// carries a `doc` and a `privacy` attribute (`personal`, `pseudonymous` or
/// `none`); `lap catalog` builds the data catalogue from them, so the
/// catalogue cannot drift from the contract. Avro ignores both attributes
/// when it compares schemas.
pub const AVRO_SCHEMAS: [(&str, &str); 5] = [
    ("LearningEvent", include_str!("../avro/LearningEvent.avsc")),
    ("EnrichedEvent", include_str!("../avro/EnrichedEvent.avsc")),
    ("IndicatorRow", include_str!("../avro/IndicatorRow.avsc")),
    ("DeadLetter", include_str!("../avro/DeadLetter.avsc")),
    ("RosterRecord", include_str!("../avro/RosterRecord.avsc")),
];

pub use codec::{CodecError, Record, decode, decode_generic, encode, encode_generic, encode_into};
pub use records::{
    Action, Actor, ActorKind, DeadLetter, EnrichedEvent, EntityKind, EventContext, EventObject,
    EventResult, Flag, IndicatorRow, LearningEvent, Origin, OriginKind, Problem, Role,
    RosterEntity, RosterRecord, RosterStatus, SourceStandard, WindowKind,
};
