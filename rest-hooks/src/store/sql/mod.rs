//! What the SQL stores share: rows decoded by name, the statements both dialects
//! run alike (written once, in `sql_store!`), writing deliveries into a
//! caller's transaction, group commit, and the migrator.

pub(super) mod group_commit;
pub(super) mod retention;
pub(super) mod rows;
pub(super) mod writes;

use async_trait::async_trait;

use crate::error::Result;
use crate::queue::Delivery;

/// Runs the transaction `attempt` makes, again (up to three times more) when the
/// database ended it as a deadlock. Changing or deleting a hook locks the hook and
/// then its deliveries; recording a batch of outcomes locks deliveries and then
/// their hooks. PostgreSQL ends one of two such transactions that cross.
pub(super) async fn past_deadlocks<T, F>(mut attempt: impl FnMut() -> F) -> crate::error::Result<T>
where
    F: std::future::Future<Output = crate::error::Result<T>>,
{
    let mut tries = 0;
    loop {
        match attempt().await {
            Err(error) if tries < 3 && is_deadlock(&error) => tries += 1,
            done => return done,
        }
    }
}

/// Whether the database ended the transaction as a deadlock.
fn is_deadlock(error: &crate::error::Error) -> bool {
    match error {
        crate::error::Error::Store(source) => source
            .downcast_ref::<sqlx::Error>()
            .and_then(|e| e.as_database_error())
            .and_then(|e| e.code())
            .is_some_and(|code| code == "40P01"),
        _ => false,
    }
}

/// A database connection that deliveries can be written into, inside the caller's
/// transaction: `hooks.fire_in(&mut *tx, …)` queues them so that they exist exactly
/// when the transaction commits.
#[async_trait]
pub trait WriteDeliveries: Send {
    /// Inserts the deliveries through this connection.
    async fn write_deliveries(&mut self, deliveries: &[Delivery]) -> Result<()>;
}

