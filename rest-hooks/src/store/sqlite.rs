//! [`SqliteStore`]: hooks and the queue in one SQLite file, in WAL mode. The
//! embedded default: one process, no server.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::SqliteConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::checkpoint::{Checkpointer, WRITER_CHECKPOINT_PAGES};
use super::group_commit::{GroupCommit, WriteQueued};
use super::sql::{
    AttemptRow, DeliveryRow, HookRow, HookSecrets, Leased, RecordPlan, SecretsRow, WriteDeliveries,
    attempt_from_row, delivery_from_row, hook_from_row, migrator, parse_id,
};
use super::{Disable, Store, lease_millis, millis, now_millis};
use crate::delivery::{Attempt, Delivery, HookChange, Outgoing, Recorded};
use crate::error::Result;
use crate::hook::Hook;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "hooks", include_str!("migrations/sqlite/0001_hooks.sql")),
    (
        2,
        "deliveries",
        include_str!("migrations/sqlite/0002_deliveries.sql"),
    ),
    (
        3,
        "attempts",
        include_str!("migrations/sqlite/0003_attempts.sql"),
    ),
    (
        4,
        "fewer indexes",
        include_str!("migrations/sqlite/0004_fewer_indexes.sql"),
    ),
    (
        5,
        "attempt trigger",
        include_str!("migrations/sqlite/0005_attempt_trigger.sql"),
    ),
];

/// Statements built for a number of rows are cached (prepared once per
/// connection) up to this many rows: the sizes that firing usually writes. Larger
/// ones run unprepared, so that the cache does not fill with large statements of
/// every size a backlog produces.
const SMALL_BATCH: usize = 16;

/// How many deliveries one `INSERT` writes: 11 parameters a row stays well under
/// SQLite's limit on bound parameters.
const INSERT_CHUNK: usize = 1000;

/// `SELECT` of a whole delivery row, then the rest of the query.
macro_rules! select_deliveries {
    ($rest:literal) => {
        concat!(
            "SELECT id, hook_id, owner, event, target, payload, state, attempts, created_at FROM rest_hooks_deliveries ",
            $rest
        )
    };
}

/// `SELECT` of a whole hook row, then the rest of the query.
macro_rules! select_hooks {
    ($rest:literal) => {
        concat!(
            "SELECT id, owner, event, target, secret, active, created_at, metadata, disabled_reason FROM rest_hooks_hooks ",
            $rest
        )
    };
}

/// A [`Store`] in a SQLite file.
///
/// Writes go through one connection, so that they queue in the process instead of
/// waiting on SQLite's lock (whose busy handler sleeps); reads use a small pool.
/// Events fired while it is busy are queued together, in one commit. A store that
/// opened its file checkpoints on a connection of its own, beside the writer.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    readers: SqlitePool,
    writer: SqlitePool,
    queue: GroupCommit,
    /// `None` on the application's pool, whose settings are its own.
    checkpoints: Option<Checkpointer>,
}

