//! Avro single-object encoding with a registry of every published version.
//!
//! Each message is `C3 01` + the 8-byte CRC-64-AVRO (Rabin) fingerprint of
//! the writer schema + the Avro binary datum (Avro spec, "Single-object
//! encoding"). A consumer looks the fingerprint up among the versions in
//! `schemas/history/` and resolves the writer schema to the current one, so
//! a reader built today reads every message any earlier version wrote.

use std::sync::OnceLock;

use apache_avro::Schema;
use apache_avro::headers::{HeaderBuilder, RabinFingerprintHeader};
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::fast::{Fast, FastError};
use crate::records::{DeadLetter, EnrichedEvent, IndicatorRow, LearningEvent, RosterRecord};

/// Length of the single-object header: 2 magic bytes and the fingerprint.
pub const HEADER_LEN: usize = 10;

/// Why bytes could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The bytes do not start with the single-object marker `C3 01`.
    #[error(
        "not an Avro single-object message (expected marker C3 01 and a fingerprint, got {0} bytes starting {1})"
    )]
    NotSingleObject(usize, String),
    /// The fingerprint matches no published version of the expected record.
    #[error(
        "unknown writer schema {fingerprint} for {record}: written by a newer lap, or not a {record} at all"
    )]
    UnknownSchema {
        /// Record expected.
        record: &'static str,
        /// Fingerprint found, hex.
        fingerprint: String,
    },
    /// Avro encoding or decoding failed (truncated data, type mismatch).
    #[error("avro {record}: {message}")]
    Avro {
        /// Record being encoded or decoded.
        record: &'static str,
        /// What the Avro library reported.
        message: String,
    },
}

/// One published version of a schema.
#[derive(Debug)]
pub struct Version {
    /// Version number (`vN.avsc`).
    pub number: u32,
    /// The parsed schema.
    pub schema: Schema,
    /// Its single-object header (marker + fingerprint).
    pub header: [u8; HEADER_LEN],
}

/// The current schema of a record type and all its published versions.
pub struct SchemaSet {
    name: &'static str,
    current: &'static Schema,
    header: [u8; HEADER_LEN],
    versions: Vec<Version>,
    writer: GenericDatumWriter<'static>,
    /// Reader of the current version, built once: building one resolves
    /// the schema's names, which cost as much as decoding a record.
    reader: GenericDatumReader<'static>,
}

impl std::fmt::Debug for SchemaSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaSet")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn header_of(schema: &Schema) -> [u8; HEADER_LEN] {
    let h = RabinFingerprintHeader::from_schema(schema).build_header();
    h.try_into().expect("single-object header is 10 bytes")
}

impl SchemaSet {
    /// Parses the current schema and the published versions (oldest first).
    /// The inputs are the crate's own files, so a parse failure is a bug
    /// caught by the tests, hence the panic.
    fn new(name: &'static str, current: &str, history: &[&str]) -> SchemaSet {
        let current: &'static Schema = Box::leak(Box::new(
            Schema::parse_str(current).unwrap_or_else(|e| panic!("{name}.avsc: {e}")),
        ));
        let versions = history
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let schema =
                    Schema::parse_str(text).unwrap_or_else(|e| panic!("{name} v{}: {e}", i + 1));
                Version {
                    number: i as u32 + 1,
                    header: header_of(&schema),
                    schema,
                }
            })
            .collect();
        let writer = GenericDatumWriter::builder(current)
            .validate(false)
            .build()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let reader = GenericDatumReader::builder(current)
            .build()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        SchemaSet {
            name,
            current,
            header: header_of(current),
            versions,
            writer,
            reader,
        }
    }

    /// Record name, e.g. `LearningEvent`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The schema new messages are written with.
    pub fn current(&self) -> &Schema {
        self.current
    }

    /// Every published version, oldest first.
    pub fn versions(&self) -> &[Version] {
        &self.versions
    }

    /// The single-object header of the current schema.
    pub fn header(&self) -> &[u8; HEADER_LEN] {
        &self.header
    }
}

/// A record type with an Avro schema in `schemas/avro/`.
pub trait Record: Serialize + DeserializeOwned {
    /// The schema set of this type.
    fn schemas() -> &'static SchemaSet;

    /// Writes the current version's body with the hand-written codec of
    /// [`crate::fast`], if this type has one; `false` if not.
    fn write_fast(&self, _buf: &mut Vec<u8>) -> bool {
        false
    }

    /// Reads a current-version body with the hand-written codec, if any.
    fn read_fast(_body: &[u8]) -> Option<Result<Self, FastError>> {
        None
    }
}

