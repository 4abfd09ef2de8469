//! The delivery engine of one process: a dispatcher that leases due deliveries
//! whenever it has room, a task per attempt, and a recorder that writes outcomes
//! in batches and tells the in-memory index and the observers.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, mpsc, watch};
use tokio::task::{Id, JoinSet};
use tokio::time::Instant;
use tracing::Instrument;
use uuid::Uuid;

use crate::backoff::Backoff;
use crate::delivery::retry::RetrySchedule;
use crate::delivery::{
    Attempt, AttemptResult, Deliverer, Delivery, HookChange, Next, Outgoing, Recorded, Sent,
};
use crate::index::SharedIndex;
use crate::store::{Disable, Store};

/// How the engine takes work from the queue.
#[derive(Debug, Clone)]
pub(crate) struct EngineConfig {
    /// Attempts in flight at once in this process; 0 runs no engine.
    pub concurrency: usize,
    /// How often an idle dispatcher looks for deliveries it was not woken for
    /// (written by another process, by a committed transaction, or due for retry).
    pub poll_interval: Duration,
    /// How long a leased delivery stays taken before it is due again.
    pub lease: Duration,
    /// How many leased deliveries wait for a permit at most; one lease takes up to
    /// this many.
    pub batch: usize,
    /// When failed deliveries are attempted again.
    pub schedule: RetrySchedule,
    /// How long every delivery of a hook may fail before the hook is disabled.
    pub disable_after: Duration,
}

/// What an attempt's outcome tells observers.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The delivery, as it was leased.
    pub delivery: Delivery,
    /// The attempt.
    pub attempt: Attempt,
    /// What follows it.
    pub next: Next,
}

/// Under load, how long the engine waits after one write before the next of its
/// kind: a lease after a lease that emptied the queue, a record after a record.
/// What arrives meanwhile is then written together, instead of a write each for the
/// few deliveries queued or attempted in the last round, which a single writer
/// (SQLite) would spend its time on instead of queueing. An idle engine writes at
/// once.
const LINGER: Duration = Duration::from_millis(5);

/// The stop signal: `Some(deadline)` stops leasing; attempts still running at the
/// deadline are abandoned and their deliveries given back to the queue.
pub(crate) type Stop = watch::Receiver<Option<Instant>>;

pub(crate) struct Engine {
    pub store: Arc<dyn Store>,
    pub deliverer: Arc<dyn Deliverer>,
    pub index: Arc<SharedIndex>,
    pub observers: broadcast::Sender<Outcome>,
    pub wake: Arc<tokio::sync::Notify>,
    pub config: EngineConfig,
}

struct Done {
    delivery: Delivery,
    recorded: Recorded,
    /// When its lease ends, at the earliest: after that, another worker may have
    /// the delivery.
    lease_ends: Instant,
}

