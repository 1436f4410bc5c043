//! Loading a OneRoster bulk or delta export (a folder or a zip) into
//! [`RosterRecord`]s, and working out what to publish to the compacted
//! roster topic so that loading the same export twice changes nothing.
//!
//! `manifest.csv` is read first: it names the OneRoster version and, per
//! file, whether it is `bulk` (the complete set: rows missing from it are
//! deleted), `delta` (changes only: `status=tobedeleted` deletes) or
//! `absent`. lap's own files (`lap-curriculum.csv`, `lap-questionnaire.csv`,
//! `lap-consent.csv`) are read from the same place when present, as bulk.

mod csv_file;
mod source;
pub mod spec;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use lap_schemas::{CodecError, RosterEntity, RosterRecord, RosterStatus, encode};

use csv_file::FileContext;
pub use csv_file::parse_date_time;
pub use source::ExportSource;
use spec::{FILES, FileSpec, LAP_FILES};

/// Whether a file holds the complete set of its entity or only changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileMode {
    /// The complete set: anything not in it no longer exists.
    Bulk,
    /// Changes since the last export.
    Delta,
}

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The row (or file) was not loaded.
    Error,
    /// Loaded, but something the specification asks for is missing.
    Warning,
}

/// One problem, located well enough to fix it in the SIS export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// File name within the export.
    pub file: String,
    /// 1-based line (1 is the header).
    pub line: u64,
    /// Column concerned, when one is.
    pub column: Option<String>,
    /// Error (row rejected) or warning (row loaded).
    pub severity: Severity,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: {}:{}", self.file, self.line)?;
        if let Some(c) = &self.column {
            write!(f, " column `{c}`")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Rows read, loaded and rejected in one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSummary {
    /// File name within the export.
    pub file: String,
    /// Bulk or delta, as the manifest says.
    pub mode: FileMode,
    /// Data rows read (header excluded).
    pub read: u64,
    /// Rows that became records.
    pub loaded: u64,
    /// Rows rejected (see the issues).
    pub rejected: u64,
}

/// A loaded export: the records, where each came from, and every problem.
#[derive(Debug)]
pub struct Export {
    /// OneRoster version from the manifest (`1.0`, `1.1` or `1.2`).
    pub spec_version: String,
    /// Accepted rows, in load order.
    pub records: Vec<RosterRecord>,
    /// Entities whose file was bulk: their current set is exactly what
    /// `records` holds, so anything else of theirs is deleted.
    pub bulk: Vec<RosterEntity>,
    /// Per-file counts.
    pub files: Vec<FileSummary>,
    /// Problems found, in file and line order.
    pub issues: Vec<Issue>,
}

impl Export {
    /// Whether any row or file was rejected.
    pub fn has_errors(&self) -> bool {
        self.issues.iter().any(|i| i.severity == Severity::Error)
    }
}

/// Problems that stop a load before any row is read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The path could not be read.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// What was being read.
        path: PathBuf,
        /// Why it failed.
        reason: String,
    },
    /// There is no manifest.
    #[error(
        "{0} has no manifest.csv; a OneRoster export starts with one (propertyName,value rows naming oneroster.version and file.<name> bulk|delta|absent)"
    )]
    NoManifest(PathBuf),
    /// The manifest is unusable.
    #[error("manifest.csv: {0}")]
    Manifest(String),
    /// The tenant name cannot be used in a record key.
    #[error("tenant `{0}` must be non-empty and must not contain `/`")]
    Tenant(String),
}

/// Progress of a load, for a progress bar.
#[derive(Clone, Copy, Debug)]
pub struct Progress<'a> {
    /// File being read.
    pub file: &'a str,
    /// Bytes of the whole export read so far.
    pub done: u64,
    /// Bytes of the whole export.
    pub total: u64,
}

