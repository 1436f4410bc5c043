//! `roster::load` and `roster::plan`: the fixture exports, a 1.2 export
//! written from the spec (folder and zip), delta files, bad rows reported
//! by file, line and column, and re-loads that publish nothing.

mod common;

use std::io::Write;
use std::path::PathBuf;

use common::{export_1p2, file_1p2, load, write_export};
use lap_enrich::roster::{self, Change, Issue, Severity, record_key};
use lap_schemas::{RosterEntity, RosterStatus};

fn shared(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures")
        .join(name);
    if p.is_dir() {
        Some(p)
    } else {
        println!(
            "skipped: {} is absent (it exists only beside the project's own checkout)",
            p.display()
        );
        None
    }
}

fn count(export: &roster::Export, entity: RosterEntity) -> usize {
    export.records.iter().filter(|r| r.entity == entity).count()
}

fn errors(export: &roster::Export) -> Vec<&Issue> {
    export
        .issues
        .iter()
        .filter(|i| i.severity == Severity::Error)
        .collect()
}

#[test]
fn lepo_fixture_loads_every_row() {
    let Some(dir) = shared("oneroster-lepo-en") else {
        return;
    };
    let export = roster::load(&dir, "t1", &mut |_| {}).unwrap();
    assert_eq!(export.spec_version, "1.1");
    assert!(errors(&export).is_empty(), "{:#?}", export.issues);
    assert_eq!(count(&export, RosterEntity::User), 20);
    assert_eq!(count(&export, RosterEntity::Class), 5);
    assert_eq!(count(&export, RosterEntity::Enrollment), 30);
    let u1 = export
        .records
        .iter()
        .find(|r| r.sourced_id == "us0001")
        .unwrap();
    assert_eq!(u1.fields["username"], "user01");
    assert_eq!(u1.metadata["metadata.phoneticGivenName"], "PGN 01");
    assert!(
        !u1.fields.contains_key("middleName"),
        "empty values are absent, not empty strings"
    );
}

#[test]
fn oat_fixture_loads_with_its_vendor_columns_and_old_names() {
    let Some(dir) = shared("oneroster-oat-v1p1") else {
        return;
    };
    let export = roster::load(&dir, "t1", &mut |_| {}).unwrap();
    assert!(errors(&export).is_empty(), "{:#?}", export.issues);
    let users = export.files.iter().find(|f| f.file == "users.csv").unwrap();
    assert_eq!((users.read, users.loaded, users.rejected), (2, 2, 0));
    let u1 = export
        .records
        .iter()
        .find(|r| r.sourced_id == "user1")
        .unwrap();
    assert_eq!(u1.metadata["ext_tao_userMotherName"], "metadata.value1");
    // Extension columns in a non-canonical order; 1.0 names mapped.
    let org = export
        .records
        .iter()
        .find(|r| r.sourced_id == "12345")
        .unwrap();
    assert_eq!(org.metadata["metadata.classification"], "Classification 1");
    assert_eq!(
        org.date_last_modified,
        roster::parse_date_time("2017-05-06T08:01:05Z")
    );
    let u2 = export
        .records
        .iter()
        .find(|r| r.sourced_id == "user2")
        .unwrap();
    assert_eq!(u2.fields["userIds"], "abc", "1.0's userId is 1.1's userIds");
    assert_eq!(u2.fields["enabledUser"], "true", "TRUE normalised");
    assert_eq!(count(&export, RosterEntity::Enrollment), 3);
    assert_eq!(
        count(&export, RosterEntity::Demographics),
        0,
        "read, checked, not published"
    );
    assert!(export.issues.iter().any(|i| i.file == "classes.csv"
        && i.column.as_deref() == Some("courseSourcedId")
        && i.severity == Severity::Warning));
}

