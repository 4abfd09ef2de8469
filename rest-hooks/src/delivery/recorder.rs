//! The recorder: writes the outcomes of attempts in batches, tells the in-memory
//! index which hooks recording disabled or deleted, and tells the observers.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::engine::{Done, Engine, LINGER, Stop};
use crate::backoff::Backoff;
use crate::queue::{Delivery, HookChange, Outcome, Recorded};
use crate::store::Disable;

impl Engine {
    /// Writes outcomes in batches: whatever has arrived while the last batch was
    /// being written goes in the next one.
    pub(super) async fn record(self: Arc<Self>, mut outcomes: mpsc::Receiver<Done>, stop: Stop) {
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
            self.follow(&changes).await;
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
    /// deleted. A disabled hook stays in it, to hold its events: as the store has
    /// it now.
    async fn follow(&self, changes: &[HookChange]) {
        for change in changes {
            match *change {
                HookChange::Deleted(id) => self.index.delete(id),
                HookChange::Disabled(id) => match self.store.get_hook_by_id(id).await {
                    Ok(Some(hook)) => self.index.put(hook),
                    Ok(None) => self.index.delete(id),
                    Err(error) => {
                        tracing::warn!(%error, hook = %id, "could not read a disabled hook; its events are not held until it is indexed again");
                        self.index.remove(id);
                    }
                },
            }
        }
    }
}
