//! Where the views read rows and keep their own records: PostgreSQL in
//! the services layout, the lake in embedded mode (the demo). The pages
//! are the same either way.
//!
//! The views keep records of their own: access records (one per page
//! that showed a learner's rows), flag actions (a teacher acknowledged,
//! resolved or marked a flag not useful), saved groups, and the digests
//! (teachers' choices, the digests sent and the flags each noted). In
//! PostgreSQL they are the `views_*` tables; in the lake, JSON lines under
//! `_lap_views/`.

use lap_schemas::IndicatorRow;
use lap_sink::delta::Lake;
use lap_sink::postgres::PgStore;
use lap_sink::select::Selection;
use lap_sink::store::StoreError;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use lap_sink::delta::purge::{VIEWS_DIR as LAKE_FOLDER, VIEWS_FILES, VIEWS_TEACHER_FILES};

mod digests;

pub use digests::DigestRecord;

const ACCESS_FILE: &str = VIEWS_FILES[0].1;
const FLAG_FILE: &str = VIEWS_FILES[1].1;
const GROUP_FILE: &str = VIEWS_FILES[2].1;
const DIGEST_FLAG_FILE: &str = VIEWS_FILES[3].1;
const PREF_FILE: &str = VIEWS_TEACHER_FILES[0].1;
const DIGEST_FILE: &str = VIEWS_TEACHER_FILES[1].1;

/// One page that showed a learner's rows to someone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// When (UTC µs).
    pub at: i64,
    /// The viewer's roster sourcedId.
    pub viewer: String,
    /// The viewer's role (`teacher`, `guardian`, …).
    pub role: String,
    /// The learner's pseudonym.
    pub person_key: String,
    /// Which view (`learner`, `class`, `learner.csv`, …).
    pub view: String,
}

/// What a teacher did with a flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Seen and being looked into.
    Acknowledged,
    /// Dealt with: hidden until newer evidence raises it again.
    Resolved,
    /// Not useful to act on: counted per flag code, to tune thresholds.
    NotUseful,
}

impl Action {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Acknowledged => "acknowledged",
            Action::Resolved => "resolved",
            Action::NotUseful => "not_useful",
        }
    }

    /// The action named `s`.
    pub fn parse(s: &str) -> Option<Action> {
        [Action::Acknowledged, Action::Resolved, Action::NotUseful]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// One flag action, as of the flagged row's window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagAction {
    /// When (UTC µs).
    pub at: i64,
    /// The teacher's roster sourcedId.
    pub viewer: String,
    /// The learner's pseudonym.
    pub person_key: String,
    /// The class of the flagged row.
    pub class_id: Option<String>,
    /// Flag code.
    pub code: String,
    /// What was done.
    pub action: Action,
    /// Window start (UTC µs) of the row the flag was on: newer evidence is
    /// a flag on a later window.
    pub window_start: i64,
    /// A short note (resolutions); kept in this record only.
    pub note: String,
}

/// Learners of one class a teacher saved as a group, and who else may
/// see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Random id (the group's URL).
    pub id: String,
    /// When it was saved (UTC µs).
    pub created_at: i64,
    /// The teacher who saved it (roster sourcedId).
    pub owner: String,
    /// The class its members were picked from.
    pub class_id: String,
    /// The name the teacher gave it.
    pub name: String,
    /// The members' pseudonyms.
    pub members: Vec<String>,
    /// Colleagues it is shared with (roster sourcedIds).
    pub shared_with: Vec<String>,
}

/// The store behind the views.
pub enum Backend {
    /// The services layout's PostgreSQL (one connection, shared; boxed,
    /// as the store carries its prepared statements).
    Postgres(Box<Mutex<PgStore>>),
    /// The lake of an embedded run; appends are serialised.
    Lake(Lake, Mutex<()>),
}

fn io(action: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Write {
        store: "views",
        action: action.into(),
        reason: e.to_string(),
    }
}

