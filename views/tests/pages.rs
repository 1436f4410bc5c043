//! The views over real stores (a lake in a folder, and PostgreSQL when the
//! test script started it) through a real HTTP client: each person sees
//! what their role allows and nothing more, names appear only on pages,
//! every learner view leaves an access record, and flag actions work
//! only with the sign-in session's CSRF token.

mod common;

use common::*;
use lap_runtime::config::PostgresConfig;
use lap_runtime::testkit::{POSTGRES_ENV, service, unique};
use lap_sink::delta::{DeltaStore, Lake};
use lap_sink::postgres::PgStore;
use lap_sink::store::Store;
use lap_views::{Backend, Role};

#[test]
fn the_roster_alone_says_who_sees_what() {
    let dir = tempfile::tempdir().unwrap();
    write_roster(dir.path());
    let d = directory(dir.path());
    let names = |id: &str| {
        let v = d.viewer(id).unwrap();
        v.learners
            .values()
            .map(|l| l.name.clone())
            .collect::<Vec<_>>()
    };

    let tove = d.viewer("t1").unwrap();
    assert_eq!(tove.role, Role::Teacher);
    assert_eq!(tove.classes.iter().collect::<Vec<_>>(), ["c1"]);
    // Oli opted out: nobody's, not even his teacher's.
    let mut of_tove = names("t1");
    of_tove.sort();
    assert_eq!(
        of_tove,
        ["Lea Lund", "Leo Lind", "Lin Lake", "Lou Lark", "Lyn Loft"]
    );
    assert_eq!(
        tove.learner(&p("l1"))
            .unwrap()
            .classes
            .iter()
            .collect::<Vec<_>>(),
        ["c1"],
        "Tove sees Lea in her class only, not in History"
    );

    let ada = d.viewer("a1").unwrap();
    assert_eq!(ada.role, Role::Leader);
    assert_eq!(ada.schools.iter().collect::<Vec<_>>(), ["s1"]);
    assert_eq!(ada.classes.iter().collect::<Vec<_>>(), ["c1", "c2"]);
    assert!(ada.learners.is_empty(), "leaders see no learner");
    let dag = d.viewer("a2").unwrap();
    assert_eq!(
        dag.schools.iter().collect::<Vec<_>>(),
        ["s1", "s2"],
        "a district leads its schools"
    );

    assert_eq!(names("g1"), ["Lea Lund"], "the learner names the agent");
    assert_eq!(names("g2"), ["Leo Lind"], "the agent names the learner");
    assert_eq!(d.viewer("g1").unwrap().role, Role::Guardian);
    assert_eq!(
        d.viewer("g1")
            .unwrap()
            .learner(&p("l1"))
            .unwrap()
            .classes
            .len(),
        2,
        "a guardian sees every class of the child"
    );

    assert_eq!(names("l7"), ["Liv Learner"]);
    assert!(
        d.viewer("l6").is_none(),
        "an opted-out learner has nothing to see"
    );
    assert!(d.viewer("nobody").is_none());
    assert_eq!(
        d.find("email".parse().unwrap(), "TOVE@birch.example")
            .unwrap()
            .id,
        "t1"
    );
    assert_eq!(d.find("username".parse().unwrap(), "hal").unwrap().id, "g2");
    assert!(
        d.find("email".parse().unwrap(), "shared@home.example")
            .is_none(),
        "an e-mail two people share names nobody"
    );
}