#[test]
fn a_1p2_export_loads_from_a_folder_and_from_a_zip() {
    let dir = export_1p2();
    let export = load(dir.path());
    assert_eq!(export.spec_version, "1.2");
    assert!(errors(&export).is_empty(), "{:#?}", export.issues);
    assert_eq!(count(&export, RosterEntity::Role), 4);
    assert_eq!(count(&export, RosterEntity::CurriculumObjective), 3);
    assert_eq!(count(&export, RosterEntity::QuestionnaireItem), 2);
    assert_eq!(count(&export, RosterEntity::Consent), 1);
    let org = export
        .records
        .iter()
        .find(|r| r.sourced_id == "sch1")
        .unwrap();
    assert_eq!(
        org.fields["name"], "Hillside School",
        "BOM stripped from the first header"
    );
    let u1 = export
        .records
        .iter()
        .find(|r| r.sourced_id == "u1")
        .unwrap();
    assert_eq!(u1.fields["userMasterIdentifier"], "UM-1");
    assert_eq!(u1.fields["primaryOrgSourcedId"], "sch1");
    assert_eq!(u1.metadata["metadata.jp.kanaGivenName"], "アマラ");
    assert_eq!(u1.spec_version, "1.2");

    let zip_path = dir.path().join("export.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    for entry in std::fs::read_dir(common::export_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        zip.start_file(
            format!("roster-2024/{name}"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(file_1p2(&name).as_bytes()).unwrap();
    }
    zip.finish().unwrap();
    let from_zip = roster::load(&zip_path, "t1", &mut |_| {}).unwrap();
    assert_eq!(from_zip.records, export.records);
}

#[test]
fn bad_rows_are_reported_with_file_line_and_column_and_the_rest_loads() {
    let dir = export_1p2();
    write_export(
        dir.path(),
        &[(
            "enrollments.csv",
            "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate\n\
e1,active,2024-08-01,c7a,sch1,u1,student,false,,\n\
e2,active,yesterday,c7a,sch1,u2,student,false,,\n\
e3,archived,2024-08-01,c7b,sch1,u3,student,false,,\n\
e4,active,2024-08-01,c7a,sch1,t9,headteacher,true,,\n\
e1,active,2024-08-01,c7b,sch1,u1,student,false,,\n\
e6,active,2024-08-01,,sch1,u1,student,false,,\n\
e7,active,2024-08-01,c7b,sch1,u2,student,maybe,,\n\
e8,active,2024-08-01,c7b,sch1,u2,student,true,2024-13-01,\n",
        )],
    );
    let export = load(dir.path());
    let got: Vec<(u64, Option<&str>)> = errors(&export)
        .iter()
        .filter(|i| i.file == "enrollments.csv")
        .map(|i| (i.line, i.column.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (3, Some("dateLastModified")),
            (4, Some("status")),
            (5, Some("role")),
            (6, Some("sourcedId")),
            (7, Some("classSourcedId")),
            (8, Some("primary")),
            (9, Some("beginDate")),
        ]
    );
    let e = errors(&export);
    assert_eq!(
        e[0].to_string(),
        "error: enrollments.csv:3 column `dateLastModified`: `yesterday` is not an ISO 8601 date-time (e.g. 2024-03-01T08:00:00Z)"
    );
    assert!(
        e[3].reason.contains("already appears on line 2"),
        "{}",
        e[3]
    );
    let f = export
        .files
        .iter()
        .find(|f| f.file == "enrollments.csv")
        .unwrap();
    assert_eq!((f.read, f.loaded, f.rejected), (8, 1, 7));
    assert!(export.has_errors());
}

#[test]
fn lap_files_check_their_own_rules() {
    let dir = export_1p2();
    write_export(
        dir.path(),
        &[
            (
                "lap-questionnaire.csv",
                "itemId,dimension,scaleMin,scaleMax,reverseScored\nq1,social,5,1,false\nq2,calm,1,five,false\nq3,,1,5,false\n",
            ),
            (
                "lap-curriculum.csv",
                "objectiveId,title,courseSourcedIds,classSourcedIds\nobj-x,Orphan objective,,\n",
            ),
            ("lap-consent.csv", "userSourcedId,optedOut\nu1,perhaps\n"),
        ],
    );
    let export = load(dir.path());
    let got: Vec<(&str, u64, Option<&str>)> = errors(&export)
        .iter()
        .map(|i| (i.file.as_str(), i.line, i.column.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("lap-curriculum.csv", 2, Some("courseSourcedIds")),
            ("lap-questionnaire.csv", 2, Some("scaleMax")),
            ("lap-questionnaire.csv", 3, Some("scaleMax")),
            ("lap-questionnaire.csv", 4, Some("dimension")),
            ("lap-consent.csv", 2, Some("optedOut")),
        ]
    );
}

#[test]
fn manifest_problems_stop_the_load_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let err = roster::load(dir.path(), "t1", &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("has no manifest.csv"), "{err}");
    write_export(
        dir.path(),
        &[(
            "manifest.csv",
            "propertyName,value\noneroster.version,1.3\n",
        )],
    );
    let err = roster::load(dir.path(), "t1", &mut |_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "manifest.csv: oneroster.version `1.3` is not 1.0, 1.1 or 1.2"
    );
    write_export(
        dir.path(),
        &[(
            "manifest.csv",
            "propertyName,value\noneroster.version,1.1\nfile.users,bulk\n",
        )],
    );
    let export = roster::load(dir.path(), "t1", &mut |_| {}).unwrap();
    assert_eq!(
        errors(&export)[0].reason,
        "the manifest lists it, but it is not in the export"
    );
}

