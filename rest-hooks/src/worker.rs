//! The delivery workers: tokio tasks that lease due deliveries from the store, hand
//! each to the [`Deliverer`], and record the outcome.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::deliverer::Deliverer;
use crate::delivery::Delivery;
use crate::store::Store;

/// How workers take work from the queue.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WorkerConfig {
    /// How often an idle worker looks for due deliveries it was not woken for
    /// (written by another process, or by a transaction it did not see commit).
    pub poll_interval: Duration,
    /// How long a leased delivery stays taken before it is due again.
    pub lease: Duration,
    /// How many deliveries one lease takes at most.
    pub batch: usize,
}

pub(crate) struct Worker {
    pub store: Arc<dyn Store>,
    pub deliverer: Arc<dyn Deliverer>,
    pub wake: Arc<Notify>,
    pub stop: watch::Receiver<bool>,
    pub config: WorkerConfig,
}

impl Worker {
    pub(crate) async fn run(mut self) {
        loop {
            self.drain().await;
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.config.poll_interval) => {}
                // Stopped, or every `Hooks` handle is gone.
                _ = self.stop.changed() => return,
            }
        }
    }

    /// Delivers batches until none is due.
    async fn drain(&mut self) {
        while !*self.stop.borrow() {
            match self.store.lease(self.config.batch, self.config.lease).await {
                Ok(batch) if batch.is_empty() => return,
                Ok(batch) => self.deliver(batch).await,
                Err(error) => {
                    tracing::warn!(%error, "could not lease deliveries");
                    return;
                }
            }
        }
    }

    async fn deliver(&self, batch: Vec<Delivery>) {
        let mut attempts = JoinSet::new();
        for delivery in batch {
            let store = Arc::clone(&self.store);
            let deliverer = Arc::clone(&self.deliverer);
            attempts.spawn(async move {
                let outcome = deliverer.deliver(&delivery).await;
                if let Err(error) = store.settle(delivery.id, outcome).await {
                    // The lease runs out and the delivery is attempted again.
                    tracing::warn!(delivery = %delivery.id, %error, "could not record a delivery's outcome");
                }
            });
        }
        while attempts.join_next().await.is_some() {}
    }
}
