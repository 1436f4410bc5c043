//! The Rust side of the Avro schemas in `schemas/avro/`.
//!
//! Field names and enum symbols match the `.avsc` files exactly (serde
//! renames where Rust naming differs); timestamps are microseconds since the
//! Unix epoch, UTC, as the schemas' `timestamp-micros` logical type says.
//! Every field is documented in the `.avsc` file, which is the contract; the
//! comments here only add what matters to Rust callers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Standard an event arrived in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceStandard {
    /// xAPI (IEEE 9274.1.1) 1.0.x or 2.0.
    Xapi,
    /// IMS Caliper Analytics 1.1 or 1.2.
    Caliper,
}

impl SourceStandard {
    /// The schema symbol (`xapi`, `caliper`), as stored in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceStandard::Xapi => "xapi",
            SourceStandard::Caliper => "caliper",
        }
    }
}

/// Which inverse functional identifier identifies an actor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// xAPI account (`home_page` + name).
    Account,
    /// xAPI `mbox` (a `mailto:` IRI).
    Mbox,
    /// xAPI `mbox_sha1sum` (SHA-1 hex of the mailto IRI).
    MboxSha1sum,
    /// xAPI `openid`.
    Openid,
    /// Caliper entity IRI.
    Iri,
}

/// lap's closed action vocabulary. Unknown verbs map to [`Action::Other`]
/// and keep their original IRI in `verb`; the Avro enum's default is `other`,
/// so readers of an older version still read events with newer actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)] // the symbols are the vocabulary; docs/sending-data.md maps them
pub enum Action {
    Started,
    Completed,
    Passed,
    Failed,
    Scored,
    Submitted,
    Graded,
    Viewed,
    Navigated,
    Answered,
    Attended,
    Absent,
    Tardy,
    LoggedIn,
    LoggedOut,
    Voided,
    Launched,
    Initialized,
    Terminated,
    Progressed,
    Paused,
    Resumed,
    Played,
    Seeked,
    Skipped,
    Attempted,
    Commented,
    Shared,
    Searched,
    Bookmarked,
    Interacted,
    Experienced,
    Registered,
    Satisfied,
    Waived,
    Abandoned,
    TimedOut,
    Reset,
    Created,
    Modified,
    Deleted,
    Other,
}

impl Action {
    /// Every action, in schema order.
    pub const ALL: [Action; 42] = [
        Action::Started,
        Action::Completed,
        Action::Passed,
        Action::Failed,
        Action::Scored,
        Action::Submitted,
        Action::Graded,
        Action::Viewed,
        Action::Navigated,
        Action::Answered,
        Action::Attended,
        Action::Absent,
        Action::Tardy,
        Action::LoggedIn,
        Action::LoggedOut,
        Action::Voided,
        Action::Launched,
        Action::Initialized,
        Action::Terminated,
        Action::Progressed,
        Action::Paused,
        Action::Resumed,
        Action::Played,
        Action::Seeked,
        Action::Skipped,
        Action::Attempted,
        Action::Commented,
        Action::Shared,
        Action::Searched,
        Action::Bookmarked,
        Action::Interacted,
        Action::Experienced,
        Action::Registered,
        Action::Satisfied,
        Action::Waived,
        Action::Abandoned,
        Action::TimedOut,
        Action::Reset,
        Action::Created,
        Action::Modified,
        Action::Deleted,
        Action::Other,
    ];

    /// The schema symbol (`logged_in`, ...), as stored in tables.
    pub fn as_str(self) -> &'static str {
        ACTION_NAMES[self as usize]
    }

    /// The action with this schema symbol.
    pub fn from_symbol(symbol: &str) -> Option<Action> {
        ACTION_NAMES
            .iter()
            .position(|n| *n == symbol)
            .map(|i| Action::ALL[i])
    }
}

const ACTION_NAMES: [&str; 42] = [
    "started",
    "completed",
    "passed",
    "failed",
    "scored",
    "submitted",
    "graded",
    "viewed",
    "navigated",
    "answered",
    "attended",
    "absent",
    "tardy",
    "logged_in",
    "logged_out",
    "voided",
    "launched",
    "initialized",
    "terminated",
    "progressed",
    "paused",
    "resumed",
    "played",
    "seeked",
    "skipped",
    "attempted",
    "commented",
    "shared",
    "searched",
    "bookmarked",
    "interacted",
    "experienced",
    "registered",
    "satisfied",
    "waived",
    "abandoned",
    "timed_out",
    "reset",
    "created",
    "modified",
    "deleted",
    "other",
];

/// Who acted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    /// Which identifier `id` is.
    pub kind: ActorKind,
    /// The canonical identifier (personal data; never leaves enrich).
    pub id: String,
    /// Account home page for [`ActorKind::Account`].
    pub home_page: Option<String>,
    /// `Agent`/`Group` or the Caliper type.
    pub actor_type: Option<String>,
}

