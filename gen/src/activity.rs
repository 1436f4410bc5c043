//! What learners do on a school day, before it is written in either
//! standard: attendance, resources viewed, quizzes, assignment submissions
//! and the weekly well-being check-in, each shaped by the learner's
//! [`Archetype`].

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};

use crate::Archetype;
use crate::plan::{Class, Plan};
use crate::rng::Rng;
use crate::roster::{ITEMS, OBJECTIVES_PER_SUBJECT, SCALE, objective};

/// Quizzes are out of this many points.
pub const QUIZ_POINTS: u32 = 20;

/// Attendance marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// Present.
    Attended,
    /// Came late.
    Tardy,
    /// Not there.
    Absent,
}

/// One thing a learner did.
#[derive(Clone, Debug)]
pub enum Kind {
    /// The teacher's attendance mark (always xAPI: Caliper has no vocabulary).
    Attendance(Presence),
    /// A resource viewed for some minutes.
    View {
        /// Resource IRI.
        resource: String,
        /// Minutes spent.
        minutes: u32,
    },
    /// A graded quiz on one learning objective.
    Quiz {
        /// Quiz IRI.
        quiz: String,
        /// Points out of [`QUIZ_POINTS`].
        points: u32,
        /// Objective IRI.
        objective: String,
    },
    /// An assignment handed in.
    Submit {
        /// Assignment IRI.
        assignment: String,
        /// When it was due.
        due: DateTime<Utc>,
    },
    /// A questionnaire item answered on its 1..5 scale.
    Answer {
        /// Item IRI.
        item: &'static str,
        /// The answer.
        value: u32,
    },
}

/// An activity of a learner in a class at a time.
#[derive(Clone, Debug)]
pub struct Act {
    /// When it happened.
    pub time: DateTime<Utc>,
    /// Learner index.
    pub learner: usize,
    /// Class index.
    pub class: usize,
    /// What happened.
    pub kind: Kind,
}

/// Per-learner traits drawn once, so a learner behaves consistently.
#[derive(Clone, Debug)]
pub struct Traits {
    ability: Vec<f64>,
    /// Each learner's usual answer (positive form) to each item.
    mood: Vec<[u32; ITEMS.len()]>,
    /// Day index from which `Inactive` learners do nothing.
    inactive_from: usize,
    /// Day index from which `WellbeingDrop` learners answer low.
    drop_from: usize,
}

impl Traits {
    /// Draws every learner's ability.
    pub fn new(plan: &Plan, days: usize, rng: &mut Rng) -> Traits {
        Traits {
            ability: plan
                .learners
                .iter()
                .map(|_| 0.55 + rng.below(40) as f64 / 100.0)
                .collect(),
            mood: plan
                .learners
                .iter()
                .map(|_| std::array::from_fn(|_| rng.range(3, 5)))
                .collect(),
            inactive_from: days * 2 / 5,
            drop_from: days / 2,
        }
    }
}

fn at(day: NaiveDate, minutes: u32) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight").and_utc() + Duration::minutes(i64::from(minutes))
}

/// Everything learners do in class `c` on school day `day` (index `d`).
pub fn lesson(
    plan: &Plan,
    traits: &Traits,
    c: usize,
    day: NaiveDate,
    d: usize,
    rng: &mut Rng,
) -> Vec<Act> {
    let class: &Class = &plan.classes[c];
    let period = (c % 6) as u32;
    let start = 8 * 60 + period * 55;
    let week = day.iso_week().week();
    let weekday = day.weekday();
    let quiz_no = (d / 7) * 2 + usize::from(weekday == Weekday::Thu);
    let mut acts = Vec::new();
    for &l in &class.learners {
        let learner = &plan.learners[l];
        let arch = learner.archetype;
        if arch == Archetype::Inactive && d >= traits.inactive_from {
            continue;
        }
        let mut push = |minute: u32, kind: Kind| {
            acts.push(Act {
                time: at(day, minute) + Duration::seconds(rng_secs(l, d, minute)),
                learner: l,
                class: c,
                kind,
            })
        };
        let absent_p = if arch == Archetype::ChronicAbsence {
            0.3
        } else {
            0.03
        };
        let presence = if rng.chance(absent_p) {
            Presence::Absent
        } else if rng.chance(0.04) {
            Presence::Tardy
        } else {
            Presence::Attended
        };
        push(start + rng.range(0, 4), Kind::Attendance(presence));
        if presence == Presence::Absent {
            continue;
        }
        for k in 0..rng.range(1, 3) {
            let resource = format!(
                "https://lms.lap-demo.example/{}/resources/w{week}-{}",
                class.id,
                rng.range(1, 6)
            );
            push(
                start + 5 + k * 12,
                Kind::View {
                    resource,
                    minutes: rng.range(3, 12),
                },
            );
        }
        if matches!(weekday, Weekday::Tue | Weekday::Thu) {
            let score = match arch {
                Archetype::FallingScores => 0.95 - 0.06 * quiz_no as f64,
                _ => traits.ability[l] + 0.01 * (quiz_no / 4) as f64,
            };
            // Falling scores fall every time; others wobble by a point.
            let noise = if arch == Archetype::FallingScores {
                0
            } else {
                i64::from(rng.range(0, 2)) - 1
            };
            let points = ((score.clamp(0.05, 1.0) * f64::from(QUIZ_POINTS)).round() as i64 + noise)
                .clamp(0, i64::from(QUIZ_POINTS)) as u32;
            push(
                start + 40,
                Kind::Quiz {
                    quiz: format!(
                        "https://lms.lap-demo.example/{}/quizzes/{quiz_no}",
                        class.id
                    ),
                    points,
                    objective: objective(class.subject, quiz_no % OBJECTIVES_PER_SUBJECT),
                },
            );
        }
        // Two assignments a week, due Wednesday and Friday at 16:00.
        if matches!(weekday, Weekday::Wed | Weekday::Fri) {
            let due = at(day, 16 * 60);
            let assignment = format!(
                "https://lms.lap-demo.example/{}/assignments/w{week}-{}",
                class.id,
                if weekday == Weekday::Wed { "a" } else { "b" }
            );
            let roll = rng.below(100);
            if arch != Archetype::MissingSubmissions && roll < 95 {
                // 10 % hand in late: the evening after the deadline.
                let minute = if roll < 85 { start + 45 } else { 19 * 60 };
                push(minute, Kind::Submit { assignment, due });
            }
        }
        if weekday == Weekday::Fri {
            let low = arch == Archetype::LowWellbeing
                || (arch == Archetype::WellbeingDrop && d >= traits.drop_from);
            for (n, (item, _, reverse)) in ITEMS.iter().enumerate() {
                // Usual answers vary a little from week to week.
                let usual = traits.mood[l][n];
                let positive = if low {
                    rng.range(1, 2)
                } else if rng.chance(0.1) {
                    (usual + rng.range(0, 2)).clamp(SCALE.0 + 1, SCALE.1 + 1) - 1
                } else {
                    usual
                };
                let value = if *reverse {
                    SCALE.0 + SCALE.1 - positive
                } else {
                    positive
                };
                push(start + 50 + n as u32, Kind::Answer { item, value });
            }
        }
    }
    acts
}

/// Seconds within the minute, fixed per learner, day and minute so that
/// two learners' events rarely share a timestamp.
fn rng_secs(l: usize, d: usize, minute: u32) -> i64 {
    let mut r = Rng::new((l as u64) << 32 ^ (d as u64) << 12 ^ u64::from(minute));
    r.below(60) as i64
}
