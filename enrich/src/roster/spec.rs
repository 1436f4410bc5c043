//! What lap knows about each OneRoster CSV file (1.0, 1.1, 1.2 and the
//! Japan profile): its entity, the columns lap needs, the columns the
//! specification requires, value formats, and the 1.0 column names some
//! SIS exports still write.
//!
//! Two severities follow from that. A row that lacks what lap cannot work
//! without (its sourcedId, an enrollment's class or user) or holds a value
//! of the wrong format is *rejected*. A row that lacks a column the spec
//! requires but lap does not use (a course's title) is loaded with a
//! *warning*, because real exports omit such columns and refusing them
//! would lose the parts that matter.

use lap_schemas::RosterEntity;

/// How a column's value must look.
#[derive(Clone, Copy, Debug)]
pub enum Format {
    /// `YYYY-MM-DD`.
    Date,
    /// ISO 8601 date-time (a date alone, `T` or space separated, optional zone).
    DateTime,
    /// `true` / `false`, any case.
    Bool,
    /// A four-digit year.
    Year,
    /// A decimal number.
    Number,
    /// One of the listed values (compared ignoring case, stored as listed).
    OneOf(&'static [&'static str]),
}

/// One OneRoster CSV file.
#[derive(Debug)]
pub struct FileSpec {
    /// Base name without `.csv`, as the manifest's `file.<name>` says.
    pub name: &'static str,
    /// Entity its rows become.
    pub entity: RosterEntity,
    /// Column holding the row's sourcedId.
    pub key: &'static str,
    /// Columns lap cannot do without: an empty value rejects the row.
    pub needed: &'static [&'static str],
    /// Further columns the specification requires: an empty value warns.
    pub expected: &'static [&'static str],
    /// Value formats, checked when the value is not empty.
    pub formats: &'static [(&'static str, Format)],
    /// Older column names and the current name they stand for.
    pub aliases: &'static [(&'static str, &'static str)],
    /// Whether lap publishes its rows (demographics are read and checked but
    /// not published: no indicator uses them, so lap does not keep them).
    pub published: bool,
}

const ORG_TYPES: &[&str] = &[
    "department",
    "school",
    "district",
    "local",
    "state",
    "national",
];
const SESSION_TYPES: &[&str] = &["gradingPeriod", "semester", "schoolYear", "term"];
const CLASS_TYPES: &[&str] = &["homeroom", "scheduled"];
/// Roles of `users.csv` (1.1) and `roles.csv` (1.2), together.
const USER_ROLES: &[&str] = &[
    "administrator",
    "aide",
    "guardian",
    "parent",
    "proctor",
    "relative",
    "student",
    "teacher",
    "districtAdministrator",
    "siteAdministrator",
    "systemAdministrator",
    "principal",
    "counselor",
];
const ENROLLMENT_ROLES: &[&str] = &[
    "administrator",
    "proctor",
    "student",
    "teacher",
    "aide",
    "guardian",
    "parent",
];
const COMMON: &[(&str, Format)] = &[("dateLastModified", Format::DateTime)];

