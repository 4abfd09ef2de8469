//! The writes of a SQL store that change a hook and its rows in one transaction:
//! inserting within a quota, changing (and what follows for its deliveries),
//! deleting. A macro, written once for both dialects as `sql_store!` is.

/// Implements, on a SQL store, its transactions on a hook (see `sql_store!` for
/// the arguments).
macro_rules! hook_writes {
    ($store:ty, $conn:ty, write = $write:ident, json = $json:literal, lock = $lock:literal) => {
        impl $store {
            /// Changes a hook, in one transaction (see [`Store::update_hook`]).
            async fn update_hook_once(
                &self,
                owner: &str,
                id: uuid::Uuid,
                patch: &$crate::hook::HookPatch,
            ) -> $crate::error::Result<Option<$crate::hook::Hook>> {
                use $crate::store::queue_rules::HeldDeliveries;
                let mut tx = self.$write.begin().await?;
                let row: Option<$crate::store::sql::rows::HookRow> = sqlx::query_as(
                    $crate::store::sql::rows::select_hooks!("WHERE id = $1 AND owner = $2", $lock),
                )
                .bind(id.to_string())
                .bind(owner)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let before = $crate::hook::Hook::try_from(row)?;
                let after = patch.apply(&before);
                sqlx::query(concat!(
                    "UPDATE rest_hooks_hooks SET target = $1, active = $2, metadata = $3",
                    $json,
                    ", headers = $4",
                    $json,
                    ", disabled_reason = $5,
                     failing_since = CASE WHEN $6 THEN NULL ELSE failing_since END
                     WHERE id = $7"
                ))
                .bind(&after.target)
                .bind(after.active)
                .bind(after.metadata.to_string())
                .bind(serde_json::to_string(&after.headers)?)
                .bind(&after.disabled_reason)
                .bind(patch.enables(&before))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
                let held = HeldDeliveries::after(&before, patch);
                let statement = match held {
                    HeldDeliveries::Keep => None,
                    HeldDeliveries::Hold => Some(
                        "UPDATE rest_hooks_deliveries SET state = 'held', leased_until = NULL
                         WHERE hook_id = $1 AND state = 'pending'",
                    ),
                    HeldDeliveries::Release => Some(
                        "UPDATE rest_hooks_deliveries SET state = 'pending', due_at = created_at, leased_until = NULL
                         WHERE hook_id = $1 AND state = 'held'",
                    ),
                    HeldDeliveries::Discard => Some(
                        "UPDATE rest_hooks_deliveries SET state = 'discarded'
                         WHERE hook_id = $1 AND state = 'held'",
                    ),
                };
                if let Some(statement) = statement {
                    sqlx::query(statement)
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                if held == HeldDeliveries::Release {
                    self.queued_again();
                }
                Ok(Some(after))
            }

            /// Deletes a hook with its rows, in one transaction.
            async fn delete_hook_once(&self, owner: &str, id: uuid::Uuid) -> $crate::error::Result<bool> {
                let mut tx = self.$write.begin().await?;
                let deleted = sqlx::query("DELETE FROM rest_hooks_hooks WHERE id = $1 AND owner = $2")
                    .bind(id.to_string())
                    .bind(owner)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if deleted > 0 {
                    Self::delete_hook_rows(&mut tx, &id.to_string()).await?;
                }
                tx.commit().await?;
                Ok(deleted > 0)
            }

            /// Inserts a hook through `conn`, unless its owner has `quota` hooks
            /// already (one statement: atomic on SQLite's one writer; two
            /// processes racing on PostgreSQL may pass the count together).
            async fn insert_hook_in(
                conn: &mut $conn,
                hook: &$crate::hook::Hook,
                quota: usize,
            ) -> $crate::error::Result<()> {
                let inserted = sqlx::query(concat!(
                    "INSERT INTO rest_hooks_hooks
                     (id, owner, event, target, secret, active, created_at, metadata, disabled_reason, headers)
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8",
                    $json,
                    ", $9, $10",
                    $json,
                    " WHERE (SELECT count(*) FROM rest_hooks_hooks WHERE owner = $2) < $11"
                ))
                .bind(hook.id.to_string())
                .bind(&hook.owner)
                .bind(&hook.event)
                .bind(&hook.target)
                .bind(&hook.secret)
                .bind(hook.active)
                .bind($crate::clock::millis(hook.created_at))
                .bind(hook.metadata.to_string())
                .bind(&hook.disabled_reason)
                .bind(serde_json::to_string(&hook.headers)?)
                .bind(i64::try_from(quota).unwrap_or(i64::MAX))
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if inserted == 0 {
                    return Err($crate::error::Error::QuotaExceeded { limit: quota });
                }
                Ok(())
            }

            /// Deletes a hook that answered `410 Gone`, with its deliveries and
            /// their attempts.
            async fn delete_gone_hook(conn: &mut $conn, hook: uuid::Uuid) -> $crate::error::Result<()> {
                let hook = hook.to_string();
                sqlx::query("DELETE FROM rest_hooks_hooks WHERE id = $1")
                    .bind(&hook)
                    .execute(&mut *conn)
                    .await?;
                Self::delete_hook_rows(conn, &hook).await
            }

            /// Deletes what belongs to a hook that is gone: its deliveries and
            /// their attempts.
            async fn delete_hook_rows(conn: &mut $conn, hook: &str) -> $crate::error::Result<()> {
                sqlx::query(
                    "DELETE FROM rest_hooks_attempts WHERE delivery_id IN
                     (SELECT id FROM rest_hooks_deliveries WHERE hook_id = $1)",
                )
                .bind(hook)
                .execute(&mut *conn)
                .await?;
                sqlx::query("DELETE FROM rest_hooks_deliveries WHERE hook_id = $1")
                    .bind(hook)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

        }

    };
}

pub(in crate::store) use hook_writes;
