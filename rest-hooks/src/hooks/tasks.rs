//! The background tasks of one [`Hooks`](super::Hooks): the delivery engine, the
//! follower of other processes' changes, and whatever else runs beside them. They
//! share one stop signal, which [`Tasks::shutdown`] sends and waits out; when the
//! handle is dropped without it, the signal's sender goes with it and every task
//! ends by itself.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::delivery::Stop;

pub(crate) struct Tasks {
    stop: watch::Sender<Option<Instant>>,
    running: Mutex<Vec<(&'static str, JoinHandle<()>)>>,
}

impl Tasks {
    pub(crate) fn new() -> Self {
        Self {
            stop: watch::channel(None).0,
            running: Mutex::default(),
        }
    }

    /// The signal a task watches: `Some(deadline)` once it must stop, and closed
    /// when the handle is gone.
    pub(crate) fn stop_signal(&self) -> Stop {
        self.stop.subscribe()
    }

    /// Runs `task` until it ends; [`shutdown`](Self::shutdown) waits for it.
    pub(crate) fn spawn(
        &self,
        name: &'static str,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        let handle = tokio::spawn(task);
        self.running().push((name, handle));
    }

    /// Tells every task to stop within `deadline` and waits until each has ended.
    pub(crate) async fn shutdown(&self, deadline: Duration) {
        self.stop.send_replace(Some(Instant::now() + deadline));
        let running = std::mem::take(&mut *self.running());
        for (name, task) in running {
            if let Err(error) = task.await {
                tracing::error!(%error, task = name, "a background task ended abnormally");
            }
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, Vec<(&'static str, JoinHandle<()>)>> {
        // A push or a take cannot be left half-done by a panic.
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
