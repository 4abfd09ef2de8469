//! [`PgStore`]: hooks and the queue in PostgreSQL, shared by several processes:
//! workers lease deliveries with `FOR UPDATE SKIP LOCKED`, and `LISTEN/NOTIFY`
//! tells every process what the others queued and which hooks they changed.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgConnection;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::group_commit::{GroupCommit, WriteQueued};
use super::sql::{
    AttemptRow, DeliveryRow, HookRow, Leased, RecordPlan, WriteDeliveries, attempt_from_row,
    delivery_from_row, hook_from_row, migrator, parse_id,
};
use super::{Disable, Notice, Store, lease_millis, millis, now_millis};
use crate::backoff::Backoff;
use crate::delivery::{Attempt, Delivery, HookChange, Outgoing, Recorded};
use crate::error::Result;
use crate::hook::Hook;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "hooks",
        include_str!("migrations/postgres/0001_hooks.sql"),
    ),
    (
        2,
        "deliveries",
        include_str!("migrations/postgres/0002_deliveries.sql"),
    ),
    (
        3,
        "attempts",
        include_str!("migrations/postgres/0003_attempts.sql"),
    ),
    (
        4,
        "notify",
        include_str!("migrations/postgres/0004_notify.sql"),
    ),
    (
        5,
        "lighter indexes",
        include_str!("migrations/postgres/0005_lighter_indexes.sql"),
    ),
];

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
            "SELECT id, owner, event, target, secret, active, created_at, metadata::text, disabled_reason FROM rest_hooks_hooks ",
            $rest
        )
    };
}

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

    /// Tells the listening processes, within [`NOTIFY_WINDOW`], that deliveries
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

/// How often at most [`PgStore::enqueue`] notifies: a burst of firing costs one
/// notification a window, not one an event, and an idle worker elsewhere still
/// wakes within the window.
const NOTIFY_WINDOW: Duration = Duration::from_millis(5);

/// Sends a `queued` notification for each request, and one for all the requests
/// made during the window after it; ends when every store handle is dropped.
async fn announce(pool: PgPool, channel: String, mut requests: mpsc::Receiver<()>) {
    while requests.recv().await.is_some() {
        let notified = sqlx::query("SELECT pg_notify($1, 'queued')")
            .bind(&channel)
            .execute(&pool)
            .await;
        if let Err(error) = notified {
            tracing::warn!(%error, "could not tell other processes of queued deliveries; they find them when they poll");
        }
        tokio::time::sleep(NOTIFY_WINDOW).await;
    }
}

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

    async fn hook(&self, owner: &str, id: Uuid) -> Result<Option<Hook>> {
        let row: Option<HookRow> = sqlx::query_as(select_hooks!("WHERE id = $1 AND owner = $2"))
            .bind(id.to_string())
            .bind(owner)
            .fetch_optional(&self.pool)
            .await?;
        row.map(hook_from_row).transpose()
    }

    async fn hooks(&self, owner: &str) -> Result<Vec<Hook>> {
        let rows: Vec<HookRow> = sqlx::query_as(select_hooks!("WHERE owner = $1 ORDER BY id"))
            .bind(owner)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(hook_from_row).collect()
    }

    async fn delete_hook(&self, owner: &str, id: Uuid) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM rest_hooks_hooks WHERE id = $1 AND owner = $2")
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
            "UPDATE rest_hooks_hooks SET previous_secret = secret, previous_secret_until = $1, secret = $2
             WHERE id = $3 AND owner = $4",
        )
        .bind(millis(previous_until))
        .bind(secret)
        .bind(id.to_string())
        .bind(owner)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if rotated == 0 {
            return Ok(None);
        }
        self.hook(owner, id).await
    }

    async fn active_hooks(&self) -> Result<Vec<Hook>> {
        let rows: Vec<HookRow> = sqlx::query_as(select_hooks!("WHERE active ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(hook_from_row).collect()
    }

    async fn active_hook(&self, id: Uuid) -> Result<Option<Hook>> {
        let row: Option<HookRow> = sqlx::query_as(select_hooks!("WHERE id = $1 AND active"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(hook_from_row).transpose()
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
        .bind(now.saturating_add(lease_millis(lease)))
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let rows = rows
            .into_iter()
            .map(|row| {
                let (id, hook_id, owner, event, target, payload, state, attempts, created_at) = (
                    row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8,
                );
                let delivery = delivery_from_row((
                    id, hook_id, owner, event, target, payload, state, attempts, created_at,
                ))?;
                let (secret, previous, until, active) = (row.9, row.10, row.11, row.12);
                let hook = secret.map(|secret| (secret, previous, until, active.unwrap_or(false)));
                Ok((delivery, hook))
            })
            .collect::<Result<Vec<_>>>()?;
        let leased = Leased::sort(rows, now);
        if !leased.disabled.is_empty() || !leased.gone.is_empty() {
            sqlx::query(
                "WITH failed AS (
                     UPDATE rest_hooks_deliveries SET state = 'failed', leased_until = NULL
                     WHERE id = ANY($1))
                 DELETE FROM rest_hooks_deliveries WHERE id = ANY($2)",
            )
            .bind(&leased.disabled)
            .bind(&leased.gone)
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
            .bind(ids.iter().map(Uuid::to_string).collect::<Vec<_>>())
            .execute(&self.pool)
            .await?;
        self.notify_queued();
        Ok(())
    }

    async fn record(&self, recorded: &[Recorded], disable: &Disable) -> Result<Vec<HookChange>> {
        let plan = RecordPlan::new(recorded);
        let now = now_millis();
        let successes_only = plan.retries.is_empty()
            && plan.failed.is_empty()
            && plan.failing_hooks.is_empty()
            && plan.gone_hooks.is_empty();
        // The usual batch, all delivered, is one statement, atomic by itself.
        if successes_only {
            record_successes(&mut *self.pool.acquire().await?, &plan, now).await?;
            return Ok(Vec::new());
        }

        let mut changes = Vec::new();
        let mut tx = self.pool.begin().await?;
        record_successes(&mut tx, &plan, now).await?;
        let (retry_ids, retry_due): (Vec<&str>, Vec<i64>) = plan
            .retries
            .iter()
            .map(|(id, due_at)| (id.as_str(), *due_at))
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
        .bind(&plan.failed)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE rest_hooks_hooks SET failing_since = COALESCE(failing_since, $1) WHERE id = ANY($2)",
        )
        .bind(now)
        .bind(&plan.failing_hooks)
        .execute(&mut *tx)
        .await?;
        let disabled: Vec<String> = sqlx::query_scalar(
            "UPDATE rest_hooks_hooks SET active = false, disabled_reason = $1
             WHERE id = ANY($2) AND active AND failing_since <= $3 RETURNING id",
        )
        .bind(disable.reason())
        .bind(&plan.failing_hooks)
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
                .bind(hook)
                .execute(&mut *tx)
                .await?;
            delete_hook_rows(&mut tx, hook).await?;
            changes.push(HookChange::Deleted(parse_id(hook)?));
        }
        tx.commit().await?;
        Ok(changes)
    }

    async fn delivery(&self, owner: &str, id: Uuid) -> Result<Option<Delivery>> {
        let row: Option<DeliveryRow> =
            sqlx::query_as(select_deliveries!("WHERE id = $1 AND owner = $2"))
                .bind(id.to_string())
                .bind(owner)
                .fetch_optional(&self.pool)
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
            "WHERE hook_id = $1 AND owner = $2 AND ($3 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5"
        ))
        .bind(hook_id.to_string())
        .bind(owner)
        .bind(before.map(|b| b.to_string()))
        .bind(before.map(|b| b.to_string()))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(delivery_from_row).collect()
    }

    async fn attempts(&self, owner: &str, delivery_id: Uuid) -> Result<Vec<Attempt>> {
        let rows: Vec<AttemptRow> = sqlx::query_as(
            "SELECT a.delivery_id, a.hook_id, a.attempted_at, a.status, a.error, a.duration_ms, a.response_body
             FROM rest_hooks_attempts a JOIN rest_hooks_deliveries d ON d.id = a.delivery_id
             WHERE a.delivery_id = $1 AND d.owner = $2 ORDER BY a.id DESC",
        )
        .bind(delivery_id.to_string())
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(attempt_from_row).collect()
    }

    async fn retry(&self, owner: &str, delivery_id: Uuid) -> Result<bool> {
        let retried = sqlx::query(
            "UPDATE rest_hooks_deliveries SET state = 'pending', due_at = $1, leased_until = NULL
             WHERE id = $2 AND owner = $3 AND state <> 'pending'",
        )
        .bind(now_millis())
        .bind(delivery_id.to_string())
        .bind(owner)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if retried > 0 {
            self.notify_queued();
        }
        Ok(retried > 0)
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

async fn listen(pool: &PgPool, channel: &str) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    // A lost connection is replaced by `relay`, which says that notices were lost.
    listener.eager_reconnect(false);
    listener.listen(channel).await?;
    Ok(listener)
}

