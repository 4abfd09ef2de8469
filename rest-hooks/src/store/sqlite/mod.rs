//! [`SqliteStore`]: hooks and the queue in one SQLite file, in WAL mode. The
//! embedded default: one process, no server.

mod checkpoint;
mod leased;
mod leases;
mod queue;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::SqliteConnection;
use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use uuid::Uuid;

use super::sql::group_commit::{GroupCommit, MaxCalls};
use super::sql::rows::{AttemptRow, QueueCounts, convert, queue_depth, select_attempts};
use super::sql::{migrator, sql_store};
use super::{Notice, QueueDepth};
use crate::error::Result;
use crate::queue::{Attempt, Delivery};
use checkpoint::{Checkpointer, WRITER_CHECKPOINT_PAGES};
use leases::Leases;
use queue::push_ids;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "hooks", include_str!("migrations/0001_hooks.sql")),
    (
        2,
        "deliveries",
        include_str!("migrations/0002_deliveries.sql"),
    ),
    (3, "attempts", include_str!("migrations/0003_attempts.sql")),
    (
        4,
        "fewer indexes",
        include_str!("migrations/0004_fewer_indexes.sql"),
    ),
    (
        5,
        "attempt trigger",
        include_str!("migrations/0005_attempt_trigger.sql"),
    ),
    (
        6,
        "hook headers",
        include_str!("migrations/0006_hook_headers.sql"),
    ),
    (
        7,
        "idempotency keys",
        include_str!("migrations/0007_idempotency_keys.sql"),
    ),
    (
        8,
        "test deliveries",
        include_str!("migrations/0008_test_deliveries.sql"),
    ),
    (
        9,
        "stuck indexes",
        include_str!("migrations/0009_stuck_indexes.sql"),
    ),
];

/// Firing's calls that one commit takes at most. The writer's one connection
/// also records attempts (and leased too, when this was measured), behind
/// whatever commit it is writing: a commit of 64
/// calls (640 deliveries in the load test, K = 10) held it for milliseconds, the
/// workers ran out of leased deliveries meanwhile, and delivery went slower for
/// more CPU. With 16, three interleaved pairs of load-test runs delivered 8 % to
/// 26 % more a second for 13 % to 25 % less CPU a delivery; with 8, firing took
/// half as long again.
const COMMIT_CALLS: MaxCalls = MaxCalls(16);

/// Gives back at most 512 free pages (2 MiB) after each batch of the purge: about
/// what a batch frees, so that the file shrinks as far as it was purged without
/// holding the writer for long.
const VACUUM_STEP: &str = "PRAGMA incremental_vacuum(512)";

/// A [`Store`](super::Store) in a SQLite file.
///
/// Writes go through one connection, so that they queue in the process instead of
/// waiting on SQLite's lock (whose busy handler sleeps); reads use a small pool.
/// Events fired while it is busy are queued together, in one commit. A store that
/// opened its file checkpoints on a connection of its own, beside the writer.
///
/// Leases are kept in memory, not written: a lease reads due deliveries on a
/// reader connection, beside the writer. Clones share them; open a file once in a
/// process and clone the store, and deliver from one process only (several
/// processes share a [`PgStore`](super::PgStore)). A process that restarts finds
/// what it had leased due at once.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    readers: SqlitePool,
    writer: SqlitePool,
    queue: GroupCommit,
    leases: Arc<Leases>,
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
        // Set when the file is created (an existing one keeps its own setting):
        // pages freed by the purge can then be given back.
        let options = options
            .auto_vacuum(SqliteAutoVacuum::Incremental)
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
            leases: Default::default(),
            queue: GroupCommit::start(writer.clone(), COMMIT_CALLS),
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

    /// The pool that writes, for the transactions that
    /// [`fire_in`](crate::Hooks::fire_in) joins: the application's writes to this
    /// file queue with the store's.
    pub fn pool(&self) -> &SqlitePool {
        &self.writer
    }
}

sql_store!(
    SqliteStore,
    SqliteConnection,
    read = readers,
    write = writer,
    json = "",
    lock = ""
);

/// What the SQL statements shared with PostgreSQL leave to SQLite.
impl SqliteStore {
    /// Nobody else to tell: a SQLite store is one process's, whose engine the
    /// [`Hooks`](crate::Hooks) wakes itself.
    fn queued_again(&self) {}

    async fn listen_for_notices(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Notice>>> {
        Ok(None)
    }

    /// Always: the file is this process's alone.
    async fn may_purge(&self, _: &mut SqliteConnection) -> Result<bool> {
        Ok(true)
    }

    /// Gives pages that the purge freed back to the file system, a few at a time
    /// (a file created with `auto_vacuum = INCREMENTAL`; in an older one, SQLite
    /// reuses them for new rows instead).
    async fn purged(&self, _deleted: u64) -> Result<()> {
        sqlx::query(VACUUM_STEP).execute(&self.writer).await?;
        self.wrote();
        Ok(())
    }

    async fn enqueue_deliveries(&self, deliveries: Vec<Delivery>) -> Result<()> {
        let queued = self.queue.enqueue(deliveries).await;
        self.wrote();
        queued
    }

    /// Counts the queue (see [`Store::queue_depth`](super::Store::queue_depth)),
    /// with the leases this store holds in memory. Each count goes along a
    /// partial index of its own (pending, held, failed), so that a check never
    /// reads the whole log.
    async fn count_queue(&self, now: i64) -> Result<QueueDepth> {
        let leased = serde_json::to_string(&self.leases.leased(now))?;
        let counts: QueueCounts = sqlx::query_as(
            "SELECT
                 (SELECT COUNT(*) FROM rest_hooks_deliveries WHERE state = 'pending'
                  AND due_at <= ?1 AND rowid NOT IN (SELECT value FROM json_each(?2))),
                 (SELECT COUNT(*) FROM rest_hooks_deliveries WHERE state = 'pending'
                  AND rowid IN (SELECT value FROM json_each(?2))),
                 (SELECT COUNT(*) FROM rest_hooks_deliveries WHERE state = 'held'),
                 (SELECT COUNT(*) FROM rest_hooks_deliveries WHERE state = 'failed'),
                 (SELECT MIN(due_at) FROM rest_hooks_deliveries WHERE state = 'pending'
                  AND due_at <= ?1 AND rowid NOT IN (SELECT value FROM json_each(?2)))",
        )
        .bind(now)
        .bind(leased)
        .fetch_one(&self.readers)
        .await?;
        Ok(queue_depth(counts))
    }

    async fn list_attempt_rows(&self, owner: &str, delivery_ids: &[Uuid]) -> Result<Vec<Attempt>> {
        if delivery_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query =
            sqlx::QueryBuilder::<sqlx::Sqlite>::new(select_attempts!("WHERE d.owner = "));
        query.push_bind(owner);
        query.push(" AND a.delivery_id IN ");
        push_ids(&mut query, delivery_ids.iter());
        query.push(" ORDER BY a.id DESC");
        let rows: Vec<AttemptRow> = query
            .build_query_as()
            .persistent(false)
            .fetch_all(&self.readers)
            .await?;
        convert(rows)
    }
}
