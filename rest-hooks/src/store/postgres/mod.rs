//! [`PgStore`]: hooks and the queue in PostgreSQL, shared by several processes:
//! workers lease deliveries with `FOR UPDATE SKIP LOCKED`, and `LISTEN/NOTIFY`
//! tells every process what the others queued and which hooks they changed.

mod leased;
mod notices;
mod queue;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::PgConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::sql::group_commit::{GroupCommit, MaxCalls};
use super::sql::rows::{AttemptRow, QueueCounts, convert, queue_depth, select_attempts};
use super::sql::{migrator, sql_store};
use super::{Notice, QueueDepth};
use crate::error::Result;
use crate::queue::{Attempt, Delivery};
use notices::{announce, listen, relay};
use queue::strings;

/// Firing's calls that one commit takes at most: leases and records have
/// connections of their own, so a large commit keeps no worker waiting.
const COMMIT_CALLS: MaxCalls = MaxCalls(64);

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
    (
        7,
        "hook headers",
        include_str!("migrations/0007_hook_headers.sql"),
    ),
    (
        8,
        "idempotency keys",
        include_str!("migrations/0008_idempotency_keys.sql"),
    ),
    (
        9,
        "test deliveries",
        include_str!("migrations/0009_test_deliveries.sql"),
    ),
    (
        10,
        "stuck indexes",
        include_str!("migrations/0010_stuck_indexes.sql"),
    ),
    (
        11,
        "room for leases",
        include_str!("migrations/0011_room_for_leases.sql"),
    ),
];

/// A [`Store`](super::Store) in PostgreSQL, which several processes (on several hosts) can
/// share: each leases from the one queue, and each [`Hooks`](crate::Hooks) built
/// on it hears through `LISTEN/NOTIFY` what the others queue and which hooks they
/// change.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Connections whose commits do not wait for the server's log to reach the
    /// disk (`synchronous_commit = off`), for the queue's bookkeeping: leases,
    /// their release, and the record of attempts. A server that crashes may lose
    /// the last of these commits, and the deliveries they concerned are sent
    /// again, as after a crash of this process: deliveries are at least once
    /// already. Queuing waits for the disk, on `pool`: a fired event is never
    /// lost.
    ///
    /// Each of their statements is planned for its parameters
    /// (`plan_cache_mode = force_custom_plan`): on two connections the lease
    /// ran its fifth time, when PostgreSQL may settle on a generic plan, while
    /// the queue was still nearly empty, and that plan, kept until the table is
    /// analyzed (never, on a server whose autovacuum is off), sorted the whole
    /// queue at each lease once it had filled: a load test of 200,000
    /// deliveries took 100 s instead of 9 (BENCHMARKS.md).
    bookkeeping: PgPool,
    /// Where this schema's changes are notified (see `0004_notify.sql`).
    channel: String,
    /// Asks [`announce`] to tell the other processes that deliveries are due.
    queued: mpsc::Sender<()>,
    /// Writes the deliveries queued while it is busy together.
    queue: GroupCommit,
    /// Deliveries purged since the tables were last vacuumed (see `purged`).
    purged_since_vacuum: Arc<AtomicU64>,
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
        let pool = pool_options(8).connect_with(options).await?;
        Self::from_pool(pool).await
    }

    /// Uses the application's pool, and brings the schema up to date.
    ///
    /// The store opens a few connections of its own with the pool's connect
    /// options: two to listen for the other processes' notices, and two for the
    /// queue's bookkeeping, whose commits do not wait for the disk.
    pub async fn from_pool(pool: PgPool) -> Result<Self> {
        migrator(MIGRATIONS).run(&pool).await?;
        let bookkeeping = pool_options(2)
            .connect_with((*pool.connect_options()).clone().options([
                ("synchronous_commit", "off"),
                ("plan_cache_mode", "force_custom_plan"),
            ]))
            .await?;
        let channel: String = sqlx::query_scalar("SELECT 'rest_hooks_' || md5(current_schema())")
            .fetch_one(&pool)
            .await?;
        let (queued, requests) = mpsc::channel(1);
        tokio::spawn(announce(pool.clone(), channel.clone(), requests));
        Ok(Self {
            queue: GroupCommit::start(pool.clone(), COMMIT_CALLS),
            pool,
            bookkeeping,
            channel,
            queued,
            purged_since_vacuum: Arc::default(),
        })
    }

    /// Tells the listening processes, within [`NOTIFY_WINDOW`](notices::NOTIFY_WINDOW), that deliveries
    /// are due.
    fn queued_again(&self) {
        // Full: a notification is asked for already, and will cover these too.
        let _ = self.queued.try_send(());
    }

    /// The pool, for transactions that [`fire_in`](crate::Hooks::fire_in) joins.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// The fewest purged deliveries after which a store vacuums where autovacuum is
/// off.
const VACUUM_AFTER: u64 = 10_000;

/// How long a pooled connection may sit idle before it is tested before use.
const IDLE_BEFORE_TEST: Duration = Duration::from_millis(100);

/// A pool of at most `max` connections, each tested before use only after it
/// sat idle for [`IDLE_BEFORE_TEST`].
fn pool_options(max: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max)
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
}

sql_store!(
    PgStore,
    PgConnection,
    read = pool,
    write = pool,
    json = "::jsonb",
    lock = " FOR UPDATE"
);

