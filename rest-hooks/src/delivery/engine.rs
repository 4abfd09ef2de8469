//! The delivery engine of one process: the [dispatcher](super::dispatcher) leases
//! due deliveries whenever its workers run short and they attempt them, and the
//! [recorder](super::recorder) writes their outcomes in batches.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{Notify, broadcast, mpsc, watch};
use tokio::time::Instant;
use tracing::Instrument;

use super::Deliverer;
use super::outcome::report;
use super::retry::{RetrySchedule, decide};
use crate::index::SharedIndex;
use crate::queue::{Attempt, Delivery, Outcome, Outgoing, Recorded};
use crate::store::Store;

/// How the engine takes work from the queue.
#[derive(Debug, Clone)]
pub(crate) struct EngineConfig {
    /// Attempts in flight at once in this process; 0 runs no engine.
    pub(crate) concurrency: usize,
    /// How often an idle dispatcher looks for deliveries it was not woken for
    /// (written by another process, by a committed transaction, or due for retry).
    pub(crate) poll_interval: Duration,
    /// How long a leased delivery stays taken before it is due again.
    pub(crate) lease: Duration,
    /// How many leased deliveries wait for a permit at most; one lease takes up to
    /// this many.
    pub(crate) batch: usize,
    /// When failed deliveries are attempted again.
    pub(crate) schedule: RetrySchedule,
    /// How long every delivery of a hook may fail before the hook is disabled.
    pub(crate) disable_after: Duration,
}

/// Under load, how long the engine waits after one write before the next of its
/// kind: a lease after a lease that emptied the queue, a record after a record.
/// What arrives meanwhile is then written together, instead of a write each for the
/// few deliveries queued or attempted in the last round, which a single writer
/// (SQLite) would spend its time on instead of queueing. An idle engine writes at
/// once.
pub(super) const LINGER: Duration = Duration::from_millis(5);

/// The stop signal: `Some(deadline)` stops leasing; attempts still running at the
/// deadline are abandoned and their deliveries given back to the queue.
pub(crate) type Stop = watch::Receiver<Option<Instant>>;

/// What the dispatcher, the attempts and the recorder share.
pub(crate) struct Engine {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) deliverer: Arc<dyn Deliverer>,
    pub(crate) index: Arc<SharedIndex>,
    pub(crate) observers: broadcast::Sender<Outcome>,
    pub(crate) wake: Arc<Notify>,
    pub(crate) config: EngineConfig,
}

/// An attempt made, on its way to the recorder.
pub(super) struct Done {
    pub(super) delivery: Delivery,
    pub(super) recorded: Recorded,
    /// When its lease ends, at the earliest: after that, another worker may have
    /// the delivery.
    pub(super) lease_ends: Instant,
}

impl Engine {
    /// Runs until stopped: dispatches attempts, and records their outcomes until
    /// the last one is written.
    pub(crate) async fn run(self: Arc<Self>, stop: Stop) {
        // Bounded, and sent to before the worker takes its next delivery: when the
        // store records slower than targets answer, workers wait instead of piling
        // outcomes up in memory.
        let (done, outcomes) = mpsc::channel(self.config.concurrency.max(1) * 4);
        let recorder = tokio::spawn(Arc::clone(&self).record(outcomes, stop.clone()));
        Arc::clone(&self).dispatch(stop, done).await;
        if let Err(error) = recorder.await {
            tracing::error!(%error, "the delivery recorder ended abnormally");
        }
    }

    /// Attempts one leased delivery and hands the outcome to the recorder.
    pub(super) async fn attempt(
        &self,
        outgoing: Outgoing,
        lease_ends: Instant,
        done: &mpsc::Sender<Done>,
    ) {
        let span = {
            let d = &outgoing.delivery;
            tracing::info_span!("delivery", id = %d.id, hook = %d.hook_id, event = %d.event)
        };
        async {
            let attempted_at = OffsetDateTime::now_utc();
            let started = Instant::now();
            let sent = self.deliverer.deliver(&outgoing).await;
            let elapsed = started.elapsed();
            let delivery = outgoing.delivery;
            let next = decide(
                &self.config.schedule,
                &sent,
                delivery.attempts + 1,
                OffsetDateTime::now_utc(),
                || getrandom::u64().map_or(0.5, |r| (r >> 11) as f64 / (1u64 << 53) as f64),
            );
            report(&sent.result, next, elapsed);
            let attempt = Attempt {
                delivery_id: delivery.id,
                hook_id: delivery.hook_id,
                attempted_at,
                result: sent.result,
                duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
                response_body: sent.response_body,
            };
            // The recorder outlives every attempt; if it were gone, the lease would
            // expire and the delivery be attempted again.
            let _ = done
                .send(Done {
                    delivery,
                    recorded: Recorded { attempt, next },
                    lease_ends,
                })
                .await;
        }
        .instrument(span)
        .await;
    }
}
