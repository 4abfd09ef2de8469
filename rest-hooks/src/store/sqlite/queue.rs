//! The delivery queue in SQLite: writing deliveries (by group commit, or in the
//! caller's transaction), leasing them, and recording attempts.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::SqliteConnection;
use sqlx::sqlite::SqlitePool;
use uuid::Uuid;

use super::SqliteStore;
use super::leased::{self, LeasedRow};
use crate::clock::{duration_millis, millis, now_millis};
use crate::error::Result;
use crate::queue::{Attempt, Delivery, HookChange, Outgoing};
use crate::store::Disable;
use crate::store::queue_rules::{Leased, RecordPlan};
use crate::store::sql::WriteDeliveries;
use crate::store::sql::group_commit::WriteQueued;

/// Statements built for a number of rows are cached (prepared once per
/// connection) up to this many rows: the sizes that firing and recording usually
/// write when the engine keeps up. Larger
/// ones run unprepared, so that the cache does not fill with large statements of
/// every size a backlog produces.
const SMALL_BATCH: usize = 16;

/// How many deliveries one `INSERT` writes: 11 parameters a row stays well under
/// SQLite's limit on bound parameters.
const INSERT_CHUNK: usize = 1000;

#[async_trait]
impl WriteDeliveries for SqliteConnection {
    async fn write_deliveries(&mut self, deliveries: &[Delivery]) -> Result<()> {
        // One statement per chunk: a single chunk is atomic without a transaction
        // of its own; callers with more use one (enqueue) or their own (fire_in).
        let now = now_millis();
        for chunk in deliveries.chunks(INSERT_CHUNK) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO rest_hooks_deliveries
                 (id, hook_id, owner, event, target, payload, state, attempts, due_at, created_at, test) ",
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
                    .push_bind(millis(d.created_at))
                    .push_bind(d.test);
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

impl SqliteStore {
    /// Leases due deliveries (see [`Store::lease`](crate::store::Store::lease)):
    /// reads them on a reader connection and notes the leases in memory (see
    /// [`Leases`](super::leases)).
    pub(super) async fn lease_due(&self, limit: usize, lease: Duration) -> Result<Vec<Outgoing>> {
        let now = now_millis();
        let (read, leased) = self.leases.start_read(now);
        let leased = serde_json::to_string(&leased)?;
        // One statement: the deliveries, and the secrets that sign them. `LIMIT
        // +?`, not `LIMIT ?`: SQLite plans with a bare parameter's value, so each
        // new limit would compile the statement again.
        let rows: Vec<LeasedRow> = sqlx::query_as(concat!(
            leased::columns!(),
            "FROM rest_hooks_deliveries
             WHERE state = 'pending' AND due_at <= ? AND rowid NOT IN (SELECT value FROM json_each(?))
             ORDER BY due_at LIMIT +?"
        ))
        .bind(now)
        .bind(leased)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.readers)
        .await?;
        let rows = rows
            .into_iter()
            .map(LeasedRow::split)
            .collect::<Result<Vec<_>>>()?;
        let until = now.saturating_add(duration_millis(lease));
        let found = read.lease(rows, |found| (found.delivery.id, found.row), now, until);
        let leased = Leased::sort(found.into_iter().map(|f| (f.delivery, f.hook)), now);
        if leased.has_unsendable() {
            self.drop_unsendable(&leased).await?;
        }
        Ok(leased.outgoing)
    }

    /// Records a batch of attempts (see [`Store::record`](crate::store::Store::record)).
    pub(super) async fn record_batch(
        &self,
        plan: &RecordPlan<'_>,
        disable: &Disable,
    ) -> Result<Vec<HookChange>> {
        let mut changes = Vec::new();
        let now = plan.now;
        // A logged 2xx attempt marks its delivery delivered and ends its hook's
        // failing streak by trigger (0005): the usual batch, all delivered, is one
        // statement, atomic by itself.
        if plan.successes_only() && plan.logged.len() <= INSERT_CHUNK {
            insert_attempts(&mut *self.writer.acquire().await?, &plan.logged).await?;
            self.leases.retire(plan.logged_deliveries());
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
                    .bind(hook.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
            streaks.push(since.flatten());
        }
        for chunk in plan.logged.chunks(INSERT_CHUNK) {
            insert_attempts(&mut tx, chunk).await?;
        }
        for (id, due_at) in &plan.retries {
            sqlx::query(
                "UPDATE rest_hooks_deliveries SET attempts = attempts + 1, due_at = ?, last_attempt_at = ?
                 WHERE id = ?",
            )
            .bind(due_at)
            .bind(now)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        }
        for id in &plan.failed {
            sqlx::query(
                "UPDATE rest_hooks_deliveries SET state = 'failed', attempts = attempts + 1, last_attempt_at = ?
                 WHERE id = ?",
            )
            .bind(now)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        }
        for (hook, since) in plan.failing_hooks.iter().zip(streaks) {
            sqlx::query("UPDATE rest_hooks_hooks SET failing_since = COALESCE(?, ?) WHERE id = ?")
                .bind(since)
                .bind(now)
                .bind(hook.to_string())
                .execute(&mut *tx)
                .await?;
            let disabled = sqlx::query(
                "UPDATE rest_hooks_hooks SET active = 0, disabled_reason = ?
                 WHERE id = ? AND active AND failing_since <= ?",
            )
            .bind(disable.reason())
            .bind(hook.to_string())
            .bind(disable.cutoff(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if disabled > 0 {
                sqlx::query("UPDATE rest_hooks_deliveries SET state = 'held' WHERE hook_id = ? AND state = 'pending'")
                    .bind(hook.to_string())
                    .execute(&mut *tx)
                    .await?;
                changes.push(HookChange::Disabled(*hook));
            }
        }
        for &hook in &plan.gone_hooks {
            Self::delete_gone_hook(&mut tx, hook).await?;
            changes.push(HookChange::Deleted(hook));
        }
        tx.commit().await?;
        self.leases.retire(plan.logged_deliveries());
        self.wrote();
        Ok(changes)
    }

    /// Gives leased deliveries back (see [`Store::release`](crate::store::Store::release)):
    /// their leases end, in memory.
    pub(super) async fn release_leased(&self, ids: &[Uuid]) -> Result<()> {
        self.leases.release(ids);
        Ok(())
    }

    /// Holds the leased deliveries of paused and disabled hooks and deletes those
    /// of deleted ones (see [`Leased`]).
    async fn drop_unsendable(&self, leased: &Leased) -> Result<()> {
        if !leased.held.is_empty() {
            // Only while the hook is still inactive: one resumed since the lease
            // read it gets these deliveries from the next lease.
            let mut hold = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "UPDATE rest_hooks_deliveries SET state = 'held'
                 WHERE state = 'pending'
                   AND hook_id IN (SELECT id FROM rest_hooks_hooks WHERE NOT active)
                   AND id IN ",
            );
            push_ids(&mut hold, leased.held.iter());
            hold.build().persistent(false).execute(&self.writer).await?;
        }
        if !leased.gone.is_empty() {
            let mut delete = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "DELETE FROM rest_hooks_deliveries WHERE id IN ",
            );
            push_ids(&mut delete, leased.gone.iter());
            delete
                .build()
                .persistent(false)
                .execute(&self.writer)
                .await?;
        }
        self.leases
            .retire(leased.held.iter().chain(&leased.gone).copied().collect());
        Ok(())
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
    // Prepared once for the usual small batches: preparing it compiles the
    // trigger too.
    insert
        .build()
        .persistent(attempts.len() <= SMALL_BATCH)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Appends `(?, ?, …)` with the ids bound.
pub(super) fn push_ids<'a>(
    query: &mut sqlx::QueryBuilder<sqlx::Sqlite>,
    ids: impl Iterator<Item = &'a Uuid>,
) {
    query.push("(");
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(id.to_string());
    }
    list.push_unseparated(")");
}
