//! SQLite checkpoints on a connection of their own, so that the store's one writer
//! never waits for them.
//!
//! In WAL mode a commit appends pages to the log, and a checkpoint copies them back
//! into the database file and waits for two fsyncs. By default the connection that
//! commits does it, each time the log passes 1,000 pages, and every write queued
//! behind it waits too: under load that was a fifth of the time. A passive
//! checkpoint from another connection runs beside the writer instead.

use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::mpsc;

use crate::error::Result;

/// The least time between two checkpoints: about as often as SQLite's own, under
/// load, without a checkpoint after every commit.
const SPACING: Duration = Duration::from_millis(100);

/// The log size (in pages) at which the writer still checkpoints by itself: only
/// when this task falls behind, or the application writes through the store's
/// pool without the store knowing.
pub(super) const WRITER_CHECKPOINT_PAGES: &str = "16000";

/// The way to the task that checkpoints one SQLite file.
#[derive(Debug, Clone)]
pub(super) struct Checkpointer {
    wake: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Opens the connection that checkpoints and starts its task; the task ends
    /// when the last clone of this is dropped.
    pub(super) async fn start(options: &SqliteConnectOptions) -> Result<Self> {
        let connection = options.connect().await?;
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
    while woken.recv().await.is_some() {
        // Passive: it copies what no reader still needs and never blocks a writer.
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&mut connection)
            .await
        {
            tracing::warn!(%error, "SQLite checkpoint failed; the writer checkpoints by itself");
        }
        tokio::time::sleep(SPACING).await;
    }
    let _ = connection.close().await;
}
