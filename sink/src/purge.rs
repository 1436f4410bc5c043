//! Deleting rows on purpose (transport-free): erasure of one learner
//! (`lap erase`) and retention (`lap retention apply`). A [`Purge`] says
//! which rows of each table go, as a small [`RowFilter`] both stores
//! translate — PostgreSQL into a parameterised `WHERE`, Delta into a
//! DataFusion expression — so the two stores cannot disagree on what a
//! purge means.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::delta::tables;

/// A condition on a table's rows.
#[derive(Clone, Debug, PartialEq)]
pub enum RowFilter {
    /// The text column equals the value.
    Eq(&'static str, String),
    /// The timestamp column is at or before the instant (µs since the epoch).
    AtOrBefore(&'static str, i64),
    /// Every condition holds.
    All(Vec<RowFilter>),
    /// At least one condition holds.
    Any(Vec<RowFilter>),
}

/// Which rows to delete from every table of a store.
#[derive(Clone, Debug, PartialEq)]
pub enum Purge {
    /// Every row of one learner: their own indicator rows (entity_kind
    /// `learner`, entity_id = the pseudonym), their events (`person_key`),
    /// and events about them as a person object (`object_id` =
    /// `person:<key>`). Class rows stay: they hold no learner, only
    /// aggregates over at least k learners (docs/privacy.md, erasure).
    Learner {
        /// The learner's pseudonym (64 hex digits).
        person_key: String,
        /// Pseudonyms the learner has as the *object* of someone else's
        /// event (enrich keys those by the raw actor identifier).
        object_keys: Vec<String>,
    },
    /// Rows past retention: per table, the instant (µs) at or before which
    /// a row's window ended (or its event happened). Tables without an
    /// entry keep everything.
    Expired(BTreeMap<&'static str, i64>),
}

impl Purge {
    /// The rows of `table` this purge deletes; `None` leaves the table alone.
    pub fn filter(&self, table: &str) -> Option<RowFilter> {
        match self {
            Purge::Learner {
                person_key,
                object_keys,
            } => Some(if table == crate::delta::EVENTS {
                RowFilter::Any(
                    std::iter::once(RowFilter::Eq("person_key", person_key.clone()))
                        .chain(
                            object_keys
                                .iter()
                                .map(|k| RowFilter::Eq("object_id", format!("person:{k}"))),
                        )
                        .collect(),
                )
            } else {
                RowFilter::All(vec![
                    RowFilter::Eq("entity_kind", "learner".into()),
                    RowFilter::Eq("entity_id", person_key.clone()),
                ])
            }),
            Purge::Expired(cutoffs) => {
                let column = if table == crate::delta::EVENTS {
                    "event_time"
                } else {
                    "window_end"
                };
                cutoffs
                    .get(table)
                    .map(|at| RowFilter::AtOrBefore(column, *at))
            }
        }
    }

    /// Every store table with the filter this purge applies to it.
    pub fn per_table(&self) -> impl Iterator<Item = (&'static str, RowFilter)> + '_ {
        tables().filter_map(|t| Some((t, self.filter(t)?)))
    }
}

/// Rows one store deleted, per table.
pub type Removed = BTreeMap<&'static str, u64>;

/// The record an erasure leaves behind: proof that it happened and what it
/// touched, holding no personal data — no identifier, no pseudonym (a
/// pseudonym is personal data under GDPR while the key exists). `reference`
/// is the operator's ticket number, never a name.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ErasureAudit {
    /// Random id of this erasure.
    pub erasure_id: String,
    /// When it ran (RFC 3339, UTC).
    pub erased_at: String,
    /// School authority.
    pub tenant: String,
    /// The request's reference (e.g. a ticket number), given by the operator.
    pub reference: String,
    /// How the learner was found: `roster sourcedId`, `roster identity`
    /// or `sourcedId (not in the roster)`.
    pub resolved_by: String,
    /// Rows deleted per store and table.
    pub rows_deleted: BTreeMap<&'static str, Removed>,
    /// Tombstones published per topic; under `<topic> rewritten`, the
    /// class histories republished there without the learner.
    pub tombstones: BTreeMap<String, u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_learner_purge_touches_their_rows_in_every_table() {
        let purge = Purge::Learner {
            person_key: "k".into(),
            object_keys: vec!["o".into()],
        };
        let all: Vec<_> = purge.per_table().map(|(t, _)| t).collect();
        assert_eq!(all.len(), crate::rows::INDICATOR_TABLES.len() + 1);
        assert_eq!(
            purge.filter("events"),
            Some(RowFilter::Any(vec![
                RowFilter::Eq("person_key", "k".into()),
                RowFilter::Eq("object_id", "person:o".into()),
            ]))
        );
        assert_eq!(
            purge.filter("class_weekly"),
            Some(RowFilter::All(vec![
                RowFilter::Eq("entity_kind", "learner".into()),
                RowFilter::Eq("entity_id", "k".into()),
            ]))
        );
    }

    #[test]
    fn retention_leaves_tables_without_a_cutoff_alone() {
        let purge = Purge::Expired(BTreeMap::from([("events", 5), ("learner_daily", 7)]));
        assert_eq!(
            purge.filter("events"),
            Some(RowFilter::AtOrBefore("event_time", 5))
        );
        assert_eq!(
            purge.filter("learner_daily"),
            Some(RowFilter::AtOrBefore("window_end", 7))
        );
        assert_eq!(purge.filter("class_weekly"), None);
        assert_eq!(purge.per_table().count(), 2);
    }
}
