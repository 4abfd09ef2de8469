//! The delivery queue in PostgreSQL: writing deliveries (by group commit, or in
//! the caller's transaction, notified when it commits), leasing them with
//! `FOR UPDATE SKIP LOCKED`, and recording attempts. Leases and records go
//! through the store's bookkeeping connections, whose commits do not wait for
//! the disk (see [`PgStore`]).

use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgConnection;
use sqlx::postgres::PgPool;
use uuid::Uuid;

use super::PgStore;
use super::leased::LeasedRow;
use crate::clock::{duration_millis, millis, now_millis};
use crate::error::Result;
use crate::queue::{Delivery, HookChange, Outgoing};
use crate::store::Disable;
use crate::store::queue_rules::{Leased, RecordPlan};
use crate::store::sql::WriteDeliveries;
use crate::store::sql::group_commit::WriteQueued;
use crate::store::sql::rows::parse_id;

#[async_trait]
impl WriteQueued for PgPool {
    async fn write_queued(&self, deliveries: &[Delivery]) -> Result<()> {
        insert_deliveries(&mut *self.acquire().await?, deliveries).await
    }
}

#[async_trait]
impl WriteDeliveries for PgConnection {
    async fn write_deliveries(&mut self, deliveries: &[Delivery]) -> Result<()> {
        insert_deliveries(self, deliveries).await?;
        // Sent when the caller's transaction commits, and not if it rolls back.
        sqlx::query("SELECT pg_notify('rest_hooks_' || md5(current_schema()), 'queued')")
            .execute(&mut *self)
            .await?;
        Ok(())
    }
}

/// Inserts deliveries, due at once: one statement, atomic by itself, prepared once
/// whatever the count.
async fn insert_deliveries(conn: &mut PgConnection, deliveries: &[Delivery]) -> Result<()> {
    sqlx::query(
        "INSERT INTO rest_hooks_deliveries
         (id, hook_id, owner, event, target, payload, state, attempts, due_at, created_at, test)
         SELECT id, hook_id, owner, event, target, payload, state, attempts, $1, created_at, test
         FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[],
                     $8::text[], $9::int8[], $10::int8[], $11::bool[])
              AS d(id, hook_id, owner, event, target, payload, state, attempts, created_at, test)",
    )
    .bind(now_millis())
    .bind(
        deliveries
            .iter()
            .map(|d| d.id.to_string())
            .collect::<Vec<_>>(),
    )
    .bind(
        deliveries
            .iter()
            .map(|d| d.hook_id.to_string())
            .collect::<Vec<_>>(),
    )
    .bind(
        deliveries
            .iter()
            .map(|d| d.owner.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        deliveries
            .iter()
            .map(|d| d.event.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        deliveries
            .iter()
            .map(|d| d.target.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        deliveries
            .iter()
            .map(|d| d.payload.as_slice())
            .collect::<Vec<_>>(),
    )
    .bind(
        deliveries
            .iter()
            .map(|d| d.state.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        deliveries
            .iter()
            .map(|d| i64::from(d.attempts))
            .collect::<Vec<_>>(),
    )
    .bind(
        deliveries
            .iter()
            .map(|d| millis(d.created_at))
            .collect::<Vec<_>>(),
    )
    .bind(deliveries.iter().map(|d| d.test).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

impl PgStore {
    /// Leases due deliveries (see [`Store::lease`](crate::store::Store::lease)).
    pub(super) async fn lease_due(&self, limit: usize, lease: Duration) -> Result<Vec<Outgoing>> {
        // One statement: take the deliveries, and join the secrets that sign them.
        let now = now_millis();
        let rows: Vec<LeasedRow> = sqlx::query_as(
            "WITH leased AS (
                 UPDATE rest_hooks_deliveries SET leased_until = $1
                 WHERE id IN (
                     SELECT id FROM rest_hooks_deliveries
                     WHERE state = 'pending' AND due_at <= $2 AND (leased_until IS NULL OR leased_until <= $2)
                     ORDER BY due_at LIMIT $3
                     FOR UPDATE SKIP LOCKED)
                 RETURNING id, hook_id, owner, event, target, payload, state, attempts, created_at, test, due_at)
             SELECT l.id, l.hook_id, l.owner, l.event, l.target, l.payload, l.state, l.attempts, l.created_at, l.test,
                    h.secret, h.previous_secret, h.previous_secret_until, h.active, h.headers::text AS headers
             FROM leased l LEFT JOIN rest_hooks_hooks h ON h.id = l.hook_id
             ORDER BY l.due_at",
        )
        .bind(now.saturating_add(duration_millis(lease)))
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.bookkeeping)
        .await?;
        let rows = rows
            .into_iter()
            .map(LeasedRow::split)
            .collect::<Result<Vec<_>>>()?;
        let leased = Leased::sort(rows, now);
        if leased.has_unsendable() {
            sqlx::query(
                // Held only while the hook is still inactive: one resumed since
                // the lease read it gets these deliveries when their lease runs out.
                "WITH held AS (
                     UPDATE rest_hooks_deliveries SET state = 'held', leased_until = NULL
                     WHERE id = ANY($1) AND state = 'pending'
                       AND hook_id IN (SELECT id FROM rest_hooks_hooks WHERE NOT active))
                 DELETE FROM rest_hooks_deliveries WHERE id = ANY($2)",
            )
            .bind(strings(&leased.held))
            .bind(strings(&leased.gone))
            .execute(&self.bookkeeping)
            .await?;
        }
        Ok(leased.outgoing)
    }

    /// Gives leased deliveries back (see [`Store::release`](crate::store::Store::release)).
    pub(super) async fn release_leased(&self, ids: &[Uuid]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query("UPDATE rest_hooks_deliveries SET leased_until = NULL WHERE id = ANY($1)")
            .bind(strings(ids))
            .execute(&self.bookkeeping)
            .await?;
        self.queued_again();
        Ok(())
    }

    /// Records a batch of attempts (see [`Store::record`](crate::store::Store::record)).
    pub(super) async fn record_batch(
        &self,
        plan: &RecordPlan<'_>,
        disable: &Disable,
    ) -> Result<Vec<HookChange>> {
        let now = plan.now;
        // The usual batch, all delivered, is one statement, atomic by itself.
        if plan.successes_only() {
            record_successes(&mut *self.bookkeeping.acquire().await?, plan, now).await?;
            return Ok(Vec::new());
        }

        let mut changes = Vec::new();
        let mut tx = self.bookkeeping.begin().await?;
        record_successes(&mut tx, plan, now).await?;
        let (retry_ids, retry_due): (Vec<String>, Vec<i64>) = plan
            .retries
            .iter()
            .map(|(id, due_at)| (id.to_string(), *due_at))
            .unzip();
        sqlx::query(
            "UPDATE rest_hooks_deliveries d
             SET attempts = d.attempts + 1, leased_until = NULL, due_at = r.due_at, last_attempt_at = $1
             FROM UNNEST($2::text[], $3::int8[]) AS r(id, due_at) WHERE d.id = r.id",
        )
        .bind(now)
        .bind(&retry_ids)
        .bind(&retry_due)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE rest_hooks_deliveries
             SET state = 'failed', attempts = attempts + 1, leased_until = NULL, last_attempt_at = $1
             WHERE id = ANY($2)",
        )
        .bind(now)
        .bind(strings(&plan.failed))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE rest_hooks_hooks SET failing_since = COALESCE(failing_since, $1) WHERE id = ANY($2)",
        )
        .bind(now)
        .bind(strings(&plan.failing_hooks))
        .execute(&mut *tx)
        .await?;
        let disabled: Vec<String> = sqlx::query_scalar(
            "UPDATE rest_hooks_hooks SET active = false, disabled_reason = $1
             WHERE id = ANY($2) AND active AND failing_since <= $3 RETURNING id",
        )
        .bind(disable.reason())
        .bind(strings(&plan.failing_hooks))
        .bind(disable.cutoff(now))
        .fetch_all(&mut *tx)
        .await?;
        if !disabled.is_empty() {
            sqlx::query(
                "UPDATE rest_hooks_deliveries SET state = 'held' WHERE hook_id = ANY($1) AND state = 'pending'",
            )
            .bind(&disabled)
            .execute(&mut *tx)
            .await?;
        }
        for hook in &disabled {
            changes.push(HookChange::Disabled(parse_id(hook)?));
        }
        for &hook in &plan.gone_hooks {
            Self::delete_gone_hook(&mut tx, hook).await?;
            changes.push(HookChange::Deleted(hook));
        }
        tx.commit().await?;
        Ok(changes)
    }
}

