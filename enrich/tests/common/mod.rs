//! A small OneRoster 1.2 export written for these tests from the 1.2 CSV
//! binding: a UTF-8 BOM, columns out of the spec's order, quoted and
//! unquoted values, `roles.csv`, the 1.2 user fields and Japan profile
//! metadata, plus lap's curriculum, questionnaire and consent files.
#![allow(dead_code)] // each test binary uses a different part

use std::path::Path;

use lap_enrich::roster::{self, Export};
use lap_enrich::state::Roster;
use lap_runtime::config::IdentityConfig;

/// Files of the export, by name.
pub const EXPORT_1P2: &[(&str, &str)] = &[
    (
        "manifest.csv",
        "propertyName,value\nmanifest.version,1.0\noneroster.version,1.2\nfile.academicSessions,bulk\nfile.orgs,bulk\nfile.courses,bulk\nfile.classes,bulk\nfile.users,bulk\nfile.roles,bulk\nfile.enrollments,bulk\nfile.demographics,absent\nsource.systemName,lap tests\n",
    ),
    (
        "orgs.csv",
        "\u{feff}sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\nsch1,active,2024-08-01T00:00:00.000Z,Hillside School,school,HS-1,dist1\ndist1,active,2024-08-01T00:00:00.000Z,River District,district,,\n",
    ),
    (
        "academicSessions.csv",
        "sourcedId,title,type,startDate,endDate,parentSourcedId,schoolYear,status,dateLastModified\ny2024,2024/25,schoolYear,2024-08-19,2025-06-27,,2025,active,2024-08-01\nt1,Autumn term,term,2024-08-19,2024-12-20,y2024,2025,active,2024-08-01\nt2,Spring term,term,2025-01-06,2025-06-27,y2024,2025,active,2024-08-01\n",
    ),
    (
        "courses.csv",
        "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,subjectCodes\nmath7,active,2024-08-01,y2024,Mathematics 7,MATH-7,07,sch1,Mathematics,\"MTH,ALG\"\nsci7,active,2024-08-01,y2024,Science 7,SCI-7,07,sch1,Science,SCI\n",
    ),
    (
        "classes.csv",
        "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods\nc7a,active,2024-08-01,Maths 7A,,math7,7A-MATH,scheduled,Room 4,sch1,\"t1,t2\",,,1\nc7b,active,2024-08-01,Science 7A,,sci7,7A-SCI,scheduled,Lab 1,sch1,t1,,,2\n",
    ),
    (
        "users.csv",
        "sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,userMasterIdentifier,resourceSourcedIds,preferredGivenName,preferredMiddleName,preferredFamilyName,primaryOrgSourcedId,pronouns,metadata.jp.kanaGivenName,metadata.jp.kanaFamilyName,metadata.jp.homeClass\n\
u1,active,2024-08-01,true,amara.okafor,\"{LMS:lms-991},{SIS:S-1001}\",Amara,Okafor,,S-1001,amara.okafor@hillside.example,,,,07,,UM-1,,,,,sch1,she/her,アマラ,オカフォー,7A\n\
u2,active,2024-08-01,true,bjorn.lindqvist,{LMS:lms-992},Björn,Lindqvist,,S-1002,bjorn.lindqvist@hillside.example,,,,07,,UM-2,,,,,sch1,,ビョルン,リンドクヴィスト,7A\n\
u3,active,2024-08-01,true,chen.wei,,Wei,Chen,,S-1003,chen.wei@hillside.example,,,,07,,UM-3,,,,,sch1,,,,7A\n\
t9,active,2024-08-01,true,mrs.hughes,,Eleanor,Hughes,,T-9,eleanor.hughes@hillside.example,,,,,,UM-9,,,,,sch1,,,,\n",
    ),
    (
        "roles.csv",
        "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,orgSourcedId,userProfileSourcedId\nr1,active,2024-08-01,u1,primary,student,2024-08-19,,sch1,\nr2,active,2024-08-01,u2,primary,student,,,sch1,\nr3,active,2024-08-01,u3,primary,student,,,sch1,\nr9,active,2024-08-01,t9,primary,teacher,,,sch1,\n",
    ),
    (
        "enrollments.csv",
        "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate\ne1,active,2024-08-01,c7a,sch1,u1,student,false,,\ne2,active,2024-08-01,c7a,sch1,u2,student,false,,\ne3,active,2024-08-01,c7b,sch1,u3,student,false,,\ne4,active,2024-08-01,c7a,sch1,t9,teacher,true,,\ne5,active,2024-08-01,c7b,sch1,u1,student,false,,\n",
    ),
    (
        "lap-curriculum.csv",
        "objectiveId,title,courseSourcedIds,classSourcedIds\nobj-frac,Fractions,math7,\nobj-eq,Linear equations,math7,\nobj-cell,The cell,,c7b\n",
    ),
    (
        "lap-questionnaire.csv",
        "itemId,dimension,scaleMin,scaleMax,reverseScored\nhttps://survey.example/items/q1,social,1,5,false\nhttps://survey.example/items/q2,calm,1,5,true\n",
    ),
    ("lap-consent.csv", "userSourcedId,optedOut\nu3,true\n"),
];

/// Personal values of the export's users: none may appear in any
/// `EnrichedEvent`.
pub const PERSONAL_1P2: &[&str] = &[
    "amara.okafor", "Amara", "Okafor", "amara.okafor@hillside.example", "bjorn.lindqvist", "Björn",
    "Lindqvist", "bjorn.lindqvist@hillside.example", "chen.wei", "Wei", "Chen",
    "chen.wei@hillside.example", "mrs.hughes", "Eleanor", "Hughes", "eleanor.hughes@hillside.example",
    "lms-991", "lms-992", "S-1001", "S-1002",
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

/// A temporary folder holding the 1.2 export.
pub fn export_1p2() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_export(dir.path(), EXPORT_1P2);
    dir
}
