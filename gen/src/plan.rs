//! The school authority being simulated: schools, cohorts, classes,
//! learners and the archetype each learner follows.

use crate::rng::Rng;
use crate::{Archetype, Options};

/// Subjects every cohort takes, in order; `Options::subjects` takes a prefix.
pub const SUBJECTS: &[(&str, &str)] = &[
    ("math", "Mathematics"),
    ("science", "Science"),
    ("english", "English"),
    ("history", "History"),
    ("geography", "Geography"),
    ("art", "Art"),
    // Last: the electives' subject, not dealt to cohorts.
    ("latin", "Latin"),
];

/// Learners of each school's small elective: below the default k = 5, so
/// its class rows show suppression.
pub const ELECTIVE_SIZE: usize = 4;

/// How a class's platform reports activity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// An LMS sending xAPI statements of this version.
    Xapi(&'static str),
    /// An LMS sending Caliper envelopes of this version (`"1.1"`, `"1.2"`).
    Caliper(&'static str),
}

/// One class: a cohort taking a subject, or a school's elective.
#[derive(Clone, Debug)]
pub struct Class {
    /// OneRoster sourcedId.
    pub id: String,
    /// Title shown in the roster.
    pub title: String,
    /// Subject key (an entry of [`SUBJECTS`]).
    pub subject: &'static str,
    /// School index.
    pub school: usize,
    /// Learner indexes.
    pub learners: Vec<usize>,
    /// Teacher's user sourcedId.
    pub teacher: String,
    /// How activity is reported.
    pub platform: Platform,
}

/// One learner.
#[derive(Clone, Debug)]
pub struct Learner {
    /// OneRoster sourcedId.
    pub id: String,
    /// Username (what xAPI account names carry).
    pub username: String,
    /// School index.
    pub school: usize,
    /// Cohort label, e.g. `7B`.
    pub cohort: String,
    /// Behaviour the learner's signals follow.
    pub archetype: Archetype,
    /// Whether 2.0 statements identify the learner by mbox (else account).
    pub by_mbox: bool,
}

/// Everything generated from the options before any activity.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Learners, indexed by position.
    pub learners: Vec<Learner>,
    /// Classes, indexed by position.
    pub classes: Vec<Class>,
    /// Teachers' sourcedIds.
    pub teachers: Vec<String>,
}

/// The share of a school's learners per archetype; the rest are typical.
const SHARES: &[(Archetype, f64)] = &[
    (Archetype::ChronicAbsence, 0.06),
    (Archetype::LowWellbeing, 0.05),
    (Archetype::WellbeingDrop, 0.05),
    (Archetype::FallingScores, 0.05),
    (Archetype::MissingSubmissions, 0.05),
    (Archetype::Inactive, 0.03),
    (Archetype::OptedOut, 0.02),
];

/// Archetypes for `n` learners in random order: each share of `n`, rounded,
/// and at least one of each once there are 40 learners, so that even a
/// small school shows every flag.
fn archetypes(n: usize, rng: &mut Rng) -> Vec<Archetype> {
    let mut dealt = Vec::with_capacity(n);
    for &(a, share) in SHARES {
        let quota = ((share * n as f64).round() as usize).max(usize::from(n >= 40));
        dealt.extend(std::iter::repeat_n(a, quota));
    }
    dealt.truncate(n);
    dealt.resize(n, Archetype::Typical);
    // Fisher–Yates with the seeded generator.
    for i in (1..n).rev() {
        dealt.swap(i, rng.below(i as u64 + 1) as usize);
    }
    dealt
}

impl Plan {
    /// Deals schools, cohorts, classes and archetypes from `opts` (the same
    /// plan for the same options and seed).
    pub fn deal(opts: &Options) -> Plan {
        let rng = &mut Rng::new(opts.seed);
        let subjects = &SUBJECTS[..opts.subjects.clamp(1, SUBJECTS.len() - 1)];
        let (mut learners, mut classes, mut teachers) = (Vec::new(), Vec::new(), Vec::new());
        let per_school = opts.cohorts_per_school * opts.learners_per_cohort;
        for school in 0..opts.schools {
            let mut shapes = archetypes(per_school, rng).into_iter();
            for cohort in 0..opts.cohorts_per_school {
                let label = format!("7{}", (b'A' + (cohort % 26) as u8) as char);
                let teacher = format!("tch-{school}-{cohort}");
                teachers.push(teacher.clone());
                let first = learners.len();
                for i in 0..opts.learners_per_cohort {
                    learners.push(Learner {
                        id: format!("stu-{school}-{cohort}-{i}"),
                        username: format!("stu.{school}.{cohort}.{i}"),
                        school,
                        cohort: label.clone(),
                        archetype: shapes.next().expect("one per learner"),
                        by_mbox: rng.chance(0.5),
                    });
                }
                for (n, (subject, title)) in subjects.iter().enumerate() {
                    // Platforms alternate so each standard and version appears.
                    let platform = match (school + cohort + n) % 4 {
                        0 => Platform::Xapi("1.0.3"),
                        1 => Platform::Caliper("1.2"),
                        2 => Platform::Xapi("2.0.0"),
                        _ => Platform::Caliper("1.1"),
                    };
                    classes.push(Class {
                        id: format!("cls-{school}-{cohort}-{subject}"),
                        title: format!("{title} {label}"),
                        subject,
                        school,
                        learners: (first..learners.len()).collect(),
                        teacher: teacher.clone(),
                        platform,
                    });
                }
            }
            let pool: Vec<usize> = (0..learners.len())
                .filter(|&l| learners[l].school == school)
                .collect();
            if pool.len() >= ELECTIVE_SIZE {
                let teacher = format!("tch-{school}-elective");
                teachers.push(teacher.clone());
                let start = rng.below((pool.len() - ELECTIVE_SIZE + 1) as u64) as usize;
                classes.push(Class {
                    id: format!("cls-{school}-latin"),
                    title: "Latin club".into(),
                    subject: "latin",
                    school,
                    learners: pool[start..start + ELECTIVE_SIZE].to_vec(),
                    teacher,
                    platform: Platform::Xapi("1.0.3"),
                });
            }
        }
        Plan {
            learners,
            classes,
            teachers,
        }
    }
}