/// What the action was performed on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventObject {
    /// Activity IRI or entity id.
    pub id: String,
    /// Activity type IRI or Caliper type.
    pub object_type: Option<String>,
    /// Display name.
    pub name: Option<String>,
}

/// Outcome of an activity.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EventResult {
    /// Score normalised to 0..1.
    pub score_scaled: Option<f64>,
    /// Raw score.
    pub score_raw: Option<f64>,
    /// Minimum raw score.
    pub score_min: Option<f64>,
    /// Maximum raw score.
    pub score_max: Option<f64>,
    /// Passed?
    pub success: Option<bool>,
    /// Completed?
    pub completion: Option<bool>,
    /// Duration in milliseconds.
    pub duration_ms: Option<i64>,
    /// Response as sent.
    pub response: Option<String>,
}

/// Context of an event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EventContext {
    /// xAPI registration.
    pub registration: Option<String>,
    /// Platform / edApp.
    pub platform: Option<String>,
    /// Instructor (personal data; never leaves enrich).
    pub instructor: Option<Actor>,
    /// Candidate class/course/group identifiers, most specific first.
    pub class_refs: Vec<String>,
    /// Category activity ids and profiles.
    pub category_ids: Vec<String>,
    /// Learning objective ids.
    pub objective_ids: Vec<String>,
    /// Session id.
    pub session_id: Option<String>,
    /// Roles declared in the event.
    pub roles: Vec<String>,
}

/// The canonical event on `lap.events` (see `LearningEvent.avsc`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LearningEvent {
    /// Statement / event UUID.
    pub event_id: String,
    /// xAPI or Caliper.
    pub source: SourceStandard,
    /// Version of the standard.
    pub spec_version: String,
    /// When it happened (µs since epoch).
    pub event_time: i64,
    /// When it was stored (µs since epoch).
    pub stored_time: i64,
    /// Who acted.
    pub actor: Actor,
    /// What happened, closed vocabulary.
    pub action: Action,
    /// Original verb IRI / Caliper action.
    pub verb: String,
    /// What it happened to.
    pub object: EventObject,
    /// Outcome, if any.
    pub result: Option<EventResult>,
    /// Context.
    pub context: EventContext,
    /// Due time (µs since epoch).
    pub due_time: Option<i64>,
    /// Voided statement id.
    pub voids: Option<String>,
    /// Extensions as JSON text.
    pub extensions: Option<String>,
}

/// Role of a person in a class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Student.
    Learner,
    /// Teacher / instructor.
    Teacher,
    /// Administrator / aide.
    Administrator,
    /// Parent or guardian.
    Guardian,
    /// Anything else.
    Other,
}

impl Role {
    /// Every role, in schema order (`role as usize` indexes it).
    pub const ALL: [Role; 5] = [
        Role::Learner,
        Role::Teacher,
        Role::Administrator,
        Role::Guardian,
        Role::Other,
    ];

    /// The schema symbol (`learner`, ...), for metric labels and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Learner => "learner",
            Role::Teacher => "teacher",
            Role::Administrator => "administrator",
            Role::Guardian => "guardian",
            Role::Other => "other",
        }
    }
}

/// A pseudonymised, roster-joined event (see `EnrichedEvent.avsc`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)] // fields documented in EnrichedEvent.avsc
pub struct EnrichedEvent {
    pub event_id: String,
    pub source: SourceStandard,
    pub spec_version: String,
    pub event_time: i64,
    pub stored_time: i64,
    pub tenant: String,
    pub person_key: String,
    pub role: Role,
    pub school_id: Option<String>,
    pub class_id: Option<String>,
    pub course_id: Option<String>,
    pub term_id: Option<String>,
    pub subject_codes: Vec<String>,
    pub grades: Vec<String>,
    pub action: Action,
    pub verb: String,
    pub object_id: String,
    pub object_type: Option<String>,
    pub object_name: Option<String>,
    pub score_scaled: Option<f64>,
    pub score_raw: Option<f64>,
    pub score_min: Option<f64>,
    pub score_max: Option<f64>,
    pub success: Option<bool>,
    pub completion: Option<bool>,
    pub duration_ms: Option<i64>,
    pub response_value: Option<f64>,
    pub response_text: Option<String>,
    pub registration: Option<String>,
    pub session_id: Option<String>,
    pub objective_ids: Vec<String>,
    pub due_time: Option<i64>,
    pub voids: Option<String>,
}

/// Length of a tumbling window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    /// One local calendar day.
    Daily,
    /// One ISO week, Monday to Sunday.
    Weekly,
}