macro_rules! record {
    ($ty:ident, [$($v:literal),+], fast) => {
        record!($ty, [$($v),+], {
            fn write_fast(&self, buf: &mut Vec<u8>) -> bool {
                Fast::write(self, buf);
                true
            }

            fn read_fast(body: &[u8]) -> Option<Result<Self, FastError>> {
                Some(crate::fast::read_all(body))
            }
        });
    };
    ($ty:ident, [$($v:literal),+]) => {
        record!($ty, [$($v),+], {});
    };
    ($ty:ident, [$($v:literal),+], { $($fast:tt)* }) => {
        impl Record for $ty {
            $($fast)*

            fn schemas() -> &'static SchemaSet {
                static SET: OnceLock<SchemaSet> = OnceLock::new();
                SET.get_or_init(|| {
                    SchemaSet::new(
                        stringify!($ty),
                        include_str!(concat!("../avro/", stringify!($ty), ".avsc")),
                        &[$(include_str!(concat!("../history/", stringify!($ty), "/v", $v, ".avsc"))),+],
                    )
                })
            }
        }
    };
}

record!(LearningEvent, ["1"], fast);
record!(EnrichedEvent, ["1"], fast);
record!(IndicatorRow, ["1", "2"]);
record!(DeadLetter, ["1"]);
record!(RosterRecord, ["1", "2"]);

/// Encodes `record` as a single-object message with the current schema.
pub fn encode<R: Record>(record: &R) -> Result<Vec<u8>, CodecError> {
    // Room for a typical event: growing the buffer copies it.
    let mut buf = Vec::with_capacity(1024);
    encode_into(record, &mut buf)?;
    Ok(buf)
}

/// Appends the single-object encoding of `record` to `buf`.
pub fn encode_into<R: Record>(record: &R, buf: &mut Vec<u8>) -> Result<(), CodecError> {
    buf.extend_from_slice(&R::schemas().header);
    if record.write_fast(buf) {
        return Ok(());
    }
    write_generic(record, buf)
}

/// The single-object encoding of `record` by `apache-avro`'s generic
/// writer: the reference the hand-written codecs are tested against.
pub fn encode_generic<R: Record>(record: &R) -> Result<Vec<u8>, CodecError> {
    let mut buf = R::schemas().header.to_vec();
    write_generic(record, &mut buf)?;
    Ok(buf)
}

fn write_generic<R: Record>(record: &R, buf: &mut Vec<u8>) -> Result<(), CodecError> {
    let set = R::schemas();
    set.writer
        .write_ser(buf, record)
        .map_err(|e| CodecError::Avro {
            record: set.name,
            message: e.to_string(),
        })?;
    Ok(())
}

/// Decodes a single-object message written with any published version.
pub fn decode<R: Record>(bytes: &[u8]) -> Result<R, CodecError> {
    decode_with(bytes, true)
}

/// Decodes like [`decode`] but always with `apache-avro`'s generic reader:
/// the reference the hand-written codecs are tested against.
pub fn decode_generic<R: Record>(bytes: &[u8]) -> Result<R, CodecError> {
    decode_with(bytes, false)
}

fn decode_with<R: Record>(bytes: &[u8], fast: bool) -> Result<R, CodecError> {
    let set = R::schemas();
    if bytes.len() < HEADER_LEN || bytes[..2] != [0xC3, 0x01] {
        let start: String = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return Err(CodecError::NotSingleObject(bytes.len(), start));
    }
    let (header, mut body) = bytes.split_at(HEADER_LEN);
    let avro_err = |e: apache_avro::Error| CodecError::Avro {
        record: set.name,
        message: e.to_string(),
    };
    if header == set.header {
        if fast && let Some(read) = R::read_fast(body) {
            return read.map_err(|e| CodecError::Avro {
                record: set.name,
                message: e.to_string(),
            });
        }
        return set.reader.read_deser(&mut body).map_err(avro_err);
    }
    let writer = set
        .versions
        .iter()
        .find(|v| v.header == header)
        .ok_or_else(|| CodecError::UnknownSchema {
            record: set.name,
            fingerprint: header[2..].iter().map(|b| format!("{b:02x}")).collect(),
        })?;
    let reader = GenericDatumReader::builder(&writer.schema)
        .reader_schema(set.current)
        .build()
        .map_err(avro_err)?;
    let value = reader.read_value(&mut body).map_err(avro_err)?;
    apache_avro::from_value(&value).map_err(avro_err)
}
