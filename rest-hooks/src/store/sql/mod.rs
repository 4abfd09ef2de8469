//! What the SQL stores share: rows decoded by name, the statements both dialects
//! run alike (written once, in [`shared_statements!`]), writing deliveries into a
//! caller's transaction, group commit, and the migrator.

pub(super) mod group_commit;
pub(super) mod rows;

use async_trait::async_trait;

use crate::error::Result;
use crate::queue::Delivery;

/// A database connection that deliveries can be written into, inside the caller's
/// transaction: `hooks.fire_in(&mut *tx, …)` queues them so that they exist exactly
/// when the transaction commits.
#[async_trait]
pub trait WriteDeliveries: Send {
    /// Inserts the deliveries through this connection.
    async fn write_deliveries(&mut self, deliveries: &[Delivery]) -> Result<()>;
}

/// Implements, on a SQL store, the statements whose text and handling are the same
/// in SQLite and PostgreSQL (both take `$n` parameters). A macro rather than code
/// generic over the database, so that each backend keeps its concrete types:
/// `$read` and `$write` name its pools for reads and writes, `$conn` its
/// connection type.
macro_rules! shared_statements {
    ($store:ty, $conn:ty, read = $read:ident, write = $write:ident) => {
        impl $store {
            async fn shared_get_hook(&self, owner: &str, id: Uuid) -> Result<Option<Hook>> {
                let row: Option<HookRow> = sqlx::query_as(select_hooks!("WHERE id = $1 AND owner = $2"))
                    .bind(id.to_string())
                    .bind(owner)
                    .fetch_optional(&self.$read)
                    .await?;
                row.map(Hook::try_from).transpose()
            }

            async fn shared_get_hook_by_id(&self, id: Uuid) -> Result<Option<Hook>> {
                let row: Option<HookRow> = sqlx::query_as(select_hooks!("WHERE id = $1"))
                    .bind(id.to_string())
                    .fetch_optional(&self.$read)
                    .await?;
                row.map(Hook::try_from).transpose()
            }

            async fn shared_list_hooks(
                &self,
                owner: &str,
                after: Option<Uuid>,
                limit: usize,
            ) -> Result<Vec<Hook>> {
                let rows: Vec<HookRow> = sqlx::query_as(select_hooks!(
                    "WHERE owner = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
                ))
                .bind(owner)
                .bind(after.map(|a| a.to_string()))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&self.$read)
                .await?;
                convert(rows)
            }

            async fn shared_list_active_hooks(&self) -> Result<Vec<Hook>> {
                let rows: Vec<HookRow> = sqlx::query_as(select_hooks!("WHERE active ORDER BY id"))
                    .fetch_all(&self.$read)
                    .await?;
                convert(rows)
            }

            async fn shared_delete_hook(&self, owner: &str, id: Uuid) -> Result<bool> {
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

            /// Deletes what belongs to a hook that is gone: its deliveries and
            /// their attempts.
            async fn delete_hook_rows(conn: &mut $conn, hook: &str) -> Result<()> {
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

            async fn shared_rotate_secret(
                &self,
                owner: &str,
                id: Uuid,
                secret: &str,
                previous_until: OffsetDateTime,
            ) -> Result<Option<Hook>> {
                let rotated = sqlx::query(
                    "UPDATE rest_hooks_hooks SET previous_secret = secret, previous_secret_until = $1, secret = $2
                     WHERE id = $3 AND owner = $4",
                )
                .bind(millis(previous_until))
                .bind(secret)
                .bind(id.to_string())
                .bind(owner)
                .execute(&self.$write)
                .await?
                .rows_affected();
                if rotated == 0 {
                    return Ok(None);
                }
                self.shared_get_hook(owner, id).await
            }

            async fn shared_get_delivery(&self, owner: &str, id: Uuid) -> Result<Option<Delivery>> {
                let row: Option<DeliveryRow> =
                    sqlx::query_as(select_deliveries!("WHERE id = $1 AND owner = $2"))
                        .bind(id.to_string())
                        .bind(owner)
                        .fetch_optional(&self.$read)
                        .await?;
                row.map(Delivery::try_from).transpose()
            }

            async fn shared_list_deliveries(
                &self,
                owner: &str,
                hook_id: Uuid,
                before: Option<Uuid>,
                limit: usize,
            ) -> Result<Vec<Delivery>> {
                // `LIMIT +$4`, not `LIMIT $4`: SQLite plans with a bare parameter's
                // value, so each new limit would compile the statement again.
                let rows: Vec<DeliveryRow> = sqlx::query_as(select_deliveries!(
                    "WHERE hook_id = $1 AND owner = $2 AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT +$4"
                ))
                .bind(hook_id.to_string())
                .bind(owner)
                .bind(before.map(|b| b.to_string()))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&self.$read)
                .await?;
                convert(rows)
            }

            /// Makes the delivery due now; `true` when it was not pending.
            async fn shared_redeliver(&self, owner: &str, delivery_id: Uuid) -> Result<bool> {
                let redelivered = sqlx::query(
                    "UPDATE rest_hooks_deliveries SET state = 'pending', due_at = $1, leased_until = NULL
                     WHERE id = $2 AND owner = $3 AND state <> 'pending'",
                )
                .bind(now_millis())
                .bind(delivery_id.to_string())
                .bind(owner)
                .execute(&self.$write)
                .await?
                .rows_affected();
                Ok(redelivered > 0)
            }
        }
    };
}

pub(super) use shared_statements;

/// The crate's migrations for one backend, tracked in `rest_hooks_migrations` so
/// that they never mix with the application's own sqlx migrations.
pub(super) fn migrator(files: &[(i64, &'static str, &'static str)]) -> sqlx::migrate::Migrator {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    let migrations = files
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                description.into(),
                MigrationType::Simple,
                sqlx::SqlStr::from_static(sql),
                false,
            )
        })
        .collect();
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.dangerous_set_table_name("rest_hooks_migrations");
    migrator
}
