//! Schema evolution: every published version is kept in `schemas/history/`,
//! the current schema is the latest published one, and a reader with the
//! current schema reads data written with every version. The last test shows
//! the check rejects an incompatible change.

use std::collections::HashMap;
use std::path::Path;

use apache_avro::Schema;
use apache_avro::schema::{Name, ResolvedSchema};
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use lap_schemas::compat::check_backward;
use lap_schemas::*;

fn versions_on_disk(name: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("history")
        .join(name);
    let mut files: Vec<(u32, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let stem = p.file_stem()?.to_str()?.strip_prefix('v')?.parse().ok()?;
            Some((stem, std::fs::read_to_string(&p).unwrap()))
        })
        .collect();
    files.sort();
    for (i, (n, _)) in files.iter().enumerate() {
        assert_eq!(
            *n as usize,
            i + 1,
            "{name}: history versions must be v1, v2, ... without gaps"
        );
    }
    files.into_iter().map(|(_, text)| text).collect()
}

/// A small deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A random value conforming to `schema`.
fn sample(schema: &Schema, names: &HashMap<Name, &Schema>, rng: &mut Rng, depth: u32) -> Value {
    match schema {
        Schema::Null => Value::Null,
        Schema::Boolean => Value::Boolean(rng.below(2) == 1),
        Schema::Int => Value::Int(rng.next() as i32),
        Schema::Long => Value::Long(rng.next() as i64),
        Schema::Float => Value::Float((rng.below(1000) as f32) / 7.0),
        Schema::Double => Value::Double((rng.below(100_000) as f64) / 13.0),
        Schema::Bytes => Value::Bytes((0..rng.below(8)).map(|_| rng.next() as u8).collect()),
        Schema::String => Value::String(format!("s{}", rng.below(1000))),
        Schema::TimestampMicros => {
            Value::TimestampMicros((rng.below(4_000_000_000) * 1_000_000) as i64)
        }
        Schema::Array(a) => {
            let n = if depth > 4 { 0 } else { rng.below(3) };
            Value::Array(
                (0..n)
                    .map(|_| sample(&a.items, names, rng, depth + 1))
                    .collect(),
            )
        }
        Schema::Map(m) => {
            let n = if depth > 4 { 0 } else { rng.below(3) };
            Value::Map(
                (0..n)
                    .map(|i| (format!("k{i}"), sample(&m.types, names, rng, depth + 1)))
                    .collect(),
            )
        }
        Schema::Union(u) => {
            let i = rng.below(u.variants().len() as u64) as usize;
            Value::Union(
                i as u32,
                Box::new(sample(&u.variants()[i], names, rng, depth + 1)),
            )
        }
        Schema::Record(r) => Value::Record(
            r.fields
                .iter()
                .map(|f| (f.name.clone(), sample(&f.schema, names, rng, depth + 1)))
                .collect(),
        ),
        Schema::Enum(e) => {
            let i = rng.below(e.symbols.len() as u64) as usize;
            Value::Enum(i as u32, e.symbols[i].clone())
        }
        Schema::Ref { name } => sample(names[name], names, rng, depth + 1),
        other => panic!("the sampler does not cover {other:?}; extend it with the schema"),
    }
}

/// For each published version: static compatibility, and 200 random
/// messages written with that version decode into today's Rust type.
fn readable_from_every_version<R: Record + std::fmt::Debug>() {
    let set = R::schemas();
    let texts = versions_on_disk(set.name());
    assert_eq!(
        texts.len(),
        set.versions().len(),
        "{}: every file in history/ must be registered in codec.rs",
        set.name()
    );
    let latest = Schema::parse_str(texts.last().unwrap()).unwrap();
    assert_eq!(
        latest.canonical_form(),
        set.current().canonical_form(),
        "{name}.avsc differs from the latest published version: publish it as history/{name}/v{next}.avsc and register it",
        name = set.name(),
        next = texts.len() + 1
    );
    let writers: Vec<(String, &Schema)> = set
        .versions()
        .iter()
        .map(|v| (format!("{} v{}", set.name(), v.number), &v.schema))
        .collect();
    check_backward(set.current(), &writers).unwrap_or_else(|p| panic!("{p:#?}"));

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for v in set.versions() {
        let resolved = ResolvedSchema::try_from(&v.schema).unwrap();
        let names = resolved.get_names().clone();
        let writer = GenericDatumWriter::builder(&v.schema).build().unwrap();
        for _ in 0..200 {
            let value = sample(&v.schema, &names, &mut rng, 0);
            let mut bytes = v.header.to_vec();
            writer.write_value(&mut bytes, value.clone()).unwrap();
            let decoded: Result<R, _> = decode(&bytes);
            assert!(
                decoded.is_ok(),
                "v{} value {value:?} not readable: {:?}",
                v.number,
                decoded.err()
            );
        }
    }
}

#[test]
fn learning_event_reads_every_version() {
    readable_from_every_version::<LearningEvent>();
}

#[test]
fn enriched_event_reads_every_version() {
    readable_from_every_version::<EnrichedEvent>();
}

#[test]
fn indicator_row_reads_every_version() {
    readable_from_every_version::<IndicatorRow>();
}

#[test]
fn dead_letter_reads_every_version() {
    readable_from_every_version::<DeadLetter>();
}

#[test]
fn roster_record_reads_every_version() {
    readable_from_every_version::<RosterRecord>();
}

/// The check bites: two typical breaking changes to LearningEvent are
/// rejected, naming what broke, while a compatible one passes.
#[test]
fn incompatible_changes_are_rejected() {
    let current = LearningEvent::schemas().current();
    let v1 = &LearningEvent::schemas().versions()[0].schema;
    let writers = vec![("LearningEvent v1".to_string(), v1)];
    let mut json: serde_json::Value =
        serde_json::from_str(include_str!("../avro/LearningEvent.avsc")).unwrap();

    // 1. A new field without a default: old data has no value for it.
    let mut added = json.clone();
    added["fields"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!(
            {"name": "school_year", "type": "string", "doc": "new, required"}
        ));
    let reader = Schema::parse_str(&added.to_string()).unwrap();
    let problems = check_backward(&reader, &writers).unwrap_err();
    assert!(problems[0].contains("school_year"), "{problems:?}");

    // 2. A field's type narrowed from string to int.
    for f in json["fields"].as_array_mut().unwrap() {
        if f["name"] == "verb" {
            f["type"] = serde_json::json!("int");
        }
    }
    let reader = Schema::parse_str(&json.to_string()).unwrap();
    assert!(check_backward(&reader, &writers).is_err());

    // 3. A new optional field with a default is compatible.
    let mut optional: serde_json::Value =
        serde_json::from_str(include_str!("../avro/LearningEvent.avsc")).unwrap();
    optional["fields"].as_array_mut().unwrap().push(serde_json::json!(
        {"name": "school_year", "type": ["null", "string"], "default": null, "doc": "new, optional"}
    ));
    let reader = Schema::parse_str(&optional.to_string()).unwrap();
    check_backward(&reader, &writers).expect("adding an optional field is compatible");
    assert!(check_backward(current, &writers).is_ok());
}
