//! The views service's own records (`lap views`, `lap digest`): access
//! records, flag actions, groups and digests, in PostgreSQL and in the lake.

use lap_runtime::config::Config;
use lap_sink::delta::purge::VIEWS_DIR as LAKE_FOLDER;

use super::{Column, Dataset, Privacy};

const SERVICE: &str = "lap views reads the indicator tables, the roster export and the pseudonymisation key; it shows teachers their classes and those classes' learners by name, school leaders class and school rows only, guardians their own children and learners themselves, and puts names on rows only while rendering a page.";

/// (name, PostgreSQL type, JSON type, privacy, description)
type Field = (
    &'static str,
    &'static str,
    &'static str,
    Privacy,
    &'static str,
);

/// The class and code of a flag, as flag actions and digests keep them.
const FLAG_CLASS: Field = (
    "class_id",
    "text",
    "string or null",
    Privacy::None,
    "Class of the flagged row.",
);
const FLAG_CODE: Field = ("code", "text", "string", Privacy::None, "Flag code.");

const ACCESS: &[Field] = &[
    (
        "at",
        "timestamptz",
        "integer (µs since 1970, UTC)",
        Privacy::None,
        "When the page was shown.",
    ),
    (
        "viewer",
        "text",
        "string",
        Privacy::Personal,
        "Roster sourcedId of the person who saw it.",
    ),
    (
        "role",
        "text",
        "string",
        Privacy::None,
        "Their role: teacher, leader, guardian or learner.",
    ),
    (
        "person_key",
        "text",
        "string",
        Privacy::Pseudonymous,
        "Pseudonym of the learner whose rows were shown.",
    ),
    (
        "view",
        "text",
        "string",
        Privacy::None,
        "Which page: class, learner or learner.csv.",
    ),
];

const FLAG_ACTIONS: &[Field] = &[
    (
        "at",
        "timestamptz",
        "integer (µs since 1970, UTC)",
        Privacy::None,
        "When the teacher acted.",
    ),
    (
        "viewer",
        "text",
        "string",
        Privacy::Personal,
        "Roster sourcedId of the teacher.",
    ),
    (
        "person_key",
        "text",
        "string",
        Privacy::Pseudonymous,
        "Pseudonym of the flagged learner.",
    ),
    FLAG_CLASS,
    FLAG_CODE,
    (
        "action",
        "text",
        "string",
        Privacy::None,
        "acknowledged, resolved or not_useful.",
    ),
    (
        "window_start",
        "timestamptz",
        "integer (µs since 1970, UTC)",
        Privacy::None,
        "Window of the flagged row: the action holds until a later window raises the flag again.",
    ),
    (
        "note",
        "text",
        "string",
        Privacy::Personal,
        "The teacher's short note on a resolution (at most 280 characters); free text, so treated as personal.",
    ),
];

const GROUPS: &[Field] = &[
    (
        "id",
        "text",
        "string",
        Privacy::None,
        "Random id of the group (its address in the views).",
    ),
    (
        "created_at",
        "timestamptz",
        "integer (µs since 1970, UTC)",
        Privacy::None,
        "When it was saved.",
    ),
    (
        "owner",
        "text",
        "string",
        Privacy::Personal,
        "Roster sourcedId of the teacher who saved it.",
    ),
    (
        "class_id",
        "text",
        "string",
        Privacy::None,
        "The class its members were picked from.",
    ),
    (
        "name",
        "text",
        "string",
        Privacy::Personal,
        "The name the teacher gave it; free text, so treated as personal.",
    ),
    (
        "members",
        "text[]",
        "array of strings",
        Privacy::Pseudonymous,
        "Pseudonyms of the learners in it.",
    ),
    (
        "shared_with",
        "text[]",
        "array of strings",
        Privacy::Personal,
        "Roster sourcedIds of the colleagues it is shared with.",
    ),
];

const DIGEST_PREFS: &[Field] = &[
    (
        "person",
        "text",
        "string",
        Privacy::Personal,
        "Roster sourcedId of the teacher.",
    ),
    (
        "frequency",
        "text",
        "string",
        Privacy::None,
        "none, daily or weekly.",
    ),
    (
        "updated_at",
        "timestamptz",
        "integer (µs since 1970, UTC)",
        Privacy::None,
        "When the teacher chose.",
    ),
];

