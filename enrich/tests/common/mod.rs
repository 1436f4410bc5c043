//! Helpers around `tests/data/oneroster-1p2`, a small OneRoster 1.2 export
//! written for these tests from the 1.2 CSV binding: a UTF-8 BOM, columns out of the spec's order, quoted and
//! unquoted values, `roles.csv`, the 1.2 user fields and Japan profile
//! metadata, plus lap's curriculum, questionnaire and consent files.
#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};

use lap_enrich::roster::{self, Export};
use lap_enrich::state::Roster;
use lap_runtime::config::IdentityConfig;

/// The export's folder in the repository (`tests/data/oneroster-1p2`).
pub fn export_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/oneroster-1p2")
}

/// The export's text of file `name`.
pub fn file_1p2(name: &str) -> String {
    std::fs::read_to_string(export_dir().join(name)).unwrap()
}

/// Personal values of the export's users: none may appear in any
/// `EnrichedEvent`.
pub const PERSONAL_1P2: &[&str] = &[
    "amara.okafor",
    "Amara",
    "Okafor",
    "amara.okafor@hillside.example",
    "bjorn.lindqvist",
    "Björn",
    "Lindqvist",
    "bjorn.lindqvist@hillside.example",
    "chen.wei",
    "Wei",
    "Chen",
    "chen.wei@hillside.example",
    "mrs.hughes",
    "Eleanor",
    "Hughes",
    "eleanor.hughes@hillside.example",
    "lms-991",
    "lms-992",
    "S-1001",
    "S-1002",
];

/// Writes `files` into `dir`.
pub fn write_export(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// Loads `dir` for tenant `t1`, panicking on a fatal error.
pub fn load(dir: &Path) -> Export {
    roster::load(dir, "t1", &mut |_| {}).unwrap()
}

/// A roster holding every record of `export`.
pub fn roster_of(export: &Export) -> Roster {
    let mut r = Roster::new("t1", IdentityConfig::default());
    for rec in &export.records {
        r.apply(rec.clone());
    }
    r
}

/// A temporary copy of the 1.2 export, for tests that change it.
pub fn export_1p2() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(export_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}
