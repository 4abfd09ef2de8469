//! The health of one process's hooks, for load balancers and operators: whether
//! the store answers, how deep the queue is, and whether the delivery engine runs.

use serde::Serialize;

use super::Hooks;
use crate::clock::now_millis;
use crate::store::QueueDepth;

/// What [`Hooks::health`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    /// Whether the store answered.
    pub store_reachable: bool,
    /// Whether this process's delivery engine runs; `None` when this process
    /// delivers nothing (`concurrency(0)`).
    pub engine_running: Option<bool>,
    /// The queue, when the store answered.
    pub queue: Option<QueueDepth>,
    /// How long the oldest due delivery has waited, in milliseconds.
    pub oldest_due_age_ms: Option<u64>,
}

impl Health {
    /// Whether to send this process traffic: the store answers, and the engine,
    /// if it has one, runs.
    pub fn is_healthy(&self) -> bool {
        self.store_reachable && self.engine_running != Some(false)
    }
}

impl Hooks {
    /// The health of these hooks now, also set as `metrics` gauges:
    /// `rest_hooks_queue_deliveries{state = "due" | "leased" | "held" | "failed"}`
    /// and `rest_hooks_queue_oldest_due_seconds`.
    pub async fn health(&self) -> Health {
        let now = now_millis();
        let queue = match self.inner.store.queue_depth(now).await {
            Ok(queue) => Some(queue),
            Err(error) => {
                tracing::warn!(%error, "the store did not answer a health check");
                None
            }
        };
        let oldest_due_age_ms = queue
            .and_then(|q| q.oldest_due_at)
            .map(|due| u64::try_from(now.saturating_sub(due)).unwrap_or(0));
        if let Some(queue) = queue {
            for (state, count) in [
                ("due", queue.due),
                ("leased", queue.leased),
                ("held", queue.held),
                ("failed", queue.failed),
            ] {
                metrics::gauge!("rest_hooks_queue_deliveries", "state" => state).set(count as f64);
            }
            let age = oldest_due_age_ms.unwrap_or(0) as f64 / 1000.0;
            metrics::gauge!("rest_hooks_queue_oldest_due_seconds").set(age);
        }
        Health {
            store_reachable: queue.is_some(),
            engine_running: self.inner.tasks.is_running("delivery engine"),
            queue,
            oldest_due_age_ms,
        }
    }
}