/// Ids as PostgreSQL takes them in a `text[]`.
pub(super) fn strings(ids: &[Uuid]) -> Vec<String> {
    ids.iter().map(Uuid::to_string).collect()
}

/// Logs every attempt of the plan, marks its delivered deliveries, and ends the
/// failing streak of the hooks that took one: one statement.
async fn record_successes(conn: &mut PgConnection, plan: &RecordPlan<'_>, now: i64) -> Result<()> {
    let logged = &plan.logged;
    sqlx::query(
        "WITH logged AS (
             INSERT INTO rest_hooks_attempts
             (delivery_id, hook_id, attempted_at, status, error, duration_ms, response_body)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[], $6::int8[], $7::text[])),
         delivered AS (
             UPDATE rest_hooks_deliveries
             SET state = 'delivered', attempts = attempts + 1, leased_until = NULL, last_attempt_at = $8
             WHERE id = ANY($9))
         UPDATE rest_hooks_hooks SET failing_since = NULL WHERE failing_since IS NOT NULL AND id = ANY($10)",
    )
    .bind(logged.iter().map(|a| a.delivery_id.to_string()).collect::<Vec<_>>())
    .bind(logged.iter().map(|a| a.hook_id.to_string()).collect::<Vec<_>>())
    .bind(logged.iter().map(|a| millis(a.attempted_at)).collect::<Vec<_>>())
    .bind(logged.iter().map(|a| a.result.status().map(i64::from)).collect::<Vec<_>>())
    .bind(logged.iter().map(|a| a.result.error()).collect::<Vec<_>>())
    .bind(logged.iter().map(|a| i64::try_from(a.duration_ms).unwrap_or(i64::MAX)).collect::<Vec<_>>())
    .bind(logged.iter().map(|a| a.response_body.clone()).collect::<Vec<_>>())
    .bind(now)
    .bind(strings(&plan.delivered))
    .bind(strings(&plan.succeeding_hooks))
    .execute(conn)
    .await?;
    Ok(())
}