/// What the SQL statements shared with SQLite leave to PostgreSQL.
impl PgStore {
    async fn enqueue_deliveries(&self, deliveries: Vec<Delivery>) -> Result<()> {
        self.queue.enqueue(deliveries).await?;
        self.queued_again();
        Ok(())
    }

    /// Counts the queue (see [`Store::queue_depth`](crate::store::Store::queue_depth)).
    /// Leases that ran out count as due: another worker takes them next. Each
    /// count goes along a partial index of its own (pending, held, failed), so
    /// that a check never reads the whole log.
    async fn count_queue(&self, now: i64) -> Result<QueueDepth> {
        let counts: QueueCounts = sqlx::query_as(
            "SELECT
                 (SELECT COUNT(*) FROM rest_hooks_deliveries WHERE state = 'pending'
                  AND due_at <= $1 AND (leased_until IS NULL OR leased_until <= $1)),
                 (SELECT COUNT(*) FROM rest_hooks_deliveries WHERE state = 'pending'
                  AND leased_until > $1),
                 (SELECT COUNT(*) FROM rest_hooks_deliveries WHERE state = 'held'),
                 (SELECT COUNT(*) FROM rest_hooks_deliveries WHERE state = 'failed'),
                 (SELECT MIN(due_at) FROM rest_hooks_deliveries WHERE state = 'pending'
                  AND due_at <= $1 AND (leased_until IS NULL OR leased_until <= $1))",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(queue_depth(counts))
    }

    async fn list_attempt_rows(&self, owner: &str, delivery_ids: &[Uuid]) -> Result<Vec<Attempt>> {
        let rows: Vec<AttemptRow> = sqlx::query_as(select_attempts!(
            "WHERE d.owner = $1 AND a.delivery_id = ANY($2) ORDER BY a.id DESC"
        ))
        .bind(owner)
        .bind(strings(delivery_ids))
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }

    /// Whether this transaction holds the schema's purge lock, which one process
    /// at a time takes for a batch: two that purged together would wait on each
    /// other's rows.
    async fn may_purge(&self, tx: &mut PgConnection) -> Result<bool> {
        let locked = sqlx::query_scalar(
            "SELECT pg_try_advisory_xact_lock(hashtext('rest_hooks_purge ' || current_schema()))",
        )
        .fetch_one(tx)
        .await?;
        Ok(locked)
    }

    /// Makes the room of deleted rows reusable where the server's autovacuum,
    /// which does so by default, is off: once a tenth of the deliveries (at least
    /// [`VACUUM_AFTER`]) were purged since the last time, vacuums the two tables.
    /// A vacuum that fails (the tables are not this user's, say) is logged, and
    /// the purge goes on.
    async fn purged(&self, deleted: u64) -> Result<()> {
        let since = self
            .purged_since_vacuum
            .fetch_add(deleted, Ordering::Relaxed)
            + deleted;
        if since < VACUUM_AFTER {
            return Ok(());
        }
        let (autovacuum, rows): (bool, f32) = sqlx::query_as(
            "SELECT current_setting('autovacuum') = 'on', reltuples FROM pg_class
             WHERE oid = 'rest_hooks_deliveries'::regclass",
        )
        .fetch_one(&self.pool)
        .await?;
        if !autovacuum && (since as f32) < rows / 10.0 {
            return Ok(());
        }
        self.purged_since_vacuum.store(0, Ordering::Relaxed);
        if !autovacuum
            && let Err(error) = sqlx::query("VACUUM rest_hooks_deliveries, rest_hooks_attempts")
                .execute(&self.pool)
                .await
        {
            tracing::warn!(%error, "autovacuum is off, and the purged tables could not be vacuumed");
        }
        Ok(())
    }

    async fn listen_for_notices(&self) -> Result<Option<mpsc::Receiver<Notice>>> {
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

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;

    /// The setting `name` on a connection of `pool`.
    async fn setting(pool: &PgPool, name: &str) -> String {
        sqlx::query_scalar("SELECT current_setting($1)")
            .bind(name)
            .fetch_one(pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_queues_bookkeeping_commits_without_waiting_for_the_disk_and_plans_each_statement()
    {
        let Ok(url) = std::env::var("REST_HOOKS_TEST_DATABASE_URL") else {
            eprintln!(
                "notice: REST_HOOKS_TEST_DATABASE_URL is not set; this PostgreSQL test is skipped"
            );
            return;
        };
        let schema = format!("rh_unit_{}", Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(&url).await.unwrap();
        let server_default: String =
            sqlx::query_scalar("SELECT current_setting('synchronous_commit')")
                .fetch_one(&mut admin)
                .await
                .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut admin)
            .await
            .unwrap();
        let options: PgConnectOptions = url.parse().unwrap();
        let store =
            PgStore::connect_with(options.options([("search_path", schema.as_str())])).await;

        let answers = match &store {
            Ok(store) => Some((
                setting(&store.pool, "synchronous_commit").await,
                setting(&store.bookkeeping, "synchronous_commit").await,
                setting(&store.bookkeeping, "plan_cache_mode").await,
            )),
            Err(_) => None,
        };
        drop(store);
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&mut admin)
            .await
            .unwrap();
        // Queuing commits as the server is set to (waiting for the disk by
        // default); leases and records do not wait, and are planned each time.
        assert_eq!(
            answers,
            Some((
                server_default,
                "off".to_owned(),
                "force_custom_plan".to_owned()
            ))
        );
    }
}