impl WindowKind {
    /// The schema symbol (`daily`, `weekly`), as stored in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            WindowKind::Daily => "daily",
            WindowKind::Weekly => "weekly",
        }
    }
}

/// What an indicator row describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// One learner in one class.
    Learner,
    /// A class.
    Class,
    /// A school.
    School,
}

impl EntityKind {
    /// The schema symbol (`learner`, `class`, `school`), as stored in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Learner => "learner",
            EntityKind::Class => "class",
            EntityKind::School => "school",
        }
    }
}

/// An early-warning flag with the numbers behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    /// Stable code.
    pub code: String,
    /// Plain-language reason.
    pub reason: String,
    /// Values and thresholds behind the flag.
    pub evidence: BTreeMap<String, f64>,
}

/// One entity's indicators for one window (see `IndicatorRow.avsc`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)] // fields documented in IndicatorRow.avsc
pub struct IndicatorRow {
    pub table_name: String,
    pub window_kind: WindowKind,
    pub window_start: i64,
    pub window_end: i64,
    pub time_zone: String,
    pub entity_kind: EntityKind,
    pub entity_id: String,
    pub class_id: Option<String>,
    pub school_id: Option<String>,
    pub revision: i64,
    pub is_final: bool,
    pub emitted_time: i64,
    pub contributors: i32,
    pub suppressed: bool,
    pub indicators: BTreeMap<String, Option<f64>>,
    pub flags: Vec<Flag>,
    #[serde(default)]
    pub cleared_flags: Vec<Flag>,
    #[serde(default)]
    pub newest_event_time: Option<i64>,
}

/// Transport a rejected input arrived by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OriginKind {
    /// A Kafka topic.
    Kafka,
    /// The HTTP front door.
    Http,
    /// A file (embedded runs, roster loads).
    File,
}

/// Where a rejected input came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)] // fields documented in DeadLetter.avsc
pub struct Origin {
    pub kind: OriginKind,
    pub topic: Option<String>,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    pub client_id: Option<String>,
    pub path: Option<String>,
    pub line: Option<i64>,
    pub index: Option<i32>,
}

impl Origin {
    /// A record read from Kafka (or the in-memory transport).
    pub fn kafka(topic: &str, partition: i32, offset: i64) -> Self {
        Origin {
            kind: OriginKind::Kafka,
            topic: Some(topic.to_string()),
            partition: Some(partition),
            offset: Some(offset),
            client_id: None,
            path: None,
            line: None,
            index: None,
        }
    }
}

/// One reason an input was rejected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// Stable error code.
    pub code: String,
    /// JSON path of the offending value.
    pub path: String,
    /// Human explanation.
    pub message: String,
}

/// A rejected input (see `DeadLetter.avsc`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)] // fields documented in DeadLetter.avsc
pub struct DeadLetter {
    pub id: String,
    pub stage: String,
    pub received_time: i64,
    pub origin: Origin,
    pub format: String,
    pub error_code: String,
    pub message: String,
    pub problems: Vec<Problem>,
    #[serde(with = "apache_avro::serde::bytes")]
    pub payload: Vec<u8>,
}

/// OneRoster file (or lap file) a roster row came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)] // names are the OneRoster file names
pub enum RosterEntity {
    Org,
    AcademicSession,
    Course,
    Class,
    User,
    Enrollment,
    Demographics,
    Role,
    CurriculumObjective,
    QuestionnaireItem,
    Consent,
    Other,
    /// A learner of a class by pseudonym, derived by `lap roster load`.
    ClassMember,
}

/// OneRoster row status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RosterStatus {
    /// Present.
    Active,
    /// Deleted by a delta export.
    Tobedeleted,
}

/// One roster row (see `RosterRecord.avsc`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)] // fields documented in RosterRecord.avsc
pub struct RosterRecord {
    pub tenant: String,
    pub entity: RosterEntity,
    pub sourced_id: String,
    pub status: RosterStatus,
    pub date_last_modified: Option<i64>,
    pub fields: BTreeMap<String, String>,
    pub metadata: BTreeMap<String, String>,
    pub spec_version: String,
}

impl RosterRecord {
    /// An active OneRoster 1.1 record of `tenant` with `fields`, as a
    /// loaded export would hold it: for tools and tests that build a
    /// roster in memory.
    pub fn active(
        tenant: &str,
        entity: RosterEntity,
        sourced_id: &str,
        fields: &[(&str, &str)],
    ) -> Self {
        RosterRecord {
            tenant: tenant.into(),
            entity,
            sourced_id: sourced_id.into(),
            status: RosterStatus::Active,
            date_last_modified: None,
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            metadata: BTreeMap::new(),
            spec_version: "1.1".into(),
        }
    }
}
