//! [`PgStore`]: hooks and the queue in PostgreSQL, shared by several processes:
//! workers lease deliveries with `FOR UPDATE SKIP LOCKED`, and `LISTEN/NOTIFY`
//! tells every process what the others queued and which hooks they changed.

mod notices;

use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::queue_rules::{HookSecrets, Leased, RecordPlan};
use super::sql::group_commit::{GroupCommit, WriteQueued};
use super::sql::rows::{
    AttemptRow, DeliveryRow, HookRow, convert, parse_id, select_attempts, select_deliveries,
    select_hooks,
};
use super::sql::{WriteDeliveries, migrator, shared_statements};
use super::{Disable, Notice, Store};
use crate::clock::{duration_millis, millis, now_millis};
use crate::error::Result;
use crate::hook::Hook;
use crate::queue::{Attempt, Delivery, HookChange, Outgoing, Recorded};
use notices::{announce, listen, relay};

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "hooks", include_str!("migrations/0001_hooks.sql")),
    (
        2,
        "deliveries",
        include_str!("migrations/0002_deliveries.sql"),
    ),
    (3, "attempts", include_str!("migrations/0003_attempts.sql")),
    (4, "notify", include_str!("migrations/0004_notify.sql")),
    (
        5,
        "lighter indexes",
        include_str!("migrations/0005_lighter_indexes.sql"),
    ),
    (
        6,
        "notify every change",
        include_str!("migrations/0006_notify_every_change.sql"),
    ),
];