/// The files in the order they are loaded (referenced entities first).
pub const FILES: &[FileSpec] = &[
    FileSpec {
        name: "orgs",
        entity: RosterEntity::Org,
        key: "sourcedId",
        needed: &[],
        expected: &["name", "type"],
        formats: &[("type", Format::OneOf(ORG_TYPES))],
        aliases: &[],
        published: true,
    },
    FileSpec {
        name: "academicSessions",
        entity: RosterEntity::AcademicSession,
        key: "sourcedId",
        needed: &[],
        expected: &["title", "type", "startDate", "endDate"],
        formats: &[
            ("type", Format::OneOf(SESSION_TYPES)),
            ("startDate", Format::Date),
            ("endDate", Format::Date),
            ("schoolYear", Format::Year),
        ],
        aliases: &[],
        published: true,
    },
    FileSpec {
        name: "courses",
        entity: RosterEntity::Course,
        key: "sourcedId",
        needed: &[],
        expected: &["title", "orgSourcedId"],
        formats: &[],
        aliases: &[("schoolYearId", "schoolYearSourcedId"), ("grade", "grades")],
        published: true,
    },
    FileSpec {
        name: "classes",
        entity: RosterEntity::Class,
        key: "sourcedId",
        needed: &[],
        expected: &[
            "title",
            "courseSourcedId",
            "classType",
            "schoolSourcedId",
            "termSourcedIds",
        ],
        formats: &[("classType", Format::OneOf(CLASS_TYPES))],
        aliases: &[("grade", "grades")],
        published: true,
    },
    FileSpec {
        name: "users",
        entity: RosterEntity::User,
        key: "sourcedId",
        needed: &[],
        expected: &["enabledUser", "username", "givenName", "familyName"],
        formats: &[
            ("enabledUser", Format::Bool),
            ("role", Format::OneOf(USER_ROLES)),
        ],
        aliases: &[("userId", "userIds"), ("agents", "agentSourcedIds")],
        published: true,
    },
    FileSpec {
        name: "roles",
        entity: RosterEntity::Role,
        key: "sourcedId",
        needed: &["userSourcedId", "role", "orgSourcedId"],
        expected: &["roleType"],
        formats: &[
            ("role", Format::OneOf(USER_ROLES)),
            ("roleType", Format::OneOf(&["primary", "secondary"])),
            ("beginDate", Format::Date),
            ("endDate", Format::Date),
        ],
        aliases: &[],
        published: true,
    },
    FileSpec {
        name: "enrollments",
        entity: RosterEntity::Enrollment,
        key: "sourcedId",
        needed: &["classSourcedId", "userSourcedId", "role"],
        expected: &["schoolSourcedId"],
        formats: &[
            ("role", Format::OneOf(ENROLLMENT_ROLES)),
            ("primary", Format::Bool),
            ("beginDate", Format::Date),
            ("endDate", Format::Date),
        ],
        aliases: &[],
        published: true,
    },
    FileSpec {
        name: "demographics",
        entity: RosterEntity::Demographics,
        key: "sourcedId",
        needed: &[],
        expected: &[],
        formats: &[("birthDate", Format::Date)],
        aliases: &[("userSourcedId", "sourcedId"), ("birthdate", "birthDate")],
        published: false,
    },
];

/// lap's own files, read from the export's folder when present (see
/// docs/rosters.md). They use OneRoster's conventions (a key
/// column, optional `status`/`dateLastModified`, lists comma-separated).
pub const LAP_FILES: &[FileSpec] = &[
    FileSpec {
        name: "lap-curriculum",
        entity: RosterEntity::CurriculumObjective,
        key: "objectiveId",
        needed: &["title"],
        expected: &[],
        formats: &[],
        aliases: &[],
        published: true,
    },
    FileSpec {
        name: "lap-questionnaire",
        entity: RosterEntity::QuestionnaireItem,
        key: "itemId",
        needed: &["dimension", "scaleMin", "scaleMax"],
        expected: &[],
        formats: &[
            ("scaleMin", Format::Number),
            ("scaleMax", Format::Number),
            ("reverseScored", Format::Bool),
        ],
        aliases: &[],
        published: true,
    },
    FileSpec {
        name: "lap-consent",
        entity: RosterEntity::Consent,
        key: "userSourcedId",
        needed: &["optedOut"],
        expected: &[],
        formats: &[("optedOut", Format::Bool)],
        aliases: &[],
        published: true,
    },
];

/// Formats every file shares.
pub fn common_formats() -> &'static [(&'static str, Format)] {
    COMMON
}

/// Columns kept as metadata rather than standard fields.
pub fn is_extension(column: &str) -> bool {
    column.starts_with("metadata.") || column.starts_with("ext_")
}
