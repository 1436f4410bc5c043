//! Erasure and retention in PostgreSQL: one `DELETE … WHERE` per table,
//! all in one transaction, with the filter's values as parameters.

use tokio_postgres::types::ToSql;

use super::{PgStore, failed};
use crate::purge::{ErasureAudit, Purge, Removed, RowFilter};
use crate::store::StoreError;

/// One value of a rendered filter.
enum Param {
    Text(String),
    Micros(i64),
}

/// Renders `f` as SQL with `$n` placeholders, pushing the values to `params`.
fn render(f: &RowFilter, params: &mut Vec<Param>) -> String {
    let mut join = |fs: &[RowFilter], op: &str, empty: &str| {
        if fs.is_empty() {
            return empty.to_string();
        }
        let parts: Vec<String> = fs.iter().map(|f| render(f, params)).collect();
        format!("({})", parts.join(op))
    };
    match f {
        RowFilter::All(fs) => join(fs, " AND ", "true"),
        RowFilter::Any(fs) => join(fs, " OR ", "false"),
        RowFilter::Eq(c, v) => {
            params.push(Param::Text(v.clone()));
            format!("{c} = ${}", params.len())
        }
        RowFilter::AtOrBefore(c, at) => {
            params.push(Param::Micros(*at));
            format!("{c} <= micros_to_timestamptz(${})", params.len())
        }
    }
}

impl PgStore {
    /// Deletes the purge's rows from every table in one transaction (all
    /// or nothing); with `dry_run` counts them and changes nothing.
    /// Returns the rows per table.
    pub async fn purge(&mut self, purge: &Purge, dry_run: bool) -> Result<Removed, StoreError> {
        let conn = self.connection().await?;
        let tx = conn
            .client
            .transaction()
            .await
            .map_err(failed("begin".into()))?;
        let mut removed = Removed::new();
        for (table, filter) in purge.per_table() {
            let mut params = Vec::new();
            let condition = render(&filter, &mut params);
            let values: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| match p {
                    Param::Text(s) => s as &(dyn ToSql + Sync),
                    Param::Micros(m) => m as &(dyn ToSql + Sync),
                })
                .collect();
            let rows = if dry_run {
                let sql = format!("SELECT count(*) FROM {table} WHERE {condition}");
                let row = tx
                    .query_one(&sql, &values)
                    .await
                    .map_err(failed(format!("count in {table}")))?;
                row.get::<_, i64>(0) as u64
            } else {
                let sql = format!("DELETE FROM {table} WHERE {condition}");
                tx.execute(&sql, &values)
                    .await
                    .map_err(failed(format!("delete from {table}")))?
            };
            removed.insert(table, rows);
        }
        if let Purge::Learner { person_key, .. } = purge {
            // The views service's records of the learner (access records,
            // flag actions with their notes) and their place in groups.
            for (table, condition, change) in [
                (
                    "views_access",
                    "person_key = $1",
                    "DELETE FROM views_access",
                ),
                (
                    "views_flag_actions",
                    "person_key = $1",
                    "DELETE FROM views_flag_actions",
                ),
                (
                    "views_digest_flags",
                    "person_key = $1",
                    "DELETE FROM views_digest_flags",
                ),
                (
                    "views_groups",
                    "$1 = ANY(members)",
                    "UPDATE views_groups SET members = array_remove(members, $1)",
                ),
            ] {
                let rows = if dry_run {
                    let sql = format!("SELECT count(*) FROM {table} WHERE {condition}");
                    let row = tx
                        .query_one(&sql, &[person_key])
                        .await
                        .map_err(failed(format!("count in {table}")))?;
                    row.get::<_, i64>(0) as u64
                } else {
                    let sql = format!("{change} WHERE {condition}");
                    tx.execute(&sql, &[person_key])
                        .await
                        .map_err(failed(format!("delete from {table}")))?
                };
                removed.insert(table, rows);
            }
        }
        tx.commit().await.map_err(failed("commit".into()))?;
        Ok(removed)
    }

    /// Inserts `audit` into the `erasures` table.
    pub async fn record_erasure(&mut self, audit: &ErasureAudit) -> Result<(), StoreError> {
        let conn = self.connection().await?;
        let rows_deleted = serde_json::to_string(&audit.rows_deleted).expect("map serialises");
        let tombstones = serde_json::to_string(&audit.tombstones).expect("map serialises");
        conn.client
            .execute(
                "INSERT INTO erasures (erasure_id, erased_at, tenant, reference, resolved_by,
                     rows_deleted, tombstones)
                 VALUES ($1::text::uuid, $2::text::timestamptz, $3, $4, $5, $6::text::jsonb,
                     $7::text::jsonb)",
                &[
                    &audit.erasure_id,
                    &audit.erased_at,
                    &audit.tenant,
                    &audit.reference,
                    &audit.resolved_by,
                    &rows_deleted,
                    &tombstones,
                ],
            )
            .await
            .map_err(failed("insert into erasures".into()))?;
        Ok(())
    }
}