/// Implements [`Store`](crate::store::Store) for a SQL store: the statements whose
/// text and handling are the same in SQLite and PostgreSQL (both take `$n`
/// parameters) written here once, and the rest handed to the backend's own
/// methods (`enqueue_deliveries`, `lease_due`,
/// `release_leased`, `record_batch`, `count_queue`, `list_attempt_rows`, `listen_for_notices`,
/// `queued_again` after a redelivery, and `may_purge` and `purged` around a
/// batch of the purge). A macro rather than code generic over
/// the database, so that each backend keeps its concrete types: `$read` and
/// `$write` name its pools for reads and writes, `$conn` its connection type,
/// `$json` what follows a parameter that is JSON text (a cast), `$lock` what
/// follows a `SELECT` of a row the transaction changes next.
macro_rules! sql_store {
    ($store:ty, $conn:ty, read = $read:ident, write = $write:ident, json = $json:literal, lock = $lock:literal) => {
        $crate::store::sql::writes::hook_writes!($store, $conn, write = $write, json = $json, lock = $lock);
        $crate::store::sql::retention::retention_writes!($store, write = $write);

        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn get_hook(&self, owner: &str, id: uuid::Uuid) -> $crate::error::Result<Option<$crate::hook::Hook>> {
                let row: Option<$crate::store::sql::rows::HookRow> = sqlx::query_as($crate::store::sql::rows::select_hooks!("WHERE id = $1 AND owner = $2"))
                    .bind(id.to_string())
                    .bind(owner)
                    .fetch_optional(&self.$read)
                    .await?;
                row.map($crate::hook::Hook::try_from).transpose()
            }

            async fn get_hook_by_id(&self, id: uuid::Uuid) -> $crate::error::Result<Option<$crate::hook::Hook>> {
                let row: Option<$crate::store::sql::rows::HookRow> = sqlx::query_as($crate::store::sql::rows::select_hooks!("WHERE id = $1"))
                    .bind(id.to_string())
                    .fetch_optional(&self.$read)
                    .await?;
                row.map($crate::hook::Hook::try_from).transpose()
            }

            async fn list_hooks(
                &self,
                owner: &str,
                after: Option<uuid::Uuid>,
                limit: usize,
            ) -> $crate::error::Result<Vec<$crate::hook::Hook>> {
                let rows: Vec<$crate::store::sql::rows::HookRow> = sqlx::query_as($crate::store::sql::rows::select_hooks!(
                    "WHERE owner = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
                ))
                .bind(owner)
                .bind(after.map(|a| a.to_string()))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&self.$read)
                .await?;
                $crate::store::sql::rows::convert(rows)
            }

            async fn list_fired_hooks(&self) -> $crate::error::Result<Vec<$crate::hook::Hook>> {
                let rows: Vec<$crate::store::sql::rows::HookRow> = sqlx::query_as($crate::store::sql::rows::select_hooks!("WHERE active OR disabled_reason IS NOT NULL ORDER BY id"))
                    .fetch_all(&self.$read)
                    .await?;
                $crate::store::sql::rows::convert(rows)
            }

            async fn delete_hook(&self, owner: &str, id: uuid::Uuid) -> $crate::error::Result<bool> {
                $crate::store::sql::past_deadlocks(|| self.delete_hook_once(owner, id)).await
            }

            async fn rotate_secret(
                &self,
                owner: &str,
                id: uuid::Uuid,
                secret: &str,
                previous_until: time::OffsetDateTime,
            ) -> $crate::error::Result<Option<$crate::hook::Hook>> {
                let rotated = sqlx::query(
                    "UPDATE rest_hooks_hooks SET previous_secret = secret, previous_secret_until = $1, secret = $2
                     WHERE id = $3 AND owner = $4",
                )
                .bind($crate::clock::millis(previous_until))
                .bind(secret)
                .bind(id.to_string())
                .bind(owner)
                .execute(&self.$write)
                .await?
                .rows_affected();
                if rotated == 0 {
                    return Ok(None);
                }
                $crate::store::Store::get_hook(self, owner, id).await
            }

            async fn get_delivery(&self, owner: &str, id: uuid::Uuid) -> $crate::error::Result<Option<$crate::queue::Delivery>> {
                let row: Option<$crate::store::sql::rows::DeliveryRow> =
                    sqlx::query_as($crate::store::sql::rows::select_deliveries!("WHERE id = $1 AND owner = $2"))
                        .bind(id.to_string())
                        .bind(owner)
                        .fetch_optional(&self.$read)
                        .await?;
                row.map($crate::queue::Delivery::try_from).transpose()
            }

            async fn list_deliveries(
                &self,
                owner: &str,
                filter: &$crate::queue::DeliveryFilter,
                before: Option<uuid::Uuid>,
                limit: usize,
            ) -> $crate::error::Result<Vec<$crate::queue::Delivery>> {
                // Two statements, so that each is planned for its index: a hook's
                // deliveries along (hook_id, id), an owner's along the primary key,
                // newest first (UUIDv7 ids sort by time), as far as the page fills.
                // `LIMIT +$6`, not `LIMIT $6`: SQLite plans with a bare parameter's
                // value, so each new limit would compile the statement again.
                let statement = if filter.hook.is_some() {
                    $crate::store::sql::rows::select_deliveries!(
                        "WHERE hook_id = $2 AND owner = $1 AND ($3 IS NULL OR state = $3)
                         AND ($4 IS NULL OR created_at >= $4) AND ($5 IS NULL OR id < $5)
                         ORDER BY id DESC LIMIT +$6"
                    )
                } else {
                    $crate::store::sql::rows::select_deliveries!(
                        "WHERE owner = $1 AND ($2 IS NULL OR hook_id = $2) AND ($3 IS NULL OR state = $3)
                         AND ($4 IS NULL OR created_at >= $4) AND ($5 IS NULL OR id < $5)
                         ORDER BY id DESC LIMIT +$6"
                    )
                };
                let rows: Vec<$crate::store::sql::rows::DeliveryRow> = sqlx::query_as(statement)
                    .bind(owner)
                    .bind(filter.hook.map(|h| h.to_string()))
                    .bind(filter.state.map($crate::queue::DeliveryState::as_str))
                    .bind(filter.since.map($crate::clock::millis))
                    .bind(before.map(|b| b.to_string()))
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_all(&self.$read)
                    .await?;
                $crate::store::sql::rows::convert(rows)
            }

            async fn queue_depth(&self, now: i64) -> $crate::error::Result<$crate::store::QueueDepth> {
                self.count_queue(now).await
            }

            async fn purge_deliveries(
                &self,
                after: Option<uuid::Uuid>,
                before: i64,
                limit: usize,
            ) -> $crate::error::Result<$crate::store::Purged> {
                self.purge_batch(after, before, limit).await
            }

            async fn purge_idempotency_keys(&self, before: i64, limit: usize) -> $crate::error::Result<u64> {
                self.purge_keys(before, limit).await
            }

            async fn recover(
                &self,
                owner: &str,
                hook_id: uuid::Uuid,
                since: i64,
                until: i64,
            ) -> $crate::error::Result<u64> {
                let recovered = sqlx::query(
                    "UPDATE rest_hooks_deliveries SET state = 'pending', due_at = $1, leased_until = NULL
                     WHERE hook_id = $2 AND owner = $3 AND state = 'failed'
                       AND created_at >= $4 AND created_at < $5",
                )
                .bind($crate::clock::now_millis())
                .bind(hook_id.to_string())
                .bind(owner)
                .bind(since)
                .bind(until)
                .execute(&self.$write)
                .await?
                .rows_affected();
                if recovered > 0 {
                    self.queued_again();
                }
                Ok(recovered)
            }

            async fn redeliver(&self, owner: &str, delivery_id: uuid::Uuid) -> $crate::error::Result<bool> {
                let redelivered = sqlx::query(
                    "UPDATE rest_hooks_deliveries SET state = 'pending', due_at = $1, leased_until = NULL
                     WHERE id = $2 AND owner = $3 AND state <> 'pending'",
                )
                .bind($crate::clock::now_millis())
                .bind(delivery_id.to_string())
                .bind(owner)
                .execute(&self.$write)
                .await?
                .rows_affected();
                if redelivered > 0 {
                    self.queued_again();
                }
                Ok(redelivered > 0)
            }

            async fn insert_hook(&self, hook: &$crate::hook::Hook, quota: usize) -> $crate::error::Result<()> {
                let mut conn = self.$write.acquire().await?;
                Self::insert_hook_in(&mut conn, hook, quota).await
            }

            async fn insert_hook_once(
                &self,
                hook: &$crate::hook::Hook,
                quota: usize,
                key: &str,
                request: &str,
                since: i64,
            ) -> $crate::error::Result<$crate::store::Claim> {
                let mut tx = self.$write.begin().await?;
                sqlx::query(
                    "DELETE FROM rest_hooks_idempotency WHERE owner = $1 AND key = $2 AND created_at < $3",
                )
                .bind(&hook.owner)
                .bind(key)
                .bind(since)
                .execute(&mut *tx)
                .await?;
                // Another process's claim of the same key waits here until that one
                // commits, and then finds it.
                let claimed = sqlx::query(
                    "INSERT INTO rest_hooks_idempotency (owner, key, request, hook_id, created_at)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(&hook.owner)
                .bind(key)
                .bind(request)
                .bind(hook.id.to_string())
                .bind($crate::clock::now_millis())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if claimed == 0 {
                    let (request, hook_id): (String, String) = sqlx::query_as(
                        "SELECT request, hook_id FROM rest_hooks_idempotency WHERE owner = $1 AND key = $2",
                    )
                    .bind(&hook.owner)
                    .bind(key)
                    .fetch_one(&mut *tx)
                    .await?;
                    let hook_id = $crate::store::sql::rows::parse_id(&hook_id)?;
                    return Ok($crate::store::Claim::Taken { request, hook_id });
                }
                Self::insert_hook_in(&mut tx, hook, quota).await?;
                tx.commit().await?;
                Ok($crate::store::Claim::Inserted)
            }

            async fn update_hook(
                &self,
                owner: &str,
                id: uuid::Uuid,
                patch: &$crate::hook::HookPatch,
            ) -> $crate::error::Result<Option<$crate::hook::Hook>> {
                $crate::store::sql::past_deadlocks(|| self.update_hook_once(owner, id, patch)).await
            }

            async fn enqueue(&self, deliveries: Vec<$crate::queue::Delivery>) -> $crate::error::Result<()> {
                self.enqueue_deliveries(deliveries).await
            }

            async fn lease(
                &self,
                limit: usize,
                lease: std::time::Duration,
            ) -> $crate::error::Result<Vec<$crate::queue::Outgoing>> {
                self.lease_due(limit, lease).await
            }

            async fn release(&self, ids: &[uuid::Uuid]) -> $crate::error::Result<()> {
                self.release_leased(ids).await
            }

            async fn record(
                &self,
                recorded: &[$crate::queue::Recorded],
                disable: &$crate::store::Disable,
            ) -> $crate::error::Result<Vec<$crate::queue::HookChange>> {
                let plan = $crate::store::queue_rules::RecordPlan::new(recorded, $crate::clock::now_millis());
                self.record_batch(&plan, disable).await
            }

            async fn list_attempts(
                &self,
                owner: &str,
                delivery_ids: &[uuid::Uuid],
            ) -> $crate::error::Result<Vec<$crate::queue::Attempt>> {
                self.list_attempt_rows(owner, delivery_ids).await
            }

            async fn notices(
                &self,
            ) -> $crate::error::Result<Option<tokio::sync::mpsc::Receiver<$crate::store::Notice>>> {
                self.listen_for_notices().await
            }
        }
    };
}

pub(super) use sql_store;

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
