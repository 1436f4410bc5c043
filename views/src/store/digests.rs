//! The digests' records: each teacher's choice of how often, one record
//! per digest period (sent or quiet), and the flags each period noted,
//! which are the baseline of the teacher's next digest.

use std::collections::BTreeMap;

use lap_sink::store::StoreError;
use serde::{Deserialize, Serialize};

use super::{
    Backend, DIGEST_FILE, DIGEST_FLAG_FILE, LAKE_FOLDER, PREF_FILE, io, pg_query, read_lines,
};
use crate::digest::{Frequency, Noted};

/// A teacher's choice, as the lake keeps it (the newest line wins).
#[derive(Serialize, Deserialize)]
struct Pref {
    person: String,
    frequency: String,
    updated_at: i64,
}

/// One digest period of one teacher.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestRecord {
    /// The teacher (roster sourcedId).
    pub person: String,
    /// The period (a date or an ISO week).
    pub period: String,
    /// When it was worked out (UTC µs).
    pub sent_at: i64,
    /// Where it went (`email`, `webhook`); empty when nothing was new.
    pub channels: Vec<String>,
}

impl Backend {
    /// Every teacher's choice of digest frequency (teachers who never chose
    /// are absent).
    pub async fn digest_prefs(&self) -> Result<BTreeMap<String, Frequency>, StoreError> {
        let pairs: Vec<(String, String)> = match self {
            Backend::Postgres(pg) => pg_query(
                pg,
                "read digest choices",
                "SELECT person, frequency FROM views_digest_prefs",
                &[],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect(),
            Backend::Lake(lake, _) => read_lines::<Pref>(lake, PREF_FILE)
                .await?
                .into_iter()
                .map(|p| (p.person, p.frequency))
                .collect(),
        };
        Ok(pairs
            .into_iter()
            .filter_map(|(p, f)| Some((p, Frequency::parse(&f)?)))
            .collect())
    }

    /// Records `person`'s choice.
    pub async fn set_digest_pref(
        &self,
        person: &str,
        frequency: Frequency,
        at: i64,
    ) -> Result<(), StoreError> {
        match self {
            Backend::Postgres(pg) => {
                pg_query(
                    pg,
                    "save a digest choice",
                    "INSERT INTO views_digest_prefs (person, frequency, updated_at) \
                     VALUES ($1, $2, micros_to_timestamptz($3)) ON CONFLICT (person) DO UPDATE \
                     SET frequency = excluded.frequency, updated_at = excluded.updated_at",
                    &[&person, &frequency.as_str(), &at],
                )
                .await?;
                Ok(())
            }
            Backend::Lake(lake, lock) => {
                let _one = lock.lock().await;
                let pref = Pref {
                    person: person.into(),
                    frequency: frequency.as_str().into(),
                    updated_at: at,
                };
                let line = serde_json::to_vec(&pref).map_err(|e| io("encode a choice", e))?;
                lake.append_line(LAKE_FOLDER, PREF_FILE, &line).await
            }
        }
    }

    /// Every digest period recorded, oldest first.
    pub async fn digests(&self) -> Result<Vec<DigestRecord>, StoreError> {
        match self {
            Backend::Postgres(pg) => Ok(pg_query(
                pg,
                "read digests",
                "SELECT person, period, (extract(epoch FROM sent_at) * 1000000)::bigint, channels \
                 FROM views_digests ORDER BY sent_at",
                &[],
            )
            .await?
            .iter()
            .map(|r| DigestRecord {
                person: r.get(0),
                period: r.get(1),
                sent_at: r.get(2),
                channels: r.get(3),
            })
            .collect()),
            Backend::Lake(lake, _) => {
                // A period recorded twice (a run retried): the later wins.
                let mut by: BTreeMap<(String, String), DigestRecord> = BTreeMap::new();
                for d in read_lines::<DigestRecord>(lake, DIGEST_FILE).await? {
                    by.insert((d.person.clone(), d.period.clone()), d);
                }
                let mut all: Vec<DigestRecord> = by.into_values().collect();
                all.sort_by_key(|d| d.sent_at);
                Ok(all)
            }
        }
    }

    /// The flags `person`'s digest of `period` noted.
    pub async fn digest_flags(&self, person: &str, period: &str) -> Result<Vec<Noted>, StoreError> {
        match self {
            Backend::Postgres(pg) => Ok(pg_query(
                pg,
                "read a digest's flags",
                "SELECT person_key, class_id, code, window_kind, value FROM views_digest_flags \
                 WHERE person = $1 AND period = $2",
                &[&person, &period],
            )
            .await?
            .iter()
            .map(|r| Noted {
                person: person.into(),
                period: period.into(),
                person_key: r.get(0),
                class_id: r.get(1),
                code: r.get(2),
                window_kind: r.get(3),
                value: r.get(4),
            })
            .collect()),
            Backend::Lake(lake, _) => Ok(read_lines::<Noted>(lake, DIGEST_FLAG_FILE)
                .await?
                .into_iter()
                .filter(|n| n.person == person && n.period == period)
                .collect()),
        }
    }

    /// Records `digest` with the flags it noted. The record is written
    /// last (in PostgreSQL all in one statement), so a period without its
    /// record is worked out again by the next run.
    pub async fn record_digest(
        &self,
        digest: &DigestRecord,
        noted: &[Noted],
    ) -> Result<(), StoreError> {
        match self {
            Backend::Postgres(pg) => {
                let column = |f: fn(&Noted) -> Option<String>| -> Vec<Option<String>> {
                    noted.iter().map(f).collect()
                };
                let keys = column(|n| Some(n.person_key.clone()));
                let classes = column(|n| n.class_id.clone());
                let codes = column(|n| Some(n.code.clone()));
                let kinds = column(|n| Some(n.window_kind.clone()));
                let values: Vec<Option<f64>> = noted.iter().map(|n| n.value).collect();
                pg_query(
                    pg,
                    "record a digest",
                    "WITH gone AS (DELETE FROM views_digest_flags WHERE person = $1 AND period = $2), \
                     noted AS (INSERT INTO views_digest_flags \
                       (person, period, person_key, class_id, code, window_kind, value) \
                       SELECT $1, $2, k, c, f, w, v FROM unnest($5::text[], $6::text[], $7::text[], \
                       $8::text[], $9::float8[]) AS u(k, c, f, w, v)) \
                     INSERT INTO views_digests (person, period, sent_at, channels) \
                     VALUES ($1, $2, micros_to_timestamptz($3), $4) ON CONFLICT (person, period) \
                     DO UPDATE SET sent_at = excluded.sent_at, channels = excluded.channels",
                    &[
                        &digest.person,
                        &digest.period,
                        &digest.sent_at,
                        &digest.channels,
                        &keys,
                        &classes,
                        &codes,
                        &kinds,
                        &values,
                    ],
                )
                .await?;
                Ok(())
            }
            Backend::Lake(lake, lock) => {
                let _one = lock.lock().await;
                let mut lines = Vec::new();
                for n in noted {
                    lines.push(serde_json::to_vec(n).map_err(|e| io("encode a noted flag", e))?);
                }
                for line in lines {
                    lake.append_line(LAKE_FOLDER, DIGEST_FLAG_FILE, &line)
                        .await?;
                }
                let line = serde_json::to_vec(digest).map_err(|e| io("encode a digest", e))?;
                lake.append_line(LAKE_FOLDER, DIGEST_FILE, &line).await
            }
        }
    }
}