#[test]
fn reloading_plans_nothing_and_bulk_and_delta_files_delete() {
    let dir = export_1p2();
    let first = load(dir.path());
    let nothing = roster::Published::new("t1");
    assert_eq!(
        roster::plan(&nothing, &first).unwrap().len(),
        first.records.len()
    );
    let mut published = roster::Published::new("t1");
    for r in &first.records {
        let key = record_key("t1", r.entity, &r.sourced_id);
        published.apply(key.as_bytes(), Some(&lap_schemas::encode(r).unwrap()));
    }
    let mut other_tenant = first.records[0].clone();
    other_tenant.tenant = "t2".into();
    let key = record_key("t2", other_tenant.entity, &other_tenant.sourced_id);
    published.apply(
        key.as_bytes(),
        Some(&lap_schemas::encode(&other_tenant).unwrap()),
    );
    assert_eq!(
        published.len(),
        first.records.len(),
        "t2's record is not t1's"
    );
    assert!(
        roster::plan(&published, &load(dir.path()))
            .unwrap()
            .is_empty(),
        "same export, nothing to publish"
    );

    // A bulk users file without u2: u2 is deleted.
    let users = file_1p2("users.csv");
    let without_u2: String = users
        .lines()
        .filter(|l| !l.starts_with("u2,"))
        .map(|l| format!("{l}\n"))
        .collect();
    write_export(dir.path(), &[("users.csv", &without_u2)]);
    let changes = roster::plan(&published, &load(dir.path())).unwrap();
    assert_eq!(
        changes,
        [Change::Delete(record_key("t1", RosterEntity::User, "u2"))]
    );

    // A delta export: one enrollment deleted, one class changed, the rest untouched.
    let delta = tempfile::tempdir().unwrap();
    write_export(
        delta.path(),
        &[
            (
                "manifest.csv",
                "propertyName,value\noneroster.version,1.2\nfile.classes,delta\nfile.enrollments,delta\n",
            ),
            (
                "classes.csv",
                "sourcedId,status,dateLastModified,title,courseSourcedId,classCode,classType,schoolSourcedId,termSourcedIds\nc7a,active,2025-01-06,Maths 7A (spring),math7,7A-MATH,scheduled,sch1,t2\n",
            ),
            (
                "enrollments.csv",
                "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role\ne5,tobedeleted,2025-01-06,c7b,sch1,u1,student\n",
            ),
        ],
    );
    let export = load(delta.path());
    assert!(export.bulk.is_empty());
    let changes = roster::plan(&published, &export).unwrap();
    assert_eq!(changes.len(), 2, "{changes:#?}");
    assert!(
        matches!(&changes[0], Change::Upsert(r) if r.sourced_id == "c7a" && r.fields["title"] == "Maths 7A (spring)")
    );
    assert_eq!(
        changes[1],
        Change::Delete(record_key("t1", RosterEntity::Enrollment, "e5"))
    );
    assert_eq!(export.records[1].status, RosterStatus::Tobedeleted);
    // A delta row without a status is rejected: deltas must say what they do.
    write_export(
        delta.path(),
        &[(
            "enrollments.csv",
            "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role\ne6,,2025-01-06,c7b,sch1,u1,student\n",
        )],
    );
    assert_eq!(
        errors(&load(delta.path()))[0].column.as_deref(),
        Some("status")
    );
}