impl SqliteStore {
    /// Opens (creating it if needed) the store in the file at `path`, and brings its
    /// schema up to date.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self::open_with(options).await
    }

    /// Opens the store at a `sqlite:` URL, such as `sqlite://hooks.db?mode=rwc`.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::open_with(SqliteConnectOptions::from_str(url)?).await
    }

    async fn open_with(options: SqliteConnectOptions) -> Result<Self> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        // A file needs no liveness check before each use.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(
                options
                    .clone()
                    .pragma("wal_autocheckpoint", WRITER_CHECKPOINT_PAGES),
            )
            .await?;
        migrator(MIGRATIONS).run(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        let checkpoints = Checkpointer::start(&options).await?;
        Ok(Self::new(readers, writer, Some(checkpoints)))
    }

    /// Uses the application's pool for reads and writes, and brings the schema up
    /// to date.
    pub async fn from_pool(pool: SqlitePool) -> Result<Self> {
        migrator(MIGRATIONS).run(&pool).await?;
        Ok(Self::new(pool.clone(), pool, None))
    }

    fn new(readers: SqlitePool, writer: SqlitePool, checkpoints: Option<Checkpointer>) -> Self {
        Self {
            queue: GroupCommit::start(writer.clone()),
            readers,
            writer,
            checkpoints,
        }
    }

    /// Says that the store's writes have grown the log.
    fn wrote(&self) {
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.wrote();
        }
    }

    /// Fails the leased deliveries of disabled hooks and deletes those of deleted
    /// ones (see [`Leased`]).
    async fn drop_unsendable(&self, leased: &Leased) -> Result<()> {
        if !leased.disabled.is_empty() {
            let mut fail = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "UPDATE rest_hooks_deliveries SET state = 'failed', leased_until = NULL WHERE id IN ",
            );
            push_ids(&mut fail, leased.disabled.iter().cloned());
            fail.build().persistent(false).execute(&self.writer).await?;
        }
        if !leased.gone.is_empty() {
            let mut delete = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "DELETE FROM rest_hooks_deliveries WHERE id IN ",
            );
            push_ids(&mut delete, leased.gone.iter().cloned());
            delete
                .build()
                .persistent(false)
                .execute(&self.writer)
                .await?;
        }
        Ok(())
    }

    /// The pool that writes, for the transactions that
    /// [`fire_in`](crate::Hooks::fire_in) joins: the application's writes to this
    /// file queue with the store's.
    pub fn pool(&self) -> &SqlitePool {
        &self.writer
    }
}

