//! A synthetic OneRoster roster of a given size, for the enrich benchmarks:
//! learners in cohorts of 25, each cohort taking `classes_per_learner`
//! classes (one per course) with one teacher each, one school per 1,000
//! learners, and one school-year term. Users carry the fields a real
//! export has (names, username, email, identifier, a `userIds` entry), so
//! the identity indexes are as large as in production.

use std::collections::BTreeMap;

use lap_schemas::{RosterEntity, RosterRecord, RosterStatus};

/// Tenant of every record.
pub const TENANT: &str = "t1";
/// Learners per class.
pub const COHORT: usize = 25;

fn record(entity: RosterEntity, id: String, fields: &[(&str, String)]) -> RosterRecord {
    RosterRecord {
        tenant: TENANT.into(),
        entity,
        sourced_id: id,
        status: RosterStatus::Active,
        date_last_modified: None,
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
        metadata: BTreeMap::new(),
        spec_version: "1.1".into(),
    }
}

/// The class a learner's `n`-th course is taught in.
pub fn class_of(learner: usize, n: usize) -> String {
    format!("cls-{}-{n}", learner / COHORT)
}

/// The username of learner `i` (what an xAPI account name carries).
pub fn username(i: usize) -> String {
    format!("learner.{i:07}")
}

/// Every record of a roster with `learners` learners, in load order,
/// generated lazily so that the caller holds only what it keeps.
pub fn records(learners: usize, classes_per_learner: usize) -> impl Iterator<Item = RosterRecord> {
    let cohorts = learners.div_ceil(COHORT);
    let schools = learners.div_ceil(1000);
    let orgs = (0..schools).map(|s| {
        record(
            RosterEntity::Org,
            format!("sch-{s}"),
            &[("name", format!("School {s}")), ("type", "school".into())],
        )
    });
    let term = std::iter::once(record(
        RosterEntity::AcademicSession,
        "term-2024".into(),
        &[
            ("title", "2024-25".into()),
            ("type", "schoolYear".into()),
            ("startDate", "2024-08-01".into()),
            ("endDate", "2025-07-31".into()),
        ],
    ));
    let courses = (0..classes_per_learner).map(|n| {
        record(
            RosterEntity::Course,
            format!("course-{n}"),
            &[
                ("title", format!("Course {n}")),
                ("courseCode", format!("C-{n}")),
                ("subjectCodes", format!("SUB{n}")),
                ("grades", "07".into()),
            ],
        )
    });
    let classes = (0..cohorts).flat_map(move |c| {
        (0..classes_per_learner).map(move |n| {
            record(
                RosterEntity::Class,
                format!("cls-{c}-{n}"),
                &[
                    ("title", format!("Class {c}/{n}")),
                    ("courseSourcedId", format!("course-{n}")),
                    ("classCode", format!("CODE-{c}-{n}")),
                    ("schoolSourcedId", format!("sch-{}", c * COHORT / 1000)),
                    ("termSourcedIds", "term-2024".into()),
                    ("classType", "scheduled".into()),
                ],
            )
        })
    });
    let learner_users = (0..learners).map(|i| {
        record(
            RosterEntity::User,
            format!("u-{i}"),
            &[
                ("enabledUser", "true".into()),
                ("orgSourcedIds", format!("sch-{}", i / 1000)),
                ("role", "student".into()),
                ("username", username(i)),
                ("userIds", format!("{{LMS:lms-{i}}}")),
                ("givenName", format!("Given{i}")),
                ("familyName", format!("Family{i}")),
                ("identifier", format!("S-{i:07}")),
                ("email", format!("{}@school.example", username(i))),
                ("grades", "07".into()),
            ],
        )
    });
    let teachers = (0..cohorts * classes_per_learner).map(|t| {
        record(
            RosterEntity::User,
            format!("t-{t}"),
            &[
                ("enabledUser", "true".into()),
                ("role", "teacher".into()),
                ("username", format!("teacher.{t}")),
                ("givenName", format!("T{t}")),
                ("familyName", format!("Teacher{t}")),
                ("email", format!("teacher.{t}@school.example")),
            ],
        )
    });
    let enrol = |id: String, user: String, class: String, role: &str| {
        record(
            RosterEntity::Enrollment,
            id,
            &[
                ("classSourcedId", class),
                ("userSourcedId", user),
                ("role", role.into()),
            ],
        )
    };
    let learner_enrollments = (0..learners).flat_map(move |i| {
        (0..classes_per_learner).map(move |n| {
            enrol(
                format!("e-{i}-{n}"),
                format!("u-{i}"),
                class_of(i, n),
                "student",
            )
        })
    });
    let teacher_enrollments = (0..cohorts * classes_per_learner).map(move |t| {
        enrol(
            format!("et-{t}"),
            format!("t-{t}"),
            format!(
                "cls-{}-{}",
                t / classes_per_learner,
                t % classes_per_learner
            ),
            "teacher",
        )
    });
    orgs.chain(term)
        .chain(courses)
        .chain(classes)
        .chain(learner_users)
        .chain(teachers)
        .chain(learner_enrollments)
        .chain(teacher_enrollments)
}