/// Loads the export at `path` (folder or `.zip`) for `tenant`.
pub fn load(
    path: &Path,
    tenant: &str,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Export, LoadError> {
    if tenant.is_empty() || tenant.contains('/') {
        return Err(LoadError::Tenant(tenant.into()));
    }
    let mut source = ExportSource::open(path)?;
    let manifest = source
        .read("manifest.csv")?
        .ok_or_else(|| LoadError::NoManifest(path.to_path_buf()))?;
    let manifest = parse_manifest(&manifest)?;
    let spec_version = manifest
        .get("oneroster.version")
        .cloned()
        .ok_or_else(|| LoadError::Manifest("oneroster.version is missing".into()))?;
    if !["1.0", "1.1", "1.2"].contains(&spec_version.as_str()) {
        return Err(LoadError::Manifest(format!(
            "oneroster.version `{spec_version}` is not 1.0, 1.1 or 1.2"
        )));
    }

    let mut plan: Vec<(&FileSpec, FileMode, Vec<u8>)> = Vec::new();
    let mut issues = Vec::new();
    for spec in FILES {
        let file = format!("{}.csv", spec.name);
        let declared = manifest
            .get(&format!("file.{}", spec.name))
            .map(String::as_str);
        let bytes = source.read(&file)?;
        let mode = match declared {
            Some("bulk") => FileMode::Bulk,
            Some("delta") => FileMode::Delta,
            Some("absent") | None => {
                if bytes.is_some() {
                    issues.push(Issue {
                        file: file.clone(),
                        line: 1,
                        column: None,
                        severity: Severity::Warning,
                        reason:
                            "present, but the manifest does not list it as bulk or delta; skipped"
                                .into(),
                    });
                }
                continue;
            }
            Some(other) => {
                return Err(LoadError::Manifest(format!(
                    "file.{} is `{other}`; use bulk, delta or absent",
                    spec.name
                )));
            }
        };
        match bytes {
            Some(b) => plan.push((spec, mode, b)),
            None => issues.push(Issue {
                file,
                line: 0,
                column: None,
                severity: Severity::Error,
                reason: "the manifest lists it, but it is not in the export".into(),
            }),
        }
    }
    for spec in LAP_FILES {
        if let Some(b) = source.read(&format!("{}.csv", spec.name))? {
            plan.push((spec, FileMode::Bulk, b));
        }
    }

    let total = plan.iter().map(|(_, _, b)| b.len() as u64).sum();
    let mut done = 0;
    let mut export = Export {
        spec_version: spec_version.clone(),
        records: Vec::new(),
        bulk: Vec::new(),
        files: Vec::new(),
        issues,
    };
    for (spec, mode, bytes) in &plan {
        let file = format!("{}.csv", spec.name);
        let version = if spec.name.starts_with("lap-") {
            "lap"
        } else {
            &spec_version
        };
        let ctx = FileContext {
            spec,
            file: file.clone(),
            mode: *mode,
            tenant,
            spec_version: version,
        };
        let mut records = Vec::new();
        let summary = csv_file::read(&ctx, bytes, &mut records, &mut export.issues, &mut |n| {
            done += n;
            progress(Progress {
                file: &file,
                done,
                total,
            });
        });
        if spec.published {
            export.records.extend(records);
            if *mode == FileMode::Bulk {
                export.bulk.push(spec.entity);
            }
        }
        export.files.push(summary);
    }
    progress(Progress {
        file: "",
        done: total,
        total,
    });
    Ok(export)
}

fn parse_manifest(bytes: &[u8]) -> Result<BTreeMap<String, String>, LoadError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let mut out = BTreeMap::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| LoadError::Manifest(e.to_string()))?;
        if row.len() != 2 {
            return Err(LoadError::Manifest(format!(
                "line {}: expected propertyName,value, found {} values",
                i + 2,
                row.len()
            )));
        }
        out.insert(row[0].trim().to_string(), row[1].trim().to_string());
    }
    Ok(out)
}

/// Kafka key of a roster record: `tenant/entity/sourcedId`. Compaction keeps
/// the latest value per key; a tombstone (no value) deletes it.
pub fn record_key(tenant: &str, entity: RosterEntity, sourced_id: &str) -> String {
    format!("{tenant}/{}/{sourced_id}", entity_name(entity))
}

/// Splits a key made by [`record_key`].
pub fn parse_key(key: &str) -> Option<(&str, RosterEntity, &str)> {
    let mut parts = key.splitn(3, '/');
    let (tenant, entity, id) = (parts.next()?, parts.next()?, parts.next()?);
    let entity = ENTITIES.iter().find(|e| entity_name(**e) == entity)?;
    Some((tenant, *entity, id))
}

const ENTITIES: &[RosterEntity] = &[
    RosterEntity::Org,
    RosterEntity::AcademicSession,
    RosterEntity::Course,
    RosterEntity::Class,
    RosterEntity::User,
    RosterEntity::Enrollment,
    RosterEntity::Demographics,
    RosterEntity::Role,
    RosterEntity::CurriculumObjective,
    RosterEntity::QuestionnaireItem,
    RosterEntity::Consent,
    RosterEntity::Other,
    RosterEntity::ClassMember,
];