/// Runs one statement on the shared PostgreSQL connection; the rows it
/// returns.
async fn pg_query(
    pg: &Mutex<PgStore>,
    action: &str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, StoreError> {
    let mut pg = pg.lock().await;
    pg.client()
        .await?
        .query(sql, params)
        .await
        .map_err(|e| io(action, e))
}

impl Backend {
    /// A backend over PostgreSQL.
    pub fn postgres(store: PgStore) -> Self {
        Backend::Postgres(Box::new(Mutex::new(store)))
    }

    /// A backend over a lake.
    pub fn lake(lake: Lake) -> Self {
        Backend::Lake(lake, Mutex::new(()))
    }

    /// The rows of indicator table `table` that `selection` names, by
    /// window start.
    pub async fn rows(
        &self,
        table: &'static str,
        selection: &Selection,
    ) -> Result<Vec<IndicatorRow>, StoreError> {
        let mut rows = match self {
            Backend::Postgres(pg) => pg.lock().await.indicator_rows(table, selection).await?,
            Backend::Lake(lake, _) => {
                lap_sink::delta::read::indicator_rows(lake, table, selection).await?
            }
        };
        rows.sort_by(|a, b| (a.window_start, &a.entity_id).cmp(&(b.window_start, &b.entity_id)));
        Ok(rows)
    }

    /// Records that `accesses` happened.
    pub async fn record_access(&self, accesses: &[Access]) -> Result<(), StoreError> {
        match self {
            Backend::Postgres(pg) => {
                for a in accesses {
                    pg_query(
                        pg,
                        "record an access",
                        "INSERT INTO views_access (at, viewer, role, person_key, view) \
                         VALUES (micros_to_timestamptz($1), $2, $3, $4, $5)",
                        &[&a.at, &a.viewer, &a.role, &a.person_key, &a.view],
                    )
                    .await?;
                }
                Ok(())
            }
            Backend::Lake(lake, lock) => {
                let _one = lock.lock().await;
                for a in accesses {
                    let line = serde_json::to_vec(a).map_err(|e| io("encode an access", e))?;
                    lake.append_line(LAKE_FOLDER, ACCESS_FILE, &line).await?;
                }
                Ok(())
            }
        }
    }

    /// Records a flag action.
    pub async fn record_flag_action(&self, a: &FlagAction) -> Result<(), StoreError> {
        match self {
            Backend::Postgres(pg) => {
                pg_query(
                    pg,
                    "record a flag action",
                    "INSERT INTO views_flag_actions \
                     (at, viewer, person_key, class_id, code, action, window_start, note) \
                     VALUES (micros_to_timestamptz($1), $2, $3, $4, $5, $6, micros_to_timestamptz($7), $8)",
                    &[
                        &a.at,
                        &a.viewer,
                        &a.person_key,
                        &a.class_id,
                        &a.code,
                        &a.action.as_str(),
                        &a.window_start,
                        &a.note,
                    ],
                )
                .await?;
                Ok(())
            }
            Backend::Lake(lake, lock) => {
                let _one = lock.lock().await;
                let line = serde_json::to_vec(a).map_err(|e| io("encode a flag action", e))?;
                lake.append_line(LAKE_FOLDER, FLAG_FILE, &line).await
            }
        }
    }

    /// The flag actions on the learners `person_keys`, oldest first.
    pub async fn flag_actions(
        &self,
        person_keys: &[String],
    ) -> Result<Vec<FlagAction>, StoreError> {
        match self {
            Backend::Postgres(pg) => {
                let rows = pg_query(pg, "read flag actions", "SELECT (extract(epoch FROM at) * 1000000)::bigint, viewer, person_key, \
                         class_id, code, action, (extract(epoch FROM window_start) * 1000000)::bigint, note \
                         FROM views_flag_actions WHERE person_key = ANY($1) ORDER BY at", &[&person_keys]).await?;
                Ok(rows
                    .iter()
                    .filter_map(|r| {
                        Some(FlagAction {
                            at: r.get(0),
                            viewer: r.get(1),
                            person_key: r.get(2),
                            class_id: r.get(3),
                            code: r.get(4),
                            action: Action::parse(r.get(5))?,
                            window_start: r.get(6),
                            note: r.get(7),
                        })
                    })
                    .collect())
            }
            Backend::Lake(lake, _) => Ok(read_lines::<FlagAction>(lake, FLAG_FILE)
                .await?
                .into_iter()
                .filter(|a| person_keys.contains(&a.person_key))
                .collect()),
        }
    }

    /// How often each flag code was marked not useful.
    pub async fn not_useful_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        match self {
            Backend::Postgres(pg) => {
                let rows = pg_query(
                    pg,
                    "count flag actions",
                    "SELECT code, count(*) FROM views_flag_actions \
                         WHERE action = 'not_useful' GROUP BY code ORDER BY code",
                    &[],
                )
                .await?;
                Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
            }
            Backend::Lake(lake, _) => {
                let mut counts = std::collections::BTreeMap::<String, i64>::new();
                for a in read_lines::<FlagAction>(lake, FLAG_FILE).await? {
                    if a.action == Action::NotUseful {
                        *counts.entry(a.code).or_default() += 1;
                    }
                }
                Ok(counts.into_iter().collect())
            }
        }
    }

    /// Saves `group` (a new one, or a new version of it: sharing).
    pub async fn save_group(&self, group: &Group) -> Result<(), StoreError> {
        match self {
            Backend::Postgres(pg) => {
                pg_query(
                    pg,
                    "save a group",
                    "INSERT INTO views_groups (id, created_at, owner, class_id, name, members, shared_with) \
                     VALUES ($1, micros_to_timestamptz($2), $3, $4, $5, $6, $7) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, members = excluded.members, \
                     shared_with = excluded.shared_with",
                    &[
                        &group.id,
                        &group.created_at,
                        &group.owner,
                        &group.class_id,
                        &group.name,
                        &group.members,
                        &group.shared_with,
                    ],
                )
                .await?;
                Ok(())
            }
            Backend::Lake(lake, lock) => {
                let _one = lock.lock().await;
                let line = serde_json::to_vec(group).map_err(|e| io("encode a group", e))?;
                lake.append_line(LAKE_FOLDER, GROUP_FILE, &line).await
            }
        }
    }

    /// The groups `person` saved or was given, oldest first.
    pub async fn groups_of(&self, person: &str) -> Result<Vec<Group>, StoreError> {
        let all = match self {
            Backend::Postgres(pg) => pg_query(
                pg,
                "read groups",
                "SELECT id, (extract(epoch FROM created_at) * 1000000)::bigint, owner, class_id, name, \
                 members, shared_with FROM views_groups WHERE owner = $1 OR $1 = ANY(shared_with) \
                 ORDER BY created_at",
                &[&person],
            )
            .await?
            .iter()
            .map(|r| Group {
                id: r.get(0),
                created_at: r.get(1),
                owner: r.get(2),
                class_id: r.get(3),
                name: r.get(4),
                members: r.get(5),
                shared_with: r.get(6),
            })
            .collect(),
            Backend::Lake(lake, _) => {
                // The newest version of each group, in the order first saved.
                let mut latest: Vec<Group> = Vec::new();
                for g in read_lines::<Group>(lake, GROUP_FILE).await? {
                    match latest.iter_mut().find(|x| x.id == g.id) {
                        Some(x) => *x = g,
                        None => latest.push(g),
                    }
                }
                latest
            }
        };
        Ok(all
            .into_iter()
            .filter(|g| g.owner == person || g.shared_with.iter().any(|p| p == person))
            .collect())
    }

    /// The access records of the learner `person_key`, newest first: who
    /// looked at their rows, which a learner and their guardians may see.
    pub async fn accesses(&self, person_key: &str) -> Result<Vec<Access>, StoreError> {
        match self {
            Backend::Postgres(pg) => {
                let rows = pg_query(pg, "read access records", "SELECT (extract(epoch FROM at) * 1000000)::bigint, viewer, role, person_key, view \
                         FROM views_access WHERE person_key = $1 ORDER BY at DESC", &[&person_key]).await?;
                Ok(rows
                    .iter()
                    .map(|r| Access {
                        at: r.get(0),
                        viewer: r.get(1),
                        role: r.get(2),
                        person_key: r.get(3),
                        view: r.get(4),
                    })
                    .collect())
            }
            Backend::Lake(lake, _) => {
                let mut all: Vec<Access> = read_lines::<Access>(lake, ACCESS_FILE)
                    .await?
                    .into_iter()
                    .filter(|a| a.person_key == person_key)
                    .collect();
                all.reverse();
                Ok(all)
            }
        }
    }
}

async fn read_lines<T: serde::de::DeserializeOwned>(
    lake: &Lake,
    file: &str,
) -> Result<Vec<T>, StoreError> {
    let Some(bytes) = lake.read_file(LAKE_FOLDER, file).await? else {
        return Ok(Vec::new());
    };
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).map_err(|e| io(&format!("read {file}"), e)))
        .collect()
}