/// Passes notifications on as notices until nobody receives them. A lost connection
/// is replaced, with backoff, by a new one that listens again, and reported as
/// [`Notice::Missed`]: what was notified in between is lost.
async fn relay(
    mut listener: PgListener,
    pool: PgPool,
    channel: String,
    notices: mpsc::Sender<Notice>,
) {
    let mut backoff = Backoff::new(Duration::from_secs(30));
    loop {
        let lost = loop {
            let received = tokio::select! {
                received = listener.try_recv() => received,
                () = notices.closed() => return,
            };
            match received {
                Ok(Some(notification)) => match parse_notice(notification.payload()) {
                    Some(notice) => {
                        if notices.send(notice).await.is_err() {
                            return;
                        }
                    }
                    None => {
                        tracing::debug!(payload = notification.payload(), "ignored a notification");
                    }
                },
                Ok(None) => break None,
                Err(error) => break Some(error),
            }
        };
        tracing::warn!(error = ?lost, "lost the connection that listens for other processes' changes");
        drop(listener);
        listener = loop {
            tokio::select! {
                () = tokio::time::sleep(backoff.next_wait()) => {}
                () = notices.closed() => return,
            }
            match listen(&pool, &channel).await {
                Ok(listener) => break listener,
                Err(error) => tracing::warn!(%error, "could not listen again yet"),
            }
        };
        backoff.reset();
        if notices.send(Notice::Missed).await.is_err() {
            return;
        }
    }
}

/// `queued`, or `hook <id>`, as `0004_notify.sql` sends them.
fn parse_notice(payload: &str) -> Option<Notice> {
    match payload.split_once(' ') {
        None if payload == "queued" => Some(Notice::Queued),
        Some(("hook", id)) => id.parse().ok().map(Notice::Hook),
        _ => None,
    }
}

/// A leased delivery row with its hook's secrets: `DeliveryRow`, then secret,
/// previous_secret, previous_secret_until, active (absent when the hook is gone).
type LeasedRow = (
    String,
    String,
    String,
    String,
    String,
    Vec<u8>,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<bool>,
);

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
    .bind(&plan.delivered)
    .bind(&plan.succeeding_hooks)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes what belongs to a hook that is gone: its deliveries and their attempts.
async fn delete_hook_rows(conn: &mut PgConnection, hook: &str) -> Result<()> {
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