/// A [`Store`] in PostgreSQL, which several processes (on several hosts) can
/// share: each leases from the one queue, and each [`Hooks`](crate::Hooks) built
/// on it hears through `LISTEN/NOTIFY` what the others queue and which hooks they
/// change.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Where this schema's changes are notified (see `0004_notify.sql`).
    channel: String,
    /// Asks [`announce`] to tell the other processes that deliveries are due.
    queued: mpsc::Sender<()>,
    /// Writes the deliveries queued while it is busy together.
    queue: GroupCommit,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host/db`) and brings its
    /// schema up to date.
    pub async fn connect(url: &str) -> Result<Self> {
        let options: PgConnectOptions = url.parse()?;
        Self::connect_with(options).await
    }

    /// Connects with `options` (for example with a `search_path`) and brings the
    /// schema up to date.
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            // sqlx tests a connection as it is given back, and would also before
            // each use: a round trip that cost a fifth of the throughput under load.
            // Only one that has been idle for a while may have been cut meanwhile.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_BEFORE_TEST {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await?;
        Self::from_pool(pool).await
    }

    /// Uses the application's pool, and brings the schema up to date.
    pub async fn from_pool(pool: PgPool) -> Result<Self> {
        migrator(MIGRATIONS).run(&pool).await?;
        let channel: String = sqlx::query_scalar("SELECT 'rest_hooks_' || md5(current_schema())")
            .fetch_one(&pool)
            .await?;
        let (queued, requests) = mpsc::channel(1);
        tokio::spawn(announce(pool.clone(), channel.clone(), requests));
        Ok(Self {
            queue: GroupCommit::start(pool.clone()),
            pool,
            channel,
            queued,
        })
    }

    /// Tells the listening processes, within [`NOTIFY_WINDOW`](notices::NOTIFY_WINDOW), that deliveries
    /// are due.
    fn notify_queued(&self) {
        // Full: a notification is asked for already, and will cover these too.
        let _ = self.queued.try_send(());
    }

    /// The pool, for transactions that [`fire_in`](crate::Hooks::fire_in) joins.
    pub fn pool(&self) -> &PgPool {
        &self.pool
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

#[async_trait]
impl WriteQueued for PgPool {
    async fn write_queued(&self, deliveries: &[Delivery]) -> Result<()> {
        insert_deliveries(&mut *self.acquire().await?, deliveries).await
    }
}

/// Inserts deliveries, due at once: one statement, atomic by itself, prepared once
/// whatever the count.
async fn insert_deliveries(conn: &mut PgConnection, deliveries: &[Delivery]) -> Result<()> {
    sqlx::query(
        "INSERT INTO rest_hooks_deliveries
         (id, hook_id, owner, event, target, payload, state, attempts, due_at, created_at)
         SELECT id, hook_id, owner, event, target, payload, state, attempts, $1, created_at
         FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[],
                     $8::text[], $9::int8[], $10::int8[])
              AS d(id, hook_id, owner, event, target, payload, state, attempts, created_at)",
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
    .execute(conn)
    .await?;
    Ok(())
}

/// How long a pooled connection may sit idle before it is tested before use.
const IDLE_BEFORE_TEST: Duration = Duration::from_millis(100);

shared_statements!(PgStore, PgConnection, read = pool, write = pool);

#[async_trait]
impl Store for PgStore {
    async fn insert_hook(&self, hook: &Hook) -> Result<()> {
        sqlx::query(
            "INSERT INTO rest_hooks_hooks
             (id, owner, event, target, secret, active, created_at, metadata, disabled_reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)",
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_hook(&self, owner: &str, id: Uuid) -> Result<Option<Hook>> {
        self.shared_get_hook(owner, id).await
    }

    async fn get_hook_by_id(&self, id: Uuid) -> Result<Option<Hook>> {
        self.shared_get_hook_by_id(id).await
    }

    async fn list_hooks(
        &self,
        owner: &str,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Hook>> {
        self.shared_list_hooks(owner, after, limit).await
    }

    async fn list_active_hooks(&self) -> Result<Vec<Hook>> {
        self.shared_list_active_hooks().await
    }

    async fn delete_hook(&self, owner: &str, id: Uuid) -> Result<bool> {
        self.shared_delete_hook(owner, id).await
    }

    async fn rotate_secret(
        &self,
        owner: &str,
        id: Uuid,
        secret: &str,
        previous_until: OffsetDateTime,
    ) -> Result<Option<Hook>> {
        self.shared_rotate_secret(owner, id, secret, previous_until)
            .await
    }

    async fn enqueue(&self, deliveries: Vec<Delivery>) -> Result<()> {
        self.queue.enqueue(deliveries).await?;
        self.notify_queued();
        Ok(())
    }

    async fn lease(&self, limit: usize, lease: Duration) -> Result<Vec<Outgoing>> {
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
                 RETURNING id, hook_id, owner, event, target, payload, state, attempts, created_at, due_at)
             SELECT l.id, l.hook_id, l.owner, l.event, l.target, l.payload, l.state, l.attempts, l.created_at,
                    h.secret, h.previous_secret, h.previous_secret_until, h.active
             FROM leased l LEFT JOIN rest_hooks_hooks h ON h.id = l.hook_id
             ORDER BY l.due_at",
        )
        .bind(now.saturating_add(duration_millis(lease)))
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let rows = rows
            .into_iter()
            .map(LeasedRow::split)
            .collect::<Result<Vec<_>>>()?;
        let leased = Leased::sort(rows, now);
        if leased.has_unsendable() {
            sqlx::query(
                "WITH failed AS (
                     UPDATE rest_hooks_deliveries SET state = 'failed', leased_until = NULL
                     WHERE id = ANY($1))
                 DELETE FROM rest_hooks_deliveries WHERE id = ANY($2)",
            )
            .bind(strings(&leased.disabled))
            .bind(strings(&leased.gone))
            .execute(&self.pool)
            .await?;
        }
        Ok(leased.outgoing)
    }

    async fn release(&self, ids: &[Uuid]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query("UPDATE rest_hooks_deliveries SET leased_until = NULL WHERE id = ANY($1)")
            .bind(strings(ids))
            .execute(&self.pool)
            .await?;
        self.notify_queued();
        Ok(())
    }

    async fn record(&self, recorded: &[Recorded], disable: &Disable) -> Result<Vec<HookChange>> {
        let plan = RecordPlan::new(recorded);
        let now = now_millis();
        // The usual batch, all delivered, is one statement, atomic by itself.
        if plan.successes_only() {
            record_successes(&mut *self.pool.acquire().await?, &plan, now).await?;
            return Ok(Vec::new());
        }

        let mut changes = Vec::new();
        let mut tx = self.pool.begin().await?;
        record_successes(&mut tx, &plan, now).await?;
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
                "UPDATE rest_hooks_deliveries SET state = 'failed' WHERE hook_id = ANY($1) AND state = 'pending'",
            )
            .bind(&disabled)
            .execute(&mut *tx)
            .await?;
        }
        for hook in &disabled {
            changes.push(HookChange::Disabled(parse_id(hook)?));
        }
        for hook in &plan.gone_hooks {
            sqlx::query("DELETE FROM rest_hooks_hooks WHERE id = $1")
                .bind(hook.to_string())
                .execute(&mut *tx)
                .await?;
            Self::delete_hook_rows(&mut tx, &hook.to_string()).await?;
            changes.push(HookChange::Deleted(*hook));
        }
        tx.commit().await?;
        Ok(changes)
    }

    async fn get_delivery(&self, owner: &str, id: Uuid) -> Result<Option<Delivery>> {
        self.shared_get_delivery(owner, id).await
    }

    async fn list_deliveries(
        &self,
        owner: &str,
        hook_id: Uuid,
        before: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Delivery>> {
        self.shared_list_deliveries(owner, hook_id, before, limit)
            .await
    }

    async fn list_attempts(&self, owner: &str, delivery_ids: &[Uuid]) -> Result<Vec<Attempt>> {
        let rows: Vec<AttemptRow> = sqlx::query_as(select_attempts!(
            "WHERE d.owner = $1 AND a.delivery_id = ANY($2) ORDER BY a.id DESC"
        ))
        .bind(owner)
        .bind(strings(delivery_ids))
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }

    async fn redeliver(&self, owner: &str, delivery_id: Uuid) -> Result<bool> {
        let redelivered = self.shared_redeliver(owner, delivery_id).await?;
        if redelivered {
            self.notify_queued();
        }
        Ok(redelivered)
    }

    async fn notices(&self) -> Result<Option<mpsc::Receiver<Notice>>> {
        // A pool of its own, so that listening takes none of the store's
        // connections; two, so that a new connection can be made while a lost one
        // is still being given back.
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_with((*self.pool.connect_options()).clone())
            .await?;
        let listener = listen(&pool, &self.channel).await?;
        let (notices, receiver) = mpsc::channel(1024);
        tokio::spawn(relay(listener, pool, self.channel.clone(), notices));
        Ok(Some(receiver))
    }
}

/// A leased delivery with its hook's secrets, absent when the hook is gone.
#[derive(sqlx::FromRow)]
struct LeasedRow {
    #[sqlx(flatten)]
    delivery: DeliveryRow,
    secret: Option<String>,
    previous_secret: Option<String>,
    previous_secret_until: Option<i64>,
    active: Option<bool>,
}

impl LeasedRow {
    fn split(self) -> Result<(Delivery, Option<HookSecrets>)> {
        let hook = self.secret.map(|secret| HookSecrets {
            secret,
            previous_secret: self.previous_secret,
            previous_secret_until: self.previous_secret_until,
            active: self.active.unwrap_or(false),
        });
        Ok((Delivery::try_from(self.delivery)?, hook))
    }
}

/// Ids as PostgreSQL takes them in a `text[]`.
fn strings(ids: &[Uuid]) -> Vec<String> {
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
