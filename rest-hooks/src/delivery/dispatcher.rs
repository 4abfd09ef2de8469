//! The dispatcher: leases due deliveries whenever there is room for more attempts,
//! starts an attempt task for each, and on stopping gives back what it could not
//! finish.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::{Id, JoinSet};
use tokio::time::Instant;
use uuid::Uuid;

use super::engine::{Done, Engine, LINGER, Stop};
use crate::backoff::Backoff;
use crate::queue::Outgoing;

impl Engine {
    /// Leases and attempts deliveries until stopped; then lets the attempts under
    /// way finish until the deadline and gives back what is left.
    pub(super) async fn dispatch(self: Arc<Self>, mut stop: Stop, done: mpsc::Sender<Done>) {
        let permits = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
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