impl Engine {
    pub(crate) async fn run(self: Arc<Self>, mut stop: Stop) {
        let permits = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        // Bounded, and sent to while the attempt still holds its permit: when the
        // store records slower than targets answer, attempts wait instead of piling
        // outcomes up in memory.
        let (done, outcomes) = mpsc::channel(self.config.concurrency.max(1) * 4);
        let recorder = tokio::spawn(Arc::clone(&self).record(outcomes, stop.clone()));
        let mut attempts = JoinSet::new();
        let mut leased: HashMap<Id, Uuid> = HashMap::new();

        // Leased deliveries wait here for a permit. The buffer is topped up when it
        // falls to half, so that leases come in batches rather than one at a time,
        // and it holds no more than `batch` (the concurrency, by default), so that
        // nothing waits in it for longer than a round of attempts.
        let mut buffer: VecDeque<(Outgoing, Instant)> = VecDeque::new();
        let low_water = self.config.batch / 2;
        // A store that fails (a lost database, say) is asked again after waits that
        // grow, whatever wakes the engine meanwhile.
        let mut backoff = Backoff::new(Duration::from_secs(30));
        // When the last lease found fewer due deliveries than it asked for.
        let mut drained_at: Option<Instant> = None;
        while stop.borrow().is_none() {
            // A finished task keeps its memory until it is joined.
            while let Some(finished) = attempts.try_join_next_with_id() {
                forget(&mut leased, finished);
            }
            let held_until = drained_at
                .map(|at| at + LINGER)
                .filter(|until| !attempts.is_empty() && *until > Instant::now());
            let mut leased_some = false;
            let mut store_failed = None;
            if buffer.len() <= low_water && held_until.is_none() {
                let lease_ends = Instant::now() + self.config.lease;
                let wanted = self.config.batch - buffer.len();
                match self.store.lease(wanted, self.config.lease).await {
                    Ok(batch) => {
                        backoff.reset();
                        leased_some = !batch.is_empty();
                        drained_at = (batch.len() < wanted).then(Instant::now);
                        buffer.extend(batch.into_iter().map(|o| (o, lease_ends)));
                    }
                    Err(error) => {
                        let wait = backoff.next_wait();
                        tracing::warn!(%error, ?wait, "could not lease deliveries");
                        store_failed = Some(wait);
                    }
                }
            }
            while !buffer.is_empty() {
                let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                    break;
                };
                let Some((outgoing, lease_ends)) = buffer.pop_front() else {
                    break;
                };
                let id = outgoing.delivery.id;
                let task = attempts.spawn(Arc::clone(&self).attempt(
                    outgoing,
                    lease_ends,
                    permit,
                    done.clone(),
                ));
                leased.insert(task.id(), id);
            }
            if let Some(wait) = store_failed {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    changed = stop.changed() => if changed.is_err() { break },
                }
                continue;
            }
            if leased_some && buffer.len() <= low_water && drained_at.is_none() {
                // More may be due at once.
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep_until(held_until.unwrap_or_else(Instant::now)), if held_until.is_some() => {}
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.config.poll_interval) => {}
                Some(finished) = attempts.join_next_with_id(), if !attempts.is_empty() => {
                    forget(&mut leased, finished);
                }
                changed = stop.changed() => if changed.is_err() { break },
            }
        }

        // Stopping: let the attempts under way finish until the deadline.
        let deadline = stop.borrow().unwrap_or_else(Instant::now);
        while !attempts.is_empty() {
            match tokio::time::timeout_at(deadline, attempts.join_next_with_id()).await {
                Ok(Some(finished)) => forget(&mut leased, finished),
                Ok(None) => break,
                Err(_) => {
                    attempts.abort_all();
                    while let Some(finished) = attempts.join_next_with_id().await {
                        forget(&mut leased, finished);
                    }
                }
            }
        }
        // What was abandoned or never started goes back to the queue, due at once
        // for the next start.
        let abandoned: Vec<Uuid> = leased
            .into_values()
            .chain(buffer.iter().map(|(o, _)| o.delivery.id))
            .collect();
        if let Err(error) = self.store.release(&abandoned).await {
            tracing::warn!(%error, "could not give back abandoned deliveries; their leases will expire");
        }
        drop(done);
        if let Err(error) = recorder.await {
            tracing::error!(%error, "the delivery recorder ended abnormally");
        }
    }

    async fn attempt(
        self: Arc<Self>,
        outgoing: Outgoing,
        lease_ends: Instant,
        _permit: OwnedSemaphorePermit,
        done: mpsc::Sender<Done>,
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
            let next = self.next(&sent, delivery.attempts + 1);
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

    /// What follows attempt number `attempt` that got `sent`.
    fn next(&self, sent: &Sent, attempt: u32) -> Next {
        match sent.result {
            ref result if result.is_success() => Next::Delivered,
            AttemptResult::Status(410) => Next::HookGone,
            ref result => {
                let retry_after = match result {
                    AttemptResult::Status(429 | 503) => sent.retry_after,
                    _ => None,
                };
                let random =
                    getrandom::u64().map_or(0.5, |r| (r >> 11) as f64 / (1u64 << 53) as f64);
                match self
                    .config
                    .schedule
                    .next_delay(attempt, retry_after, random)
                {
                    Some(delay) => Next::RetryAt(OffsetDateTime::now_utc() + delay),
                    None => Next::Failed,
                }
            }
        }
    }

    /// Writes outcomes in batches: whatever has arrived while the last batch was
    /// being written goes in the next one.
    async fn record(self: Arc<Self>, mut outcomes: mpsc::Receiver<Done>, stop: Stop) {
        const MOST: usize = 1000;
        let mut batch = Vec::new();
        let mut last_recorded: Option<Instant> = None;
        while outcomes.recv_many(&mut batch, MOST).await > 0 {
            if let Some(until) = last_recorded.map(|at| at + LINGER) {
                while batch.len() < MOST {
                    let room = MOST - batch.len();
                    tokio::select! {
                        received = outcomes.recv_many(&mut batch, room) => if received == 0 { break },
                        () = tokio::time::sleep_until(until) => break,
                    }
                }
            }
            last_recorded = Some(Instant::now());
            // Trying again is worth it until a lease ends (another worker may have
            // the delivery then) or, when stopping, until the deadline.
            let mut give_up = batch
                .iter()
                .map(|done: &Done| done.lease_ends)
                .min()
                .unwrap_or_else(Instant::now);
            if let Some(deadline) = *stop.borrow() {
                give_up = give_up.min(deadline);
            }
            let (deliveries, recorded): (Vec<Delivery>, Vec<Recorded>) = batch
                .drain(..)
                .map(|done| (done.delivery, done.recorded))
                .unzip();
            // Unrecorded, the leases expire and these deliveries are attempted again.
            let Some(changes) = self.record_batch(&recorded, give_up).await else {
                continue;
            };
            self.follow(&changes);
            if self.observers.receiver_count() > 0 {
                for (delivery, Recorded { attempt, next }) in deliveries.into_iter().zip(recorded) {
                    // A receiver that lags loses the oldest outcomes, by design.
                    let _ = self.observers.send(Outcome {
                        delivery,
                        attempt,
                        next,
                    });
                }
            }
        }
    }

    /// Records a batch, trying again while the store fails until `give_up`; after
    /// that the deliveries are due again, and another attempt is recorded instead.
    async fn record_batch(
        &self,
        recorded: &[Recorded],
        give_up: Instant,
    ) -> Option<Vec<HookChange>> {
        let disable = Disable {
            after: self.config.disable_after,
        };
        let mut backoff = Backoff::new(Duration::from_secs(5));
        loop {
            match self.store.record(recorded, &disable).await {
                Ok(changes) => return Some(changes),
                Err(error) => {
                    let wait = backoff.next_wait();
                    if Instant::now() + wait >= give_up {
                        tracing::warn!(%error, count = recorded.len(), "could not record delivery outcomes; they will be attempted again");
                        return None;
                    }
                    tracing::warn!(%error, ?wait, "could not record delivery outcomes yet");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Keeps the in-memory index in step with hooks that recording disabled or
    /// deleted.
    fn follow(&self, changes: &[HookChange]) {
        for change in changes {
            let (HookChange::Disabled(id) | HookChange::Deleted(id)) = change;
            self.index.remove(*id);
        }
    }
}

fn forget(leased: &mut HashMap<Id, Uuid>, finished: Result<(Id, ()), tokio::task::JoinError>) {
    let id = match finished {
        Ok((id, ())) => id,
        Err(error) => {
            if error.is_panic() {
                tracing::error!(%error, "a delivery attempt panicked");
            }
            // An aborted attempt stays in `leased`: it is given back.
            if error.is_cancelled() {
                return;
            }
            error.id()
        }
    };
    leased.remove(&id);
}

/// Counters and a latency histogram through `metrics`.
fn report(result: &AttemptResult, next: Next, elapsed: Duration) {
    let outcome = match next {
        Next::Delivered => "delivered",
        Next::RetryAt(_) => "retry",
        Next::Failed => "failed",
        Next::HookGone => "gone",
    };
    metrics::counter!("rest_hooks_attempts_total", "outcome" => outcome).increment(1);
    metrics::histogram!("rest_hooks_attempt_seconds").record(elapsed.as_secs_f64());
    match next {
        Next::Delivered => tracing::debug!(?result, ?elapsed, "delivered"),
        _ => tracing::info!(?result, ?elapsed, outcome, "not delivered"),
    }
}
