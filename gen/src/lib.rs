//! Deterministic synthetic school data for lap (`lap gen`).
//!
//! From a seed and a size, [`generate`] deals a school authority (a
//! [`plan::Plan`] of schools, cohorts, classes and learners, each learner
//! following an [`Archetype`]), writes its OneRoster 1.1 export with lap's
//! curriculum, questionnaire and consent files, and then simulates every
//! school day: attendance, resources viewed, quizzes, assignments due and
//! handed in (on time, late or not at all) and a weekly well-being
//! check-in. Each class's platform speaks xAPI 1.0.3 or 2.0, or Caliper 1.1
//! or 1.2, so both versions of both standards appear.
//!
//! The activity arrives the way it does from real platforms, and
//! [`Summary`] counts each kind so tests can check the pipeline's books:
//! a share of records is invalid, some are sent twice, some are voided,
//! some come from people the roster does not know, and some devices are
//! offline and sync days late. Records are handed to an [`Output`] in
//! arrival order, one file per arrival day (see [`write_dir`]).

mod activity;
mod noise;
pub mod plan;
pub mod render;
mod rng;
pub mod roster;
mod schedule;
mod writer;

use chrono::NaiveDate;

pub use rng::Rng;
pub use schedule::generate;
pub use writer::{DirOutput, answer_key, write_dir};

/// How big and what shape of a school year to generate.
#[derive(Clone, Debug)]
pub struct Options {
    /// Seed: the same options and seed give byte-identical output.
    pub seed: u64,
    /// Schools.
    pub schools: usize,
    /// Cohorts (year groups' forms, e.g. 7A) per school.
    pub cohorts_per_school: usize,
    /// Learners per cohort.
    pub learners_per_cohort: usize,
    /// Subjects per cohort: each is one class of the cohort's learners.
    pub subjects: usize,
    /// First day (activity happens on weekdays only).
    pub start: NaiveDate,
    /// Calendar days of activity.
    pub days: usize,
    /// Share of records made invalid (each with a specific spec violation).
    pub invalid_share: f64,
    /// Share of xAPI statements an LMS sends twice.
    pub duplicate_share: f64,
    /// Share of viewed statements voided by a later voiding statement.
    pub void_share: f64,
    /// Share of (learner, day) pairs whose device syncs 1–5 days late.
    pub offline_share: f64,
    /// Share of records from people missing from the roster.
    pub unknown_share: f64,
}

impl Default for Options {
    /// A small school year: one school, three cohorts of 25, four subjects,
    /// eight weeks from Monday 1 September 2025.
    fn default() -> Self {
        Options {
            seed: 42,
            schools: 1,
            cohorts_per_school: 3,
            learners_per_cohort: 25,
            subjects: 4,
            start: NaiveDate::from_ymd_opt(2025, 9, 1).expect("valid date"),
            days: 56,
            invalid_share: 0.005,
            duplicate_share: 0.01,
            void_share: 0.005,
            offline_share: 0.02,
            unknown_share: 0.002,
        }
    }
}

/// The behaviour a learner's signals follow; every archetype but `Typical`
/// and `OptedOut` is built to raise one early-warning flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Archetype {
    /// Attends, works and feels fine.
    Typical,
    /// Absent from about 30 % of lessons (flag `chronic_absence`).
    ChronicAbsence,
    /// Answers the check-in low throughout (flag `low_wellbeing`).
    LowWellbeing,
    /// Answers fine, then low from half-way (flag `wellbeing_drop`).
    WellbeingDrop,
    /// Quiz scores fall every time (flag `falling_scores`).
    FallingScores,
    /// Hands in no assignment (flag `missing_submissions`).
    MissingSubmissions,
    /// Stops all activity after two fifths of the days (flag `inactive`).
    Inactive,
    /// Listed in the consent file: nothing of theirs may be stored.
    OptedOut,
}

impl Archetype {
    /// The flag code the archetype is built to raise, if any.
    pub fn flag(self) -> Option<&'static str> {
        Some(match self {
            Archetype::ChronicAbsence => "chronic_absence",
            Archetype::LowWellbeing => "low_wellbeing",
            Archetype::WellbeingDrop => "wellbeing_drop",
            Archetype::FallingScores => "falling_scores",
            Archetype::MissingSubmissions => "missing_submissions",
            Archetype::Inactive => "inactive",
            Archetype::Typical | Archetype::OptedOut => return None,
        })
    }

    /// Name used in `archetypes.csv`: the flag it raises, if it raises one.
    pub fn name(self) -> &'static str {
        match self {
            Archetype::Typical => "typical",
            Archetype::OptedOut => "opted_out",
            flagged => flagged.flag().expect("every other archetype raises a flag"),
        }
    }
}

/// Which standard a message is in: it decides the raw topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standard {
    /// One xAPI statement or an array of them.
    Xapi,
    /// One Caliper envelope.
    Caliper,
}

/// Where generated data goes.
pub trait Output {
    /// The roster export's files, once, before any activity.
    fn roster(&mut self, files: &[(&'static str, String)]) -> std::io::Result<()>;
    /// One message, in arrival order, with its arrival day.
    fn message(
        &mut self,
        standard: Standard,
        arrived: NaiveDate,
        json: &str,
    ) -> std::io::Result<()>;
}

/// What was generated, by kind, so the pipeline's counts can be checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Learners, classes and schools.
    pub learners: usize,
    /// Classes (cohort subjects and electives).
    pub classes: usize,
    /// xAPI messages (a statement or an array).
    pub xapi_messages: u64,
    /// Caliper envelopes.
    pub caliper_messages: u64,
    /// Statements and events, each copy counted (valid and invalid).
    pub records: u64,
    /// Records made invalid on purpose.
    pub invalid: u64,
    /// Extra copies of statements already sent.
    pub duplicates: u64,
    /// Voiding statements.
    pub voiding: u64,
    /// Valid records of people missing from the roster.
    pub unknown_actor: u64,
    /// Valid records of opted-out learners.
    pub opted_out: u64,
    /// Records that arrived a day or more after they happened.
    pub synced_late: u64,
    /// Learners per archetype.
    pub archetypes: Vec<(Archetype, usize)>,
}

/// A generation that could not finish.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// The options make no school year.
    #[error("invalid option: {0}")]
    Options(String),
    /// Writing failed.
    #[error("writing {path}: {source}")]
    Io {
        /// What was being written.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}