const DIGESTS: &[Field] = &[
    (
        "person",
        "text",
        "string",
        Privacy::Personal,
        "Roster sourcedId of the teacher.",
    ),
    (
        "period",
        "text",
        "string",
        Privacy::None,
        "The digest's day (2026-12-08) or ISO week (2026-W50).",
    ),
    (
        "sent_at",
        "timestamptz",
        "integer (µs since 1970, UTC)",
        Privacy::None,
        "When it was worked out and sent.",
    ),
    (
        "channels",
        "text[]",
        "array of strings",
        Privacy::None,
        "Where it went (email, webhook); empty when nothing was new.",
    ),
];

const DIGEST_FLAGS: &[Field] = &[
    (
        "person",
        "text",
        "string",
        Privacy::Personal,
        "Roster sourcedId of the teacher the digest was for.",
    ),
    (
        "period",
        "text",
        "string",
        Privacy::None,
        "The digest's period.",
    ),
    (
        "person_key",
        "text",
        "string",
        Privacy::Pseudonymous,
        "Pseudonym of the learner whose flag was open.",
    ),
    FLAG_CLASS,
    FLAG_CODE,
    (
        "window_kind",
        "text",
        "string",
        Privacy::None,
        "daily or weekly: the kind of the newest row carrying the flag.",
    ),
    (
        "value",
        "double precision",
        "number or null",
        Privacy::Pseudonymous,
        "The flag's measure (e.g. days inactive), compared by the next digest to tell a worse flag.",
    ),
];

/// The datasets of the views service in the stores `cfg` enables.
pub fn datasets(cfg: &Config) -> Vec<Dataset> {
    let mut out = Vec::new();
    let sets = [
        (
            "views_access",
            "access.jsonl",
            "One record per page that showed a learner's rows: who, whose, when, which page.",
            "kept (the learner's and guardians' record of who looked); lap erase removes a learner's records",
            ACCESS,
        ),
        (
            "views_flag_actions",
            "flag-actions.jsonl",
            "What teachers did with early-warning flags.",
            "kept; lap erase removes a learner's records",
            FLAG_ACTIONS,
        ),
        (
            "views_groups",
            "groups.jsonl",
            "Groups of learners a teacher saved, and who they are shared with (the lake file keeps every version; the newest per id counts).",
            "kept; lap erase removes a learner from every group",
            GROUPS,
        ),
        (
            "views_digest_prefs",
            "digest-prefs.jsonl",
            "How often each teacher wants a digest of new and worsening flags (the lake file keeps every choice; the newest counts).",
            "kept while the teacher is in the roster",
            DIGEST_PREFS,
        ),
        (
            "views_digests",
            "digests.jsonl",
            "One record per digest period and teacher (lap digest): when it went out and over which channels.",
            "kept",
            DIGESTS,
        ),
        (
            "views_digest_flags",
            "digest-flags.jsonl",
            "The open flags each digest found, the baseline the teacher's next digest compares with.",
            "kept; lap erase removes a learner's records",
            DIGEST_FLAGS,
        ),
    ];
    for (table, file, what, retention, fields) in sets {
        let columns = |lake: bool| {
            fields
                .iter()
                .map(|(name, pg, json, privacy, description)| Column {
                    name: name.to_string(),
                    data_type: (if lake { json } else { pg }).to_string(),
                    description: description.to_string(),
                    privacy: *privacy,
                })
                .collect()
        };
        let dataset = |name: String, kind, format: &str, location: String, lake: bool| {
            Dataset {
            name,
            kind,
            description: format!("{what} {SERVICE}"),
            format: format.into(),
            retention: retention.into(),
            lineage: "written by lap views and lap digest; read by them (the who-looked list of a learner's page, the next digest) and by auditors".into(),
            location,
            columns: columns(lake),
        }
        };
        if cfg.sink.lake.enabled {
            out.push(dataset(
                table.into(),
                "lake file",
                "NDJSON, one record per line",
                format!("{}/{LAKE_FOLDER}/{file}", cfg.sink.lake.path),
                true,
            ));
        }
        if cfg.sink.postgres.enabled {
            let schema = &cfg.sink.postgres.schema;
            out.push(dataset(
                format!("{schema}.{table}"),
                "PostgreSQL table",
                "PostgreSQL table (migrations 0006_views_service.sql, 0007_views_groups.sql, 0008_views_digests.sql)",
                format!("schema {schema} of the sink.postgres database"),
                false,
            ));
        }
    }
    out
}
