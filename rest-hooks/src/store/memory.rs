//! [`MemoryStore`]: hooks and the queue in the process's memory, for tests and
//! throwaway use. Nothing survives the process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use super::{Store, lease_millis, now_millis};
use crate::delivery::{Delivery, DeliveryState, Settle};
use crate::error::Result;
use crate::hook::Hook;

/// A [`Store`] in memory, with the same semantics as the SQL ones. Clones share the
/// same hooks and queue.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    hooks: BTreeMap<Uuid, Hook>,
    deliveries: BTreeMap<Uuid, Queued>,
}

#[derive(Debug)]
struct Queued {
    delivery: Delivery,
    due_at: i64,
    leased_until: Option<i64>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-changed: every
        // change below is a single insert, remove or field write.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn insert_hook(&self, hook: &Hook) -> Result<()> {
        self.state().hooks.insert(hook.id, hook.clone());
        Ok(())
    }

    async fn hook(&self, owner: &str, id: Uuid) -> Result<Option<Hook>> {
        Ok(self
            .state()
            .hooks
            .get(&id)
            .filter(|h| h.owner == owner)
            .cloned())
    }

    async fn hooks(&self, owner: &str) -> Result<Vec<Hook>> {
        Ok(self
            .state()
            .hooks
            .values()
            .filter(|h| h.owner == owner)
            .cloned()
            .collect())
    }

    async fn delete_hook(&self, owner: &str, id: Uuid) -> Result<bool> {
        let mut state = self.state();
        if state.hooks.get(&id).is_none_or(|h| h.owner != owner) {
            return Ok(false);
        }
        state.hooks.remove(&id);
        state.deliveries.retain(|_, q| q.delivery.hook_id != id);
        Ok(true)
    }

    async fn active_hooks(&self) -> Result<Vec<Hook>> {
        Ok(self
            .state()
            .hooks
            .values()
            .filter(|h| h.active)
            .cloned()
            .collect())
    }

    async fn enqueue(&self, deliveries: &[Delivery]) -> Result<()> {
        let now = now_millis();
        let mut state = self.state();
        for delivery in deliveries {
            let queued = Queued {
                delivery: delivery.clone(),
                due_at: now,
                leased_until: None,
            };
            state.deliveries.insert(delivery.id, queued);
        }
        Ok(())
    }

    async fn lease(&self, limit: usize, lease: Duration) -> Result<Vec<Delivery>> {
        let now = now_millis();
        let until = now.saturating_add(lease_millis(lease));
        let mut state = self.state();
        let mut due: Vec<&mut Queued> = state
            .deliveries
            .values_mut()
            .filter(|q| {
                q.delivery.state == DeliveryState::Pending
                    && q.due_at <= now
                    && q.leased_until.is_none_or(|t| t <= now)
            })
            .collect();
        due.sort_by_key(|q| q.due_at);
        Ok(due
            .into_iter()
            .take(limit)
            .map(|q| {
                q.leased_until = Some(until);
                q.delivery.clone()
            })
            .collect())
    }

    async fn settle(&self, id: Uuid, outcome: Settle) -> Result<()> {
        if let Some(queued) = self.state().deliveries.get_mut(&id) {
            queued.delivery.attempts += 1;
            queued.leased_until = None;
            queued.delivery.state = outcome.state();
        }
        Ok(())
    }

    async fn delivery(&self, id: Uuid) -> Result<Option<Delivery>> {
        Ok(self.state().deliveries.get(&id).map(|q| q.delivery.clone()))
    }
}