/// The scenario both stores must pass.
async fn each_person_sees_their_part(base: &str) {
    // Nobody signed in: sent to sign in, whatever they ask for.
    let anon = Browser::anonymous(base);
    let r = anon.get(&format!("/learners/{}", p("l1"))).await;
    assert_eq!((r.status, r.location.as_str()), (303, "/signin"));
    assert_eq!(
        anon.post("/signin", &[("person", "nobody")]).await.status,
        404
    );

    // Tove, teacher of Maths 7A.
    let tove = Browser::signed_in(base, "t1").await;
    let home = tove.get("/").await;
    assert!(
        home.body.contains("Maths 7A") && !home.body.contains("Art 9"),
        "{}",
        home.body
    );
    let class = tove.get("/classes/c1").await;
    assert_eq!(class.status, 200);
    for name in ["Lea Lund", "Leo Lind", "Lin Lake", "Lou Lark", "Lyn Loft"] {
        assert!(class.body.contains(name), "{name} on the class page");
    }
    assert!(
        !class.body.contains("Oli Optout"),
        "the opted-out learner is nowhere"
    );
    assert!(
        class.body.contains("No recent activity"),
        "Lea's open flag is listed"
    );
    assert!(
        class.body.contains("Provisional"),
        "the newest week is provisional"
    );
    assert!(class.body.contains("<svg"), "a trend chart");
    assert!(
        class
            .body
            .contains("How the class spreads in the newest week")
            && class
                .body
                .contains("Learning activities: learners per range"),
        "how the class spreads, with its numbers"
    );

    // Tove's digest: weekly until she chooses (the service's default),
    // then what she chose; only with the form's token; nobody else's page.
    let digest = tove.get("/digest").await;
    assert_eq!(digest.status, 200);
    assert!(
        digest.body.contains(r#"id="f-none" value="none" checked"#),
        "the default until she chooses: {}",
        digest.body
    );
    assert_eq!(
        tove.post("/digest", &[("csrf", "forged"), ("frequency", "daily")])
            .await
            .status,
        403
    );
    let csrf = tove.csrf("/digest").await;
    let saved = tove
        .post("/digest", &[("csrf", &csrf), ("frequency", "daily")])
        .await;
    assert_eq!((saved.status, saved.location.as_str()), (303, "/digest"));
    assert!(
        tove.get("/digest")
            .await
            .body
            .contains(r#"id="f-daily" value="daily" checked"#)
    );
    assert_eq!(
        tove.post("/digest", &[("csrf", &csrf), ("frequency", "hourly")])
            .await
            .status,
        400
    );
    assert_eq!(tove.get("/classes/c3").await.status, 404, "not her class");
    assert_eq!(
        tove.get("/classes/c2").await.status,
        404,
        "Lea's other class is not hers"
    );
    assert_eq!(
        tove.get("/classes/nope").await.status,
        404,
        "unknown looks the same"
    );
    assert_eq!(
        tove.get(&format!("/learners/{}", p("l7"))).await.status,
        404
    );
    assert_eq!(
        tove.get(&format!("/learners/{}", p("l6"))).await.status,
        404
    );
    assert_eq!(tove.get("/schools/s1").await.status, 404);

    let lea = format!("/learners/{}", p("l1"));
    let page = tove.get(&lea).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Lea Lund") && page.body.contains("No recent activity"));
    assert!(page.body.contains("days inactive"), "the evidence is shown");
    assert!(
        page.body
            .contains("Attendance in September 2026, Maths 7A: 1 present, 1 late, 1 absent"),
        "the attendance calendar: {}",
        page.body
    );
    let csv = tove.get(&format!("{lea}/learner_weekly.csv")).await;
    assert_eq!(csv.status, 200);
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines.len(), 3, "{}", csv.body);
    assert!(
        lines[0].starts_with("window_start,window_end,class_id,is_final"),
        "{}",
        lines[0]
    );
    assert!(lines[2].ends_with(",inactive"), "{}", lines[2]);
    assert!(
        !csv.body.contains(&p("l1")) && !csv.body.contains("Lea"),
        "no identifier in the file"
    );
    let class_csv = tove.get("/classes/c1/class_weekly.csv").await;
    assert_eq!(class_csv.body.lines().count(), 3, "{}", class_csv.body);
    assert_eq!(
        tove.get("/classes/c1/learner_weekly.csv").await.status,
        404,
        "only class tables"
    );

    // Acting on the flag needs the sign-in session's token.
    let csrf = tove.csrf(&lea).await;
    let start = (MONDAY + WEEK).to_string();
    let mut fields = vec![
        ("code", "inactive"),
        ("class_id", "c1"),
        ("window_start", start.as_str()),
        ("action", "resolved"),
        ("note", "talked with the family"),
    ];
    let zeros = "0".repeat(64);
    let forged = [fields.clone(), vec![("csrf", zeros.as_str())]].concat();
    assert_eq!(
        tove.post(&format!("{lea}/flags"), &forged).await.status,
        403
    );
    assert!(
        tove.get(&lea).await.body.contains("No recent activity"),
        "a forged form changes nothing"
    );
    fields.push(("csrf", csrf.as_str()));
    let done = tove.post(&format!("{lea}/flags"), &fields).await;
    assert_eq!((done.status, done.location.as_str()), (303, lea.as_str()));
    assert!(
        tove.get(&lea).await.body.contains("No open flags."),
        "resolved"
    );
    assert!(
        !tove
            .get("/classes/c1")
            .await
            .body
            .contains("No recent activity")
    );
    let in_c2: Vec<(&str, &str)> = fields
        .iter()
        .map(|&(k, v)| if k == "class_id" { (k, "c2") } else { (k, v) })
        .collect();
    assert_eq!(
        tove.post(&format!("{lea}/flags"), &in_c2).await.status,
        404,
        "no action on a class she does not teach"
    );

    // A group of learners Tove picks: the mean of five, nothing of two,
    // and nobody she does not teach in this class.
    let pick = |ids: &[&str]| {
        let q: Vec<String> = ids.iter().map(|l| format!("learner={}", p(l))).collect();
        format!("/classes/c1/group?{}", q.join("&"))
    };
    let five = tove.get(&pick(&["l1", "l2", "l3", "l4", "l5"])).await;
    assert_eq!(five.status, 200, "{}", five.body);
    // activity_events 1..5 in each week: a mean of 3.
    assert!(
        five.body.contains("<td>3</td>") && five.body.contains("Lin Lake"),
        "{}",
        five.body
    );
    let two = tove.get(&pick(&["l1", "l2"])).await;
    assert!(two.body.contains("Fewer than 5 learners"), "{}", two.body);
    assert!(!two.body.contains("<td>1</td>") && !two.body.contains("<td>2</td>"));
    assert_eq!(
        tove.get(&pick(&["l1", "l7"])).await.status,
        404,
        "Liv is not hers"
    );
    assert_eq!(
        tove.get(&pick(&["l1", "l6"])).await.status,
        404,
        "Oli opted out"
    );

    // Tove saves the five as a group and shares it with Ada, who leads
    // the school: Ada sees the group's values, not who is in it.
    let csrf = tove.csrf("/classes/c1").await;
    let mut save: Vec<(&str, String)> = ["l1", "l2", "l3", "l4", "l5"]
        .iter()
        .map(|l| ("learner", p(l)))
        .collect();
    save.push(("name", "Reading group".into()));
    fn with_csrf<'a>(v: &[(&'a str, String)], csrf: &str) -> Vec<(&'a str, String)> {
        let mut f = v.to_vec();
        f.push(("csrf", csrf.to_string()));
        f
    }
    let post = async |b: &Browser, path: &str, f: Vec<(&str, String)>| {
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        b.post(path, &f).await
    };
    assert_eq!(
        post(&tove, "/classes/c1/groups", with_csrf(&save, "0"))
            .await
            .status,
        403
    );
    let saved = post(&tove, "/classes/c1/groups", with_csrf(&save, &csrf)).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let group = saved.location.clone();
    let page = tove.get(&group).await;
    assert!(
        page.body.contains("Reading group") && page.body.contains("Lyn Loft"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Ada Admin") && page.body.contains("Dag Director"),
        "colleagues to share with"
    );
    assert!(
        !page.body.contains("Uma Teacher"),
        "not a colleague of this class"
    );
    let share = |who: &str| vec![("person", who.to_string()), ("csrf", csrf.clone())];
    assert_eq!(
        post(&tove, &format!("{group}/share"), share("t2"))
            .await
            .status,
        400
    );
    assert_eq!(
        post(&tove, &format!("{group}/share"), share("a1"))
            .await
            .status,
        303
    );
    assert!(tove.get("/").await.body.contains("Reading group"));

    // Uma, teacher of Art 9 with three learners: k = 5, so the class's
    // well-being stays hidden although the row carries it.
    let uma = Browser::signed_in(base, "t2").await;
    let art = uma.get("/classes/c3").await;
    assert_eq!(art.status, 200);
    assert!(
        !art.body.contains("66 %"),
        "well-being of 3 learners is never shown"
    );
    assert!(art.body.contains("Liv Learner"));

    // Ada leads Birch School: class and school rows, no learner, no name.
    let ada = Browser::signed_in(base, "a1").await;
    let school = ada.get("/schools/s1").await;
    assert_eq!(school.status, 200);
    assert!(school.body.contains("Maths 7A") && school.body.contains("History 7A"));
    assert!(school.body.contains("93 %"), "the school's attendance");
    let c1 = ada.get("/classes/c1").await;
    assert_eq!(c1.status, 200);
    for name in ["Lea Lund", "Leo Lind", "Lin Lake", "Lou Lark", "Lyn Loft"] {
        assert!(!c1.body.contains(name), "{name} on a leader's page");
    }
    assert!(
        ada.get("/classes/c2")
            .await
            .body
            .contains("Fewer than 5 learners")
    );
    assert_eq!(ada.get(&lea).await.status, 404);
    assert_eq!(ada.get("/schools/s2").await.status, 404);
    assert_eq!(ada.get("/classes/c3").await.status, 404);
    assert!(school.body.contains("None so far") || school.body.contains("Marked not useful"));
    let home = ada.get("/").await;
    assert!(
        home.body.contains("Reading group") && home.body.contains("shared with you"),
        "{}",
        home.body
    );
    let gid = home
        .body
        .split("href=\"/groups/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let shared = ada.get(&format!("/groups/{gid}")).await;
    assert_eq!(shared.status, 200);
    assert!(
        shared.body.contains("<td>3</td>"),
        "the group's values: {}",
        shared.body
    );
    for name in ["Lea Lund", "Leo Lind", "Lin Lake", "Lou Lark", "Lyn Loft"] {
        assert!(!shared.body.contains(name), "{name} named to a leader");
    }
    assert!(!shared.body.contains("/share\""), "only the owner shares");
    assert_eq!(
        uma.get(&format!("/groups/{gid}")).await.status,
        404,
        "not Uma's class"
    );

    // Gro, Lea's guardian: Lea only, with who looked at her rows.
    let gro = Browser::signed_in(base, "g1").await;
    assert_eq!(
        gro.get("/digest").await.status,
        404,
        "digests are for teachers"
    );
    let child = gro.get(&lea).await;
    assert_eq!(child.status, 200);
    assert!(child.body.contains("Lea Lund"));
    assert!(
        !child
            .body
            .contains("<button type=\"submit\" name=\"action\""),
        "no flag actions for guardians"
    );
    assert_eq!(
        gro.get(&format!("/learners/{}", p("l2"))).await.status,
        404,
        "another child"
    );
    assert_eq!(gro.get("/classes/c1").await.status, 404, "no class view");
    assert_eq!(
        gro.get(&format!("/groups/{gid}")).await.status,
        404,
        "nor groups"
    );
    let mine = gro.get("/my-data").await;
    assert!(
        mine.body.contains("Who looked at Lea Lund"),
        "{}",
        mine.body
    );
    assert!(
        mine.body.contains("Tove Teacher"),
        "the teacher's visit is listed"
    );

    // Signing out ends the sign-in session.
    let csrf = gro.csrf("/").await;
    assert_eq!(gro.post("/signout", &[("csrf", &csrf)]).await.status, 303);
    assert_eq!(gro.get(&lea).await.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_lake() {
    let roster = tempfile::tempdir().unwrap();
    write_roster(roster.path());
    let lake_dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(lake_dir.path());
    DeltaStore::new(lake.clone()).write(&rows()).await.unwrap();
    let (base, views) = start(roster.path(), Backend::lake(lake)).await;
    each_person_sees_their_part(&base).await;

    assert_eq!(personal_data_in(lake_dir.path()), Vec::<String>::new());
    let lea = views.backend().accesses(&p("l1")).await.unwrap();
    assert!(
        lea.iter().any(|a| a.viewer == "t1" && a.view == "learner"),
        "{lea:?}"
    );
    assert!(lea.iter().any(|a| a.viewer == "t1" && a.view == "class"));
    assert!(lea.iter().any(|a| a.viewer == "g1" && a.role == "guardian"));
    assert!(
        views.backend().accesses(&p("l6")).await.unwrap().is_empty(),
        "never shown, never recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_postgres() {
    let Some(url) = service(POSTGRES_ENV) else {
        return;
    };
    let schema = unique("views").replace('-', "_");
    let cfg = PostgresConfig {
        enabled: true,
        url: url.clone(),
        schema: schema.clone(),
        ..PostgresConfig::default()
    };
    PgStore::new(&cfg, None)
        .unwrap()
        .write(&rows())
        .await
        .unwrap();
    let roster = tempfile::tempdir().unwrap();
    write_roster(roster.path());
    let (base, _views) = start(
        roster.path(),
        Backend::postgres(PgStore::new(&cfg, None).unwrap()),
    )
    .await;
    each_person_sees_their_part(&base).await;

    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let count = |sql: String| {
        let client = &client;
        async move { client.query_one(&sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    let lea = p("l1");
    assert!(count(format!("SELECT count(*) FROM {schema}.views_access WHERE person_key = '{lea}' AND viewer = 't1' AND view = 'learner'")).await >= 3);
    assert_eq!(
        count(format!(
            "SELECT count(*) FROM {schema}.views_access WHERE person_key = '{}'",
            p("l6")
        ))
        .await,
        0
    );
    assert_eq!(count(format!("SELECT count(*) FROM {schema}.views_flag_actions WHERE action = 'resolved' AND code = 'inactive'")).await, 1);
    // No name, e-mail or username in any table of the store.
    let dump: String = client
        .query_one(
            &format!(
                "SELECT string_agg(t::text, ' ') FROM (\
                 SELECT to_jsonb(a)::text AS t FROM {schema}.views_access a UNION ALL \
                 SELECT to_jsonb(f)::text FROM {schema}.views_flag_actions f UNION ALL \
                 SELECT to_jsonb(w)::text FROM {schema}.learner_weekly w UNION ALL \
                 SELECT to_jsonb(c)::text FROM {schema}.class_weekly c) x"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let leaked: Vec<&&str> = PERSONAL.iter().filter(|w| dump.contains(**w)).collect();
    assert!(leaked.is_empty(), "{leaked:?}");
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_demo_sign_in_refuses_an_address_others_can_reach() {
    let roster = tempfile::tempdir().unwrap();
    write_roster(roster.path());
    let lake = tempfile::tempdir().unwrap();
    let views = lap_views::Views::new(
        directory(roster.path()),
        Backend::lake(Lake::local(lake.path())),
        lap_views::Options {
            min_group_size: 5,
            sign_in: lap_views::SignIn::Demo,
            digest_default: lap_views::digest::Frequency::None,
        },
    );
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let err = lap_views::serve(views, listener, async {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("loopback addresses only"), "{err}");
}
