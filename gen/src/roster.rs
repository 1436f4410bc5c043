//! The OneRoster 1.1 export of a [`Plan`] (bulk CSV files with a manifest)
//! and lap's curriculum, questionnaire and consent files.

use std::collections::BTreeSet;
use std::fmt::Write;

use chrono::NaiveDate;

use crate::Archetype;
use crate::plan::{Plan, SUBJECTS};

/// Learning objectives defined per subject in the curriculum file.
pub const OBJECTIVES_PER_SUBJECT: usize = 8;

/// The well-being questionnaire: item IRI, dimension, reverse-scored.
pub const ITEMS: &[(&str, &str, bool)] = &[
    (
        "https://survey.lap-demo.example/items/friends",
        "social",
        false,
    ),
    (
        "https://survey.lap-demo.example/items/keep-up",
        "academic",
        false,
    ),
    (
        "https://survey.lap-demo.example/items/worried",
        "calm",
        true,
    ),
    (
        "https://survey.lap-demo.example/items/adult-to-talk-to",
        "support",
        false,
    ),
];

/// Answer scale of every item.
pub const SCALE: (u32, u32) = (1, 5);

/// The IRI of objective `n` of `subject`, as events and the curriculum name it.
pub fn objective(subject: &str, n: usize) -> String {
    format!("https://curriculum.lap-demo.example/{subject}/objectives/{n}")
}

fn course_id(school: usize, subject: &str) -> String {
    format!("crs-{school}-{subject}")
}

/// `(file name, contents)` of every file of the export.
pub fn files(plan: &Plan, start: NaiveDate, end: NaiveDate) -> Vec<(&'static str, String)> {
    let stamp = format!("{start}T00:00:00.000Z");
    let mut out = Vec::new();
    let mut manifest =
        String::from("propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n");
    for f in [
        "academicSessions",
        "orgs",
        "courses",
        "classes",
        "users",
        "enrollments",
    ] {
        writeln!(manifest, "file.{f},bulk").unwrap();
    }
    for f in [
        "demographics",
        "lineItems",
        "results",
        "categories",
        "resources",
    ] {
        writeln!(manifest, "file.{f},absent").unwrap();
    }
    out.push(("manifest.csv", manifest));

    let schools: BTreeSet<usize> = plan.classes.iter().map(|c| c.school).collect();
    let mut orgs =
        String::from("sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n");
    writeln!(orgs, "dist,active,{stamp},Lap Demo District,district,LD,").unwrap();
    for s in &schools {
        writeln!(
            orgs,
            "sch-{s},active,{stamp},Demo School {s},school,DS-{s},dist"
        )
        .unwrap();
    }
    out.push(("orgs.csv", orgs));

    let year = start.format("%Y");
    out.push((
        "academicSessions.csv",
        format!(
            "sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear\n\
             year,active,{stamp},{year} school year,schoolYear,{start},{end},,{year}\n"
        ),
    ));

    let mut courses = String::from(
        "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,subjectCodes\n",
    );
    let used: BTreeSet<(usize, &str)> =
        plan.classes.iter().map(|c| (c.school, c.subject)).collect();
    for (s, subject) in &used {
        let title = SUBJECTS
            .iter()
            .find(|(k, _)| k == subject)
            .map_or(*subject, |(_, t)| *t);
        let code = subject.to_uppercase();
        writeln!(
            courses,
            "{},active,{stamp},year,{title} 7,{code}-7,07,sch-{s},{title},{code}",
            course_id(*s, subject)
        )
        .unwrap();
    }
    out.push(("courses.csv", courses));

    let mut classes = String::from(
        "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods\n",
    );
    let mut enrollments = String::from(
        "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate\n",
    );
    for c in &plan.classes {
        writeln!(
            classes,
            "{},active,{stamp},{},07,{},{},scheduled,,sch-{},year,,,",
            c.id,
            c.title,
            course_id(c.school, c.subject),
            c.id.to_uppercase(),
            c.school
        )
        .unwrap();
        writeln!(
            enrollments,
            "enr-{}-{},active,{stamp},{},sch-{},{},teacher,true,,",
            c.id, c.teacher, c.id, c.school, c.teacher
        )
        .unwrap();
        for &l in &c.learners {
            let learner = &plan.learners[l];
            writeln!(
                enrollments,
                "enr-{}-{},active,{stamp},{},sch-{},{},student,false,,",
                c.id, learner.id, c.id, c.school, learner.id
            )
            .unwrap();
        }
    }
    out.push(("classes.csv", classes));

    let mut users = String::from(
        "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password\n",
    );
    for l in &plan.learners {
        writeln!(
            users,
            "{},active,{stamp},true,sch-{},student,{},{{SIS:{}}},Learner,{},,{},{}@school.lap-demo.example,,,par-{},07,",
            l.id, l.school, l.username, l.id, l.id, l.id, l.username, l.id
        )
        .unwrap();
    }
    // One guardian per learner (their OneRoster agent) and one
    // administrator per school: the people the views serve besides
    // teachers.
    for l in &plan.learners {
        writeln!(
            users,
            "par-{0},active,{stamp},true,sch-{1},parent,par-{0},,Parent,{0},,par-{0},par-{0}@home.lap-demo.example,,,{0},,",
            l.id, l.school
        )
        .unwrap();
    }
    for s in &schools {
        writeln!(
            users,
            "adm-{s},active,{stamp},true,sch-{s},administrator,adm-{s},,Leader,School {s},,adm-{s},adm-{s}@school.lap-demo.example,,,,,"
        )
        .unwrap();
    }
    for t in &plan.teachers {
        let school = t.split('-').nth(1).unwrap_or("0");
        writeln!(
            users,
            "{t},active,{stamp},true,sch-{school},teacher,{t},,Teacher,{t},,{t},{t}@school.lap-demo.example,,,,,"
        )
        .unwrap();
    }
    out.push(("users.csv", users));
    out.push(("enrollments.csv", enrollments));

    let mut curriculum = String::from("objectiveId,title,courseSourcedIds,classSourcedIds\n");
    let subjects: BTreeSet<&str> = used.iter().map(|(_, s)| *s).collect();
    for subject in subjects {
        let courses: Vec<String> = used
            .iter()
            .filter(|(_, s)| *s == subject)
            .map(|(school, s)| course_id(*school, s))
            .collect();
        for n in 0..OBJECTIVES_PER_SUBJECT {
            writeln!(
                curriculum,
                "{},{subject} objective {n},\"{}\",",
                objective(subject, n),
                courses.join(",")
            )
            .unwrap();
        }
    }
    out.push(("lap-curriculum.csv", curriculum));

    let mut questionnaire = String::from("itemId,dimension,scaleMin,scaleMax,reverseScored\n");
    for (item, dimension, reverse) in ITEMS {
        writeln!(
            questionnaire,
            "{item},{dimension},{},{},{reverse}",
            SCALE.0, SCALE.1
        )
        .unwrap();
    }
    out.push(("lap-questionnaire.csv", questionnaire));

    let mut consent = String::from("userSourcedId,optedOut\n");
    for l in plan
        .learners
        .iter()
        .filter(|l| l.archetype == Archetype::OptedOut)
    {
        writeln!(consent, "{},true", l.id).unwrap();
    }
    out.push(("lap-consent.csv", consent));
    out
}
