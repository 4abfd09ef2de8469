//! Retention in a SQL store: the delivery log older than the retention is deleted
//! in small batches along the primary key, each in a transaction of its own. A
//! macro, written once for both dialects as `sql_store!` is; each backend says
//! whether it may purge now (`may_purge`: PostgreSQL lets one process at a time)
//! and what follows a batch (`purged`: SQLite gives the freed pages back).

/// Implements, on a SQL store, the batches of
/// [`Store::purge_deliveries`](crate::store::Store::purge_deliveries) and
/// [`Store::purge_idempotency_keys`](crate::store::Store::purge_idempotency_keys)
/// (see `sql_store!` for the arguments).
macro_rules! retention_writes {
    ($store:ty, write = $write:ident) => {
        impl $store {
            async fn purge_batch(
                &self,
                after: Option<uuid::Uuid>,
                before: i64,
                limit: usize,
            ) -> $crate::error::Result<$crate::store::Purged> {
                let mut tx = self.$write.begin().await?;
                if !self.may_purge(&mut tx).await? {
                    return Ok($crate::store::Purged::default());
                }
                let after = after.map_or(String::new(), |id| id.to_string());
                let bound = $crate::store::queue_rules::fired_before(before).to_string();
                // The batch: the oldest deliveries that are no longer pending, up to
                // the newest of which the statements below delete.
                let last: Option<String> = sqlx::query_scalar(
                    "SELECT MAX(id) FROM (
                         SELECT id FROM rest_hooks_deliveries
                         WHERE id > $1 AND id < $2 AND state <> 'pending'
                         ORDER BY id LIMIT +$3
                     ) AS batch",
                )
                .bind(&after)
                .bind(&bound)
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_one(&mut *tx)
                .await?;
                let Some(last) = last else {
                    return Ok($crate::store::Purged::default());
                };
                let deleted = sqlx::query(
                    "DELETE FROM rest_hooks_deliveries
                     WHERE id > $1 AND id <= $2 AND state <> 'pending'",
                )
                .bind(&after)
                .bind(&last)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                sqlx::query(
                    "DELETE FROM rest_hooks_attempts
                     WHERE delivery_id > $1 AND delivery_id <= $2 AND NOT EXISTS (
                         SELECT 1 FROM rest_hooks_deliveries d
                         WHERE d.id = rest_hooks_attempts.delivery_id
                     )",
                )
                .bind(&after)
                .bind(&last)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                self.purged(deleted).await?;
                Ok($crate::store::Purged {
                    deleted,
                    last: Some($crate::store::sql::rows::parse_id(&last)?),
                })
            }

            async fn purge_keys(&self, before: i64, limit: usize) -> $crate::error::Result<u64> {
                let deleted = sqlx::query(
                    "DELETE FROM rest_hooks_idempotency WHERE (owner, key) IN (
                         SELECT owner, key FROM rest_hooks_idempotency
                         WHERE created_at < $1 LIMIT +$2
                     )",
                )
                .bind(before)
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .execute(&self.$write)
                .await?
                .rows_affected();
                Ok(deleted)
            }
        }
    };
}

pub(in crate::store) use retention_writes;