#[async_trait]
impl WriteDeliveries for SqliteConnection {
    async fn write_deliveries(&mut self, deliveries: &[Delivery]) -> Result<()> {
        // One statement per chunk: a single chunk is atomic without a transaction
        // of its own; callers with more use one (enqueue) or their own (fire_in).
        let now = now_millis();
        for chunk in deliveries.chunks(INSERT_CHUNK) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO rest_hooks_deliveries
                 (id, hook_id, owner, event, target, payload, state, attempts, due_at, leased_until, created_at) ",
            );
            insert.push_values(chunk, |mut row, d| {
                row.push_bind(d.id.to_string())
                    .push_bind(d.hook_id.to_string())
                    .push_bind(d.owner.clone())
                    .push_bind(d.event.clone())
                    .push_bind(d.target.clone())
                    .push_bind(d.payload.clone())
                    .push_bind(d.state.as_str())
                    .push_bind(i64::from(d.attempts))
                    .push_bind(now)
                    .push_bind(None::<i64>)
                    .push_bind(millis(d.created_at));
            });
            insert
                .build()
                .persistent(chunk.len() <= SMALL_BATCH)
                .execute(&mut *self)
                .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl WriteQueued for SqlitePool {
    async fn write_queued(&self, deliveries: &[Delivery]) -> Result<()> {
        if deliveries.len() <= INSERT_CHUNK {
            return self.acquire().await?.write_deliveries(deliveries).await;
        }
        let mut tx = self.begin().await?;
        tx.write_deliveries(deliveries).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_hook(&self, hook: &Hook) -> Result<()> {
        sqlx::query(
            "INSERT INTO rest_hooks_hooks
             (id, owner, event, target, secret, active, created_at, metadata, disabled_reason)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(hook.id.to_string())
        .bind(&hook.owner)
        .bind(&hook.event)
        .bind(&hook.target)
        .bind(&hook.secret)
        .bind(hook.active)
        .bind(millis(hook.created_at))
        .bind(hook.metadata.to_string())
        .bind(&hook.disabled_reason)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn hook(&self, owner: &str, id: Uuid) -> Result<Option<Hook>> {
        let row: Option<HookRow> = sqlx::query_as(select_hooks!("WHERE id = ? AND owner = ?"))
            .bind(id.to_string())
            .bind(owner)
            .fetch_optional(&self.readers)
            .await?;
        row.map(hook_from_row).transpose()
    }

    async fn hooks(&self, owner: &str) -> Result<Vec<Hook>> {
        let rows: Vec<HookRow> = sqlx::query_as(select_hooks!("WHERE owner = ? ORDER BY id"))
            .bind(owner)
            .fetch_all(&self.readers)
            .await?;
        rows.into_iter().map(hook_from_row).collect()
    }

    async fn delete_hook(&self, owner: &str, id: Uuid) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let deleted = sqlx::query("DELETE FROM rest_hooks_hooks WHERE id = ? AND owner = ?")
            .bind(id.to_string())
            .bind(owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted > 0 {
            delete_hook_rows(&mut tx, &id.to_string()).await?;
        }
        tx.commit().await?;
        Ok(deleted > 0)
    }

    async fn rotate_secret(
        &self,
        owner: &str,
        id: Uuid,
        secret: &str,
        previous_until: OffsetDateTime,
    ) -> Result<Option<Hook>> {
        let rotated = sqlx::query(
            "UPDATE rest_hooks_hooks SET previous_secret = secret, previous_secret_until = ?, secret = ?
             WHERE id = ? AND owner = ?",
        )
        .bind(millis(previous_until))
        .bind(secret)
        .bind(id.to_string())
        .bind(owner)
        .execute(&self.writer)
        .await?
        .rows_affected();
        if rotated == 0 {
            return Ok(None);
        }
        self.hook(owner, id).await
    }

    async fn active_hooks(&self) -> Result<Vec<Hook>> {
        let rows: Vec<HookRow> = sqlx::query_as(select_hooks!("WHERE active ORDER BY id"))
            .fetch_all(&self.readers)
            .await?;
        rows.into_iter().map(hook_from_row).collect()
    }

    async fn active_hook(&self, id: Uuid) -> Result<Option<Hook>> {
        let row: Option<HookRow> = sqlx::query_as(select_hooks!("WHERE id = ? AND active"))
            .bind(id.to_string())
            .fetch_optional(&self.readers)
            .await?;
        row.map(hook_from_row).transpose()
    }

    async fn enqueue(&self, deliveries: Vec<Delivery>) -> Result<()> {
        let queued = self.queue.enqueue(deliveries).await;
        self.wrote();
        queued
    }

    async fn lease(&self, limit: usize, lease: Duration) -> Result<Vec<Outgoing>> {
        let now = now_millis();
        // `LIMIT +?`, not `LIMIT ?`: SQLite plans with a bare parameter's value, so
        // each new limit would compile the statement again.
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "UPDATE rest_hooks_deliveries SET leased_until = ?
             WHERE id IN (
                 SELECT id FROM rest_hooks_deliveries
                 WHERE state = 'pending' AND due_at <= ? AND (leased_until IS NULL OR leased_until <= ?)
                 ORDER BY due_at LIMIT +?)
             RETURNING id, hook_id, owner, event, target, payload, state, attempts, created_at",
        )
        .bind(now.saturating_add(lease_millis(lease)))
        .bind(now)
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.writer)
        .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        self.wrote();
        let deliveries: Vec<Delivery> = rows
            .into_iter()
            .map(delivery_from_row)
            .collect::<Result<_>>()?;
        let mut hook_ids: Vec<String> = deliveries.iter().map(|d| d.hook_id.to_string()).collect();
        hook_ids.sort();
        hook_ids.dedup();
        let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "SELECT id, secret, previous_secret, previous_secret_until, active FROM rest_hooks_hooks WHERE id IN ",
        );
        push_ids(&mut query, hook_ids.into_iter());
        let secrets: Vec<SecretsRow> = query
            .build_query_as()
            .persistent(false)
            .fetch_all(&self.readers)
            .await?;
        let by_hook: HashMap<String, HookSecrets> = secrets
            .into_iter()
            .map(|(id, secret, previous, until, active)| (id, (secret, previous, until, active)))
            .collect();
        let leased = Leased::sort(
            deliveries.into_iter().map(|d| {
                let hook = by_hook.get(&d.hook_id.to_string()).cloned();
                (d, hook)
            }),
            now,
        );
        self.drop_unsendable(&leased).await?;
        Ok(leased.outgoing)
    }

    async fn release(&self, ids: &[Uuid]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "UPDATE rest_hooks_deliveries SET leased_until = NULL WHERE id IN ",
        );
        push_ids(&mut query, ids.iter().map(Uuid::to_string));
        query
            .build()
            .persistent(false)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn record(&self, recorded: &[Recorded], disable: &Disable) -> Result<Vec<HookChange>> {
        let plan = RecordPlan::new(recorded);
        let now = now_millis();
        let mut changes = Vec::new();
        // A logged 2xx attempt marks its delivery delivered and ends its hook's
        // failing streak by trigger (0005): the usual batch, all delivered, is one
        // statement, atomic by itself.
        let successes_only = plan.retries.is_empty()
            && plan.failed.is_empty()
            && plan.failing_hooks.is_empty()
            && plan.gone_hooks.is_empty();
        if successes_only && plan.logged.len() <= INSERT_CHUNK {
            insert_attempts(&mut *self.writer.acquire().await?, &plan.logged).await?;
            self.wrote();
            return Ok(Vec::new());
        }
        let mut tx = self.writer.begin().await?;
        // The trigger ends the streak of every hook that took a delivery; one that
        // also failed in this batch is judged by its failure (see `RecordPlan`), so
        // its streak is read before and kept.
        let mut streaks = Vec::with_capacity(plan.failing_hooks.len());
        for hook in &plan.failing_hooks {
            let since: Option<Option<i64>> =
                sqlx::query_scalar("SELECT failing_since FROM rest_hooks_hooks WHERE id = ?")
                    .bind(hook)
                    .fetch_optional(&mut *tx)
                    .await?;
            streaks.push(since.flatten());
        }
        for chunk in plan.logged.chunks(INSERT_CHUNK) {
            insert_attempts(&mut tx, chunk).await?;
        }
        for (id, due_at) in &plan.retries {
            sqlx::query(
                "UPDATE rest_hooks_deliveries SET attempts = attempts + 1, leased_until = NULL, due_at = ?, last_attempt_at = ?
                 WHERE id = ?",
            )
            .bind(due_at)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        for id in &plan.failed {
            sqlx::query(
                "UPDATE rest_hooks_deliveries SET state = 'failed', attempts = attempts + 1, leased_until = NULL, last_attempt_at = ?
                 WHERE id = ?",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        for (hook, since) in plan.failing_hooks.iter().zip(streaks) {
            sqlx::query("UPDATE rest_hooks_hooks SET failing_since = COALESCE(?, ?) WHERE id = ?")
                .bind(since)
                .bind(now)
                .bind(hook)
                .execute(&mut *tx)
                .await?;
            let disabled = sqlx::query(
                "UPDATE rest_hooks_hooks SET active = 0, disabled_reason = ?
                 WHERE id = ? AND active AND failing_since <= ?",
            )
            .bind(disable.reason())
            .bind(hook)
            .bind(disable.cutoff(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if disabled > 0 {
                sqlx::query("UPDATE rest_hooks_deliveries SET state = 'failed' WHERE hook_id = ? AND state = 'pending'")
                    .bind(hook)
                    .execute(&mut *tx)
                    .await?;
                changes.push(HookChange::Disabled(parse_id(hook)?));
            }
        }
        for hook in &plan.gone_hooks {
            sqlx::query("DELETE FROM rest_hooks_hooks WHERE id = ?")
                .bind(hook)
                .execute(&mut *tx)
                .await?;
            delete_hook_rows(&mut tx, hook).await?;
            changes.push(HookChange::Deleted(parse_id(hook)?));
        }
        tx.commit().await?;
        self.wrote();
        Ok(changes)
    }

    async fn delivery(&self, owner: &str, id: Uuid) -> Result<Option<Delivery>> {
        let row: Option<DeliveryRow> =
            sqlx::query_as(select_deliveries!("WHERE id = ? AND owner = ?"))
                .bind(id.to_string())
                .bind(owner)
                .fetch_optional(&self.readers)
                .await?;
        row.map(delivery_from_row).transpose()
    }

    async fn deliveries(
        &self,
        owner: &str,
        hook_id: Uuid,
        before: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Delivery>> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(select_deliveries!(
            "WHERE hook_id = ? AND owner = ? AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT +?"
        ))
        .bind(hook_id.to_string())
        .bind(owner)
        .bind(before.map(|b| b.to_string()))
        .bind(before.map(|b| b.to_string()))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.readers)
        .await?;
        rows.into_iter().map(delivery_from_row).collect()
    }

    async fn attempts(&self, owner: &str, delivery_id: Uuid) -> Result<Vec<Attempt>> {
        let rows: Vec<AttemptRow> = sqlx::query_as(
            "SELECT a.delivery_id, a.hook_id, a.attempted_at, a.status, a.error, a.duration_ms, a.response_body
             FROM rest_hooks_attempts a JOIN rest_hooks_deliveries d ON d.id = a.delivery_id
             WHERE a.delivery_id = ? AND d.owner = ? ORDER BY a.id DESC",
        )
        .bind(delivery_id.to_string())
        .bind(owner)
        .fetch_all(&self.readers)
        .await?;
        rows.into_iter().map(attempt_from_row).collect()
    }

    async fn retry(&self, owner: &str, delivery_id: Uuid) -> Result<bool> {
        let retried = sqlx::query(
            "UPDATE rest_hooks_deliveries SET state = 'pending', due_at = ?, leased_until = NULL
             WHERE id = ? AND owner = ? AND state <> 'pending'",
        )
        .bind(now_millis())
        .bind(delivery_id.to_string())
        .bind(owner)
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(retried > 0)
    }
}

/// Logs attempts, at most [`INSERT_CHUNK`] of them; a 2xx one marks its delivery
/// delivered too (see `0005_attempt_trigger.sql`).
async fn insert_attempts(conn: &mut SqliteConnection, attempts: &[&Attempt]) -> Result<()> {
    if attempts.is_empty() {
        return Ok(());
    }
    let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "INSERT INTO rest_hooks_attempts
         (delivery_id, hook_id, attempted_at, status, error, duration_ms, response_body) ",
    );
    insert.push_values(attempts, |mut row, a| {
        row.push_bind(a.delivery_id.to_string())
            .push_bind(a.hook_id.to_string())
            .push_bind(millis(a.attempted_at))
            .push_bind(a.result.status().map(i64::from))
            .push_bind(a.result.error())
            .push_bind(i64::try_from(a.duration_ms).unwrap_or(i64::MAX))
            .push_bind(a.response_body.clone());
    });
    insert.build().persistent(false).execute(&mut *conn).await?;
    Ok(())
}

/// Deletes what belongs to a hook that is gone: its deliveries and their attempts.
async fn delete_hook_rows(conn: &mut SqliteConnection, hook: &str) -> Result<()> {
    sqlx::query(
        "DELETE FROM rest_hooks_attempts WHERE delivery_id IN
         (SELECT id FROM rest_hooks_deliveries WHERE hook_id = ?)",
    )
    .bind(hook)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM rest_hooks_deliveries WHERE hook_id = ?")
        .bind(hook)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Appends `(?, ?, …)` with the ids bound.
fn push_ids(query: &mut sqlx::QueryBuilder<sqlx::Sqlite>, ids: impl Iterator<Item = String>) {
    query.push("(");
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(id);
    }
    list.push_unseparated(")");
}