/// The schema's symbol for an entity.
pub fn entity_name(e: RosterEntity) -> &'static str {
    match e {
        RosterEntity::Org => "org",
        RosterEntity::AcademicSession => "academic_session",
        RosterEntity::Course => "course",
        RosterEntity::Class => "class",
        RosterEntity::User => "user",
        RosterEntity::Enrollment => "enrollment",
        RosterEntity::Demographics => "demographics",
        RosterEntity::Role => "role",
        RosterEntity::CurriculumObjective => "curriculum_objective",
        RosterEntity::QuestionnaireItem => "questionnaire_item",
        RosterEntity::Consent => "consent",
        RosterEntity::Other => "other",
        RosterEntity::ClassMember => "class_member",
    }
}

/// One write to the roster topic.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// A new or changed record.
    Upsert(RosterRecord),
    /// A tombstone for this key.
    Delete(String),
}

/// What the roster topic holds for one tenant, as `lap roster load`
/// compares an export with it: each record key with a fingerprint of its
/// published value (not the value: a million users' records would not fit
/// a small job's memory).
#[derive(Clone, Debug, Default)]
pub struct Published {
    tenant: String,
    keys: BTreeMap<String, u64>,
}

/// A fingerprint of a record's published (Avro) value.
fn fingerprint(value: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(value)
}

impl Published {
    /// Nothing published yet for `tenant`.
    pub fn new(tenant: impl Into<String>) -> Self {
        Published {
            tenant: tenant.into(),
            keys: BTreeMap::new(),
        }
    }

    /// Applies one roster-topic message: a value upserts its key, a
    /// tombstone (`None`) deletes it. Other tenants' keys are ignored.
    pub fn apply(&mut self, key: &[u8], value: Option<&[u8]>) {
        let key = String::from_utf8_lossy(key);
        if parse_key(&key).is_none_or(|(t, _, _)| t != self.tenant) {
            return;
        }
        match value {
            Some(v) => self.keys.insert(key.into_owned(), fingerprint(v)),
            None => self.keys.remove(key.as_ref()),
        };
    }

    /// Number of records published.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether nothing is published.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// What to publish so that the topic, holding `current`, matches the
/// export (loaded for the same tenant): changed or new records, and deletions for delta `tobedeleted`
/// rows and for keys of bulk entities the export no longer has. Unchanged
/// records are not published again, so a re-load changes nothing downstream.
pub fn plan(current: &Published, export: &Export) -> Result<Vec<Change>, CodecError> {
    let tenant = current.tenant.as_str();
    let mut changes = Vec::new();
    let mut present = std::collections::HashSet::new();
    for r in &export.records {
        let key = record_key(tenant, r.entity, &r.sourced_id);
        match r.status {
            RosterStatus::Tobedeleted => {
                if current.keys.contains_key(&key) {
                    changes.push(Change::Delete(key.clone()));
                }
            }
            RosterStatus::Active => {
                if current.keys.get(&key) != Some(&fingerprint(&encode(r)?)) {
                    changes.push(Change::Upsert(r.clone()));
                }
            }
        }
        present.insert(key);
    }
    for key in current.keys.keys() {
        let bulk = parse_key(key).is_some_and(|(_, e, _)| export.bulk.contains(&e));
        if bulk && !present.contains(key) {
            changes.push(Change::Delete(key.clone()));
        }
    }
    Ok(changes)
}

/// What to publish so that the topic's records of the derived `entity`
/// (computed whole from the roster each time, e.g. `class_member`) are
/// exactly `records`: new or changed ones, and deletions for the rest.
pub fn plan_derived(
    current: &Published,
    entity: RosterEntity,
    records: &[RosterRecord],
) -> Result<Vec<Change>, CodecError> {
    let tenant = current.tenant.as_str();
    let mut changes = Vec::new();
    let mut present = std::collections::HashSet::new();
    for r in records {
        let key = record_key(tenant, entity, &r.sourced_id);
        if current.keys.get(&key) != Some(&fingerprint(&encode(r)?)) {
            changes.push(Change::Upsert(r.clone()));
        }
        present.insert(key);
    }
    for key in current.keys.keys() {
        let derived = parse_key(key).is_some_and(|(_, e, _)| e == entity);
        if derived && !present.contains(key) {
            changes.push(Change::Delete(key.clone()));
        }
    }
    Ok(changes)
}
