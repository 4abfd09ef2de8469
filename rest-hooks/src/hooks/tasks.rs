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
    running: Mutex<Vec<Task>>,
}

/// A task started, by name; its handle until `shutdown` waits for it.
struct Task {
    name: &'static str,
    handle: Option<JoinHandle<()>>,
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
        let handle = Some(tokio::spawn(task));
        self.running().push(Task { name, handle });
    }

    /// Whether the task called `name` still runs; `None` when none was started.
    pub(crate) fn is_running(&self, name: &str) -> Option<bool> {
        let running = self.running();
        let mut named = running.iter().filter(|t| t.name == name).peekable();
        named.peek()?;
        Some(named.any(|t| t.handle.as_ref().is_some_and(|h| !h.is_finished())))
    }

    /// Tells every task to stop within `deadline` and waits until each has ended.
    pub(crate) async fn shutdown(&self, deadline: Duration) {
        self.stop.send_replace(Some(Instant::now() + deadline));
        let handles: Vec<(&'static str, JoinHandle<()>)> = self
            .running()
            .iter_mut()
            .filter_map(|t| Some((t.name, t.handle.take()?)))
            .collect();
        for (name, handle) in handles {
            if let Err(error) = handle.await {
                tracing::error!(%error, task = name, "a background task ended abnormally");
            }
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, Vec<Task>> {
        // A push or a take cannot be left half-done by a panic.
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
