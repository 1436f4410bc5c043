//! A small school written by hand (roster, rows) and a client that signs
//! in like a browser: what the views tests share.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use lap_enrich::pseudonym::Pseudonymiser;
use lap_runtime::config::Secret;
use lap_schemas::{EntityKind, Flag, IndicatorRow, WindowKind};
use lap_sink::rows::Rows;
use lap_views::{Backend, Directory, Options, SignIn, Views};

/// Monday 2026-09-07 00:00 UTC in µs.
pub const MONDAY: i64 = 1_788_739_200_000_000;
/// One week in µs.
pub const WEEK: i64 = 7 * 86_400_000_000;
pub const TENANT: &str = "t";
pub const KEY: &str = "views-test-key-0123456789abcdef";

/// The export: two schools of one district; Maths 7A (c1, s1) taught by
/// Tove Teacher, with five learners and one who opted out; History 7A
/// (c2, s1) with three learners; Art 9 (c3, s2) taught by Uma Teacher
/// with Liv Learner. Gro Guardian is Lea's agent (listed by Lea),
/// Hal Guardian lists Leo as his child. Ada Admin leads s1, Dag Director
/// the district.
pub fn write_roster(dir: &Path) {
    let files = [
        (
            "manifest.csv",
            "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\nfile.orgs,bulk\nfile.classes,bulk\nfile.users,bulk\nfile.enrollments,bulk\n",
        ),
        (
            "orgs.csv",
            "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n\
             d1,active,,North District,district,,\n\
             s1,active,,Birch School,school,,d1\n\
             s2,active,,Cedar School,school,,d1\n",
        ),
        (
            "classes.csv",
            "sourcedId,status,dateLastModified,title,courseSourcedId,classCode,classType,schoolSourcedId,termSourcedIds\n\
             c1,active,,Maths 7A,k1,M7A,scheduled,s1,y\n\
             c2,active,,History 7A,k2,H7A,scheduled,s1,y\n\
             c3,active,,Art 9,k3,A9,scheduled,s2,y\n",
        ),
        (
            "users.csv",
            "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,givenName,familyName,identifier,email,agentSourcedIds\n\
             t1,active,,true,s1,teacher,tove,Tove,Teacher,,tove@birch.example,\n\
             t2,active,,true,s2,teacher,uma,Uma,Teacher,,uma@cedar.example,\n\
             a1,active,,true,s1,administrator,ada,Ada,Admin,,ada@birch.example,\n\
             a2,active,,true,d1,districtAdministrator,dag,Dag,Director,,dag@north.example,\n\
             l1,active,,true,s1,student,lea,Lea,Lund,,lea@birch.example,g1\n\
             l2,active,,true,s1,student,leo,Leo,Lind,,leo@birch.example,\n\
             l3,active,,true,s1,student,lin,Lin,Lake,,lin@birch.example,\n\
             l4,active,,true,s1,student,lou,Lou,Lark,,lou@birch.example,\n\
             l5,active,,true,s1,student,lyn,Lyn,Loft,,lyn@birch.example,\n\
             l6,active,,true,s1,student,oli,Oli,Optout,,oli@birch.example,\n\
             l7,active,,true,s2,student,liv,Liv,Learner,,liv@cedar.example,\n\
             g1,active,,true,s1,parent,gro,Gro,Guardian,,gro@home.example,\n\
             g2,active,,true,s1,guardian,hal,Hal,Guardian,,hal@home.example,l2\n\
             g3,active,,true,s1,parent,twin,Tw,In,,shared@home.example,\n\
             g4,active,,true,s1,parent,twin2,Tw,In2,,shared@home.example,\n",
        ),
        (
            "enrollments.csv",
            "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role\n\
             e1,active,,c1,s1,t1,teacher\n\
             e2,active,,c1,s1,l1,student\n\
             e3,active,,c1,s1,l2,student\n\
             e4,active,,c1,s1,l3,student\n\
             e5,active,,c1,s1,l4,student\n\
             e6,active,,c1,s1,l5,student\n\
             e7,active,,c1,s1,l6,student\n\
             e8,active,,c2,s1,l1,student\n\
             e9,active,,c3,s2,t2,teacher\n\
             e10,active,,c3,s2,l7,student\n",
        ),
        ("lap-consent.csv", "userSourcedId,optedOut\nl6,true\n"),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// Every roster name, e-mail and username: none may reach a store.
pub const PERSONAL: &[&str] = &[
    "Tove",
    "Uma",
    "Ada",
    "Dag",
    "Lea",
    "Leo",
    "Lin",
    "Lou",
    "Lyn",
    "Oli",
    "Liv",
    "Gro",
    "Hal",
    "@birch.example",
    "@cedar.example",
    "@home.example",
    "Lund",
    "Optout",
];

pub fn keys() -> Pseudonymiser {
    Pseudonymiser::new(&Secret::new(KEY)).unwrap()
}

/// The pseudonym of learner `id`.
pub fn p(id: &str) -> String {
    keys().key(TENANT, id)
}

pub fn directory(dir: &Path) -> Directory {
    let export = lap_enrich::roster::load(dir, TENANT, &mut |_| {}).unwrap();
    assert!(!export.has_errors(), "{:?}", export.issues);
    Directory::build(TENANT, export.records, &keys())
}

fn row(
    kind: EntityKind,
    entity: &str,
    class: Option<&str>,
    school: &str,
    week: i64,
    contributors: i32,
    indicators: &[(&str, f64)],
) -> IndicatorRow {
    IndicatorRow {
        table_name: format!("{}_weekly", kind.as_str()),
        window_kind: WindowKind::Weekly,
        window_start: MONDAY + week * WEEK,
        window_end: MONDAY + (week + 1) * WEEK,
        time_zone: "UTC".into(),
        entity_kind: kind,
        entity_id: entity.into(),
        class_id: class.map(String::from),
        school_id: Some(school.into()),
        revision: 1,
        is_final: week == 0,
        emitted_time: MONDAY + (week + 1) * WEEK,
        contributors,
        suppressed: false,
        indicators: indicators
            .iter()
            .map(|(k, v)| (k.to_string(), Some(*v)))
            .collect(),
        flags: vec![],
        cleared_flags: vec![],
        newest_event_time: Some(MONDAY + week * WEEK + 3_600_000_000),
    }
}

/// Two weeks of rows: classes c1 (5 learners), c2 (suppressed), c3 (3
/// learners, not suppressed by the aggregate, with a well-being value the
/// views must still hold back below k = 5); learner rows for c1's
/// learners (Lea flagged inactive in week 1), one row of the opted-out
/// learner that must never show, Liv's row in c3, and school s1's rows.
pub fn rows() -> Rows {
    let mut r = Rows::default();
    for week in 0..2 {
        let score = 0.5 + 0.1 * week as f64;
        r.indicators.entry("class_weekly").or_default().extend([
            row(
                EntityKind::Class,
                "c1",
                Some("c1"),
                "s1",
                week,
                5,
                &[
                    ("activity_events", 40.0 + week as f64),
                    ("mean_score", score),
                    ("wellbeing_index", 0.71),
                ],
            ),
            IndicatorRow {
                suppressed: true,
                indicators: BTreeMap::new(),
                ..row(EntityKind::Class, "c2", Some("c2"), "s1", week, 1, &[])
            },
            row(
                EntityKind::Class,
                "c3",
                Some("c3"),
                "s2",
                week,
                3,
                &[("activity_events", 9.0), ("wellbeing_index", 0.66)],
            ),
        ]);
        r.indicators.entry("school_weekly").or_default().push(row(
            EntityKind::School,
            "s1",
            None,
            "s1",
            week,
            5,
            &[("activity_events", 50.0), ("attendance_rate", 0.93)],
        ));
        let learners = r.indicators.entry("learner_weekly").or_default();
        for (i, l) in ["l1", "l2", "l3", "l4", "l5", "l6"].iter().enumerate() {
            let mut lr = row(
                EntityKind::Learner,
                &p(l),
                Some("c1"),
                "s1",
                week,
                1,
                &[("activity_events", (i + 1) as f64), ("mean_score", 0.61)],
            );
            if *l == "l1" && week == 1 {
                lr.flags.push(Flag {
                    code: "inactive".into(),
                    reason: "no activity on the class's last 5 days with activity".into(),
                    evidence: BTreeMap::from([
                        ("days_inactive".into(), 5.0),
                        ("threshold".into(), 5.0),
                    ]),
                });
            }
            learners.push(lr);
        }
        if week == 0 {
            // Lea's first three school days in Maths: present, late, absent.
            let days = r.indicators.entry("learner_daily").or_default();
            for (d, absences, tardies) in [(0, 0.0, 0.0), (1, 0.0, 1.0), (2, 1.0, 0.0)] {
                let start = MONDAY + d * 86_400_000_000;
                days.push(IndicatorRow {
                    table_name: "learner_daily".into(),
                    window_kind: WindowKind::Daily,
                    window_start: start,
                    window_end: start + 86_400_000_000,
                    ..row(
                        EntityKind::Learner,
                        &p("l1"),
                        Some("c1"),
                        "s1",
                        0,
                        1,
                        &[
                            ("attendance_rate", 1.0 - absences),
                            ("absences", absences),
                            ("tardies", tardies),
                        ],
                    )
                });
            }
        }
        let learners = r.indicators.entry("learner_weekly").or_default();
        learners.push(row(
            EntityKind::Learner,
            &p("l7"),
            Some("c3"),
            "s2",
            week,
            1,
            &[("activity_events", 3.0)],
        ));
    }
    r
}

/// The service on 127.0.0.1 over `backend` with the demo sign-in; its
/// base URL.
pub async fn start(roster: &Path, backend: Backend) -> (String, Arc<Views>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    (base, serve_on(listener, roster, backend, SignIn::Demo))
}

/// The service on `listener` with `sign_in`.
pub fn serve_on(
    listener: tokio::net::TcpListener,
    roster: &Path,
    backend: Backend,
    sign_in: SignIn,
) -> Arc<Views> {
    let views = Views::new(
        directory(roster),
        backend,
        Options {
            min_group_size: 5,
            sign_in,
            digest_default: lap_views::digest::Frequency::None,
        },
    );
    let served = views.clone();
    tokio::spawn(async move {
        lap_views::serve(served, listener, std::future::pending())
            .await
            .unwrap()
    });
    views
}

/// A browser-like client signed in as one person (its session cookie).
pub struct Browser {
    base: String,
    http: reqwest::Client,
    cookie: String,
}

/// A response's status, `Location` and body.
pub struct Page {
    pub status: u16,
    pub location: String,
    pub body: String,
}

impl Browser {
    /// Nobody signed in.
    pub fn anonymous(base: &str) -> Browser {
        Browser {
            base: base.into(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: String::new(),
        }
    }

    /// Signed in through the demo sign-in as `person`.
    pub async fn signed_in(base: &str, person: &str) -> Browser {
        let mut b = Browser::anonymous(base);
        let res = b.post_raw("/signin", &[("person", person)]).await;
        assert_eq!(res.status().as_u16(), 303, "signing in as {person}");
        let set = res.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(
            set.contains("HttpOnly") && set.contains("Secure") && set.contains("SameSite=Lax"),
            "{set}"
        );
        b.cookie = set.split(';').next().unwrap().to_string();
        b
    }

    async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(lap_views::oidc::urlencoded(fields))
            .send()
            .await
            .unwrap()
    }

    async fn page(res: reqwest::Response) -> Page {
        Page {
            status: res.status().as_u16(),
            location: res
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default(),
            body: res.text().await.unwrap(),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        Browser::page(res).await
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        Browser::page(self.post_raw(path, fields).await).await
    }

    /// The CSRF token of the page at `path` (from its sign-out form).
    pub async fn csrf(&self, path: &str) -> String {
        let body = self.get(path).await.body;
        let at = body
            .find(r#"name="csrf" value=""#)
            .expect("a form with a CSRF token")
            + 19;
        body[at..at + 64].to_string()
    }
}

/// Every roster word of [`PERSONAL`] found in a file under `dir`.
pub fn personal_data_in(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    for e in walk(dir) {
        let bytes = std::fs::read(&e).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for word in PERSONAL {
            if text.contains(word) {
                found.push(format!("{word} in {}", e.display()));
            }
        }
    }
    found
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
