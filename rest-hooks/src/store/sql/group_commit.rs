//! Group commit for the SQL stores: deliveries queued while the store is busy
//! writing are written together, by one task, in one commit.
//!
//! A commit costs the same whether it holds one event's deliveries or many:
//! SQLite writes every page it touched to its log again, PostgreSQL waits for its
//! log to reach the disk. Events fired at once by concurrent request handlers then
//! share commits, and each caller still returns only once its own deliveries are
//! committed (or have failed).

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::queue::Delivery;
use crate::store::StoreError;

/// Writes deliveries, due at once, all or none.
#[async_trait]
pub(crate) trait WriteQueued: Send + Sync + 'static {
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

/// How many `enqueue` calls one commit takes at most.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MaxCalls(pub(crate) usize);

impl GroupCommit {
    /// Starts the task that writes with `writer`, `most` calls a commit at most;
    /// it ends when the last clone of this is dropped.
    pub(crate) fn start(writer: impl WriteQueued, most: MaxCalls) -> Self {
        let most = most.0.max(1);
        let (calls, waiting) = mpsc::channel(most);
        tokio::spawn(write_calls(writer, waiting, most));
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
async fn write_calls(writer: impl WriteQueued, mut waiting: mpsc::Receiver<Call>, most: usize) {
    let mut calls = Vec::with_capacity(most);
    while waiting.recv_many(&mut calls, most).await > 0 {
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
            // The store is out of reach (or there is one caller): every caller
            // gets the error now, instead of each waiting out its own attempt.
            Err(error) if callers.len() == 1 || !refused_rows(&error) => {
                let shared = match error {
                    Error::Store(source) => source,
                    other => StoreError::new(other),
                };
                for (_, done) in callers {
                    let _ = done.send(Err(Error::Store(shared.clone())));
                }
            }
            // The database refused the rows, which may be one caller's (a delivery
            // queued already, say): each is written alone, so that each caller gets
            // its own result.
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

/// Whether the database answered and refused the statement, rather than not being
/// reached (no connection, a timeout, a lost link).
fn refused_rows(error: &Error) -> bool {
    match error {
        Error::Store(source) => source
            .downcast_ref::<sqlx::Error>()
            .is_some_and(|e| matches!(e, sqlx::Error::Database(_))),
        _ => false,
    }
}

fn stopped() -> Error {
    Error::Store(StoreError::message(
        "the task that writes queued deliveries has stopped (was its runtime shut down?)",
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::Semaphore;

    use super::*;

    /// A store out of reach: every write fails, and the first one waits until the
    /// test lets it go.
    #[derive(Clone)]
    struct Unreachable {
        writes: Arc<AtomicUsize>,
        gate: Arc<Semaphore>,
    }

    #[async_trait]
    impl WriteQueued for Unreachable {
        async fn write_queued(&self, _: &[Delivery]) -> Result<()> {
            if self.writes.fetch_add(1, Ordering::SeqCst) == 0 {
                let _ = self.gate.acquire().await;
            }
            Err(Error::Store(StoreError::message("connection refused")))
        }
    }

    fn delivery() -> Delivery {
        let hook = crate::hook::test_hook("ann", "book.added");
        Delivery::new(&hook, b"{}".to_vec())
    }

    #[tokio::test]
    async fn calls_waiting_on_an_unreachable_store_fail_together() {
        let writer = Unreachable {
            writes: Arc::new(AtomicUsize::new(0)),
            gate: Arc::new(Semaphore::new(0)),
        };
        const MOST: usize = 64;
        let queue = GroupCommit::start(writer.clone(), MaxCalls(MOST));
        let first = tokio::spawn({
            let queue = queue.clone();
            async move { queue.enqueue(vec![delivery()]).await }
        });
        while writer.writes.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // Five more wait while the first write hangs; then the store answers.
        let waiting: Vec<_> = (0..5)
            .map(|_| {
                let queue = queue.clone();
                tokio::spawn(async move { queue.enqueue(vec![delivery()]).await })
            })
            .collect();
        while queue.calls.capacity() > MOST - 5 {
            tokio::task::yield_now().await;
        }
        writer.gate.add_permits(1);

        assert!(first.await.unwrap().is_err());
        for call in waiting {
            let Err(Error::Store(error)) = call.await.unwrap() else {
                panic!("a waiting call did not get the store's error");
            };
            assert!(error.to_string().contains("connection refused"), "{error}");
        }
        // One write for the first call, one for the five together: none each.
        assert_eq!(writer.writes.load(Ordering::SeqCst), 2);
    }
}
