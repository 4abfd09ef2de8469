//! Group commit for the SQL stores: deliveries queued while the store is busy
//! writing are written together, by one task, in one statement.
//!
//! A commit costs the same whether it holds one event's deliveries or many:
//! SQLite writes every page it touched to its log again, PostgreSQL waits for its
//! log to reach the disk. Events fired at once by concurrent request handlers then
//! share commits, and each caller still returns only once its own deliveries are
//! committed (or have failed).

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::delivery::Delivery;
use crate::error::{Error, Result};

/// How many `enqueue` calls one commit takes at most.
const MAX_CALLS: usize = 64;

/// Writes deliveries, due at once, all or none.
#[async_trait]
pub(crate) trait WriteQueued: Clone + Send + Sync + 'static {
    async fn write_queued(&self, deliveries: &[Delivery]) -> Result<()>;
}

/// One caller's deliveries, and where its result goes.
struct Call {
    deliveries: Vec<Delivery>,
    done: oneshot::Sender<Result<()>>,
}

/// The way to the task that writes queued deliveries for one store.
#[derive(Debug, Clone)]
pub(crate) struct GroupCommit {
    calls: mpsc::Sender<Call>,
}

impl GroupCommit {
    /// Starts the task that writes with `writer`; it ends when the last clone of
    /// this is dropped.
    pub(crate) fn start(writer: impl WriteQueued) -> Self {
        let (calls, waiting) = mpsc::channel(MAX_CALLS);
        tokio::spawn(write_calls(writer, waiting));
        Self { calls }
    }

    /// Queues `deliveries`, all or none, and returns once they are committed.
    ///
    /// A caller that stops waiting does not take its deliveries back: they are
    /// written all the same, as a statement already sent would be.
    pub(crate) async fn enqueue(&self, deliveries: Vec<Delivery>) -> Result<()> {
        let (done, result) = oneshot::channel();
        self.calls
            .send(Call { deliveries, done })
            .await
            .map_err(|_| stopped())?;
        result.await.map_err(|_| stopped())?
    }
}

/// Takes whatever calls are waiting and writes their deliveries in one go.
async fn write_calls(writer: impl WriteQueued, mut waiting: mpsc::Receiver<Call>) {
    let mut calls = Vec::with_capacity(MAX_CALLS);
    while waiting.recv_many(&mut calls, MAX_CALLS).await > 0 {
        let mut all = Vec::with_capacity(calls.iter().map(|c| c.deliveries.len()).sum());
        let mut callers = Vec::with_capacity(calls.len());
        for call in calls.drain(..) {
            callers.push((call.deliveries.len(), call.done));
            all.extend(call.deliveries);
        }
        match writer.write_queued(&all).await {
            Ok(()) => {
                for (_, done) in callers {
                    let _ = done.send(Ok(()));
                }
            }
            Err(error) if callers.len() == 1 => {
                if let Some((_, done)) = callers.pop() {
                    let _ = done.send(Err(error));
                }
            }
            // What failed may be one caller's deliveries: each is written alone,
            // so that each caller gets its own result.
            Err(_) => {
                let mut start = 0;
                for (count, done) in callers {
                    let result = writer.write_queued(&all[start..start + count]).await;
                    start += count;
                    let _ = done.send(result);
                }
            }
        }
    }
}

fn stopped() -> Error {
    Error::Store(
        "the task that writes queued deliveries has stopped (was its runtime shut down?)".into(),
    )
}
