//! SQLite checkpoints on a connection of their own, so that the store's one writer
//! never waits for them.
//!
//! In WAL mode a commit appends pages to the log, and a checkpoint copies them back
//! into the database file and waits for two fsyncs. By default the connection that
//! commits does it, each time the log passes 1,000 pages, and every write queued
//! behind it waits too. A passive checkpoint from another connection runs beside
//! the writer instead.
//!
//! Such a checkpoint copies the log only up to where it was when it began, and the
//! log starts over from its beginning only once all of it has been copied: under
//! sustained writes that happens when the writer's own checkpoint comes due, at
//! [`WRITER_CHECKPOINT_PAGES`], which by then finds nearly every page copied.

use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::mpsc;

use crate::error::Result;

/// The least time between two checkpoints: about as often as SQLite's own, under
/// load, without a checkpoint after every commit.
const SPACING: Duration = Duration::from_millis(100);

/// The log size (in pages, 16 MiB) at which the writer checkpoints by itself, four
/// times SQLite's default: under sustained writes this is what lets the log start
/// over (see above), and it also covers the application's writes through the
/// store's pool, which do not wake the task.
pub(super) const WRITER_CHECKPOINT_PAGES: &str = "4000";

/// The way to the task that checkpoints one SQLite file.
#[derive(Debug, Clone)]
pub(super) struct Checkpointer {
    wake: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Opens the connection that checkpoints and starts its task; the task ends
    /// when the last clone of this is dropped.
    pub(super) async fn start(options: &SqliteConnectOptions) -> Result<Self> {
        // A statement every 100 ms under load is not worth a log line each.
        let connection = options
            .clone()
            .disable_statement_logging()
            .connect()
            .await?;
        let (wake, woken) = mpsc::channel(1);
        tokio::spawn(checkpoint(connection, woken));
        Ok(Self { wake })
    }

    /// Says that the log has grown: the task checkpoints soon.
    pub(super) fn wrote(&self) {
        // Full means a checkpoint is due already.
        let _ = self.wake.try_send(());
    }
}

async fn checkpoint(mut connection: SqliteConnection, mut woken: mpsc::Receiver<()>) {
    let mut failing = false;
    while woken.recv().await.is_some() {
        // Passive: it copies what no reader still needs and never blocks a writer.
        match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&mut connection)
            .await
        {
            Ok(_) => failing = false,
            // Once for each run of failures: the writer's own checkpoints go on.
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, "SQLite checkpoint failed; the writer checkpoints by itself");
            }
            Err(_) => {}
        }
        tokio::time::sleep(SPACING).await;
    }
    let _ = connection.close().await;
}
