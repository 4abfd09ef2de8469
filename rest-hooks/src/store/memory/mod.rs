//! [`MemoryStore`]: hooks and the queue in the process's memory, for tests and
//! throwaway use. Nothing survives the process.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

mod state;

use super::queue_rules::{HeldDeliveries, Leased, RecordPlan, fired_before};
use super::{Claim, Disable, Purged, QueueDepth, Store, StoreError};
use crate::clock::{duration_millis, millis, now_millis};
use crate::error::{Error, Result};
use crate::hook::{Hook, HookPatch};
use crate::queue::{
    Attempt, Delivery, DeliveryFilter, DeliveryState, HookChange, Outgoing, Recorded,
};
use state::{Queued, State};

/// A [`Store`] in memory, with the same semantics as the SQL ones. Clones share the
/// same hooks and queue.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
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
    async fn insert_hook(&self, hook: &Hook, quota: usize) -> Result<()> {
        self.state().insert_hook(hook, quota)
    }

    async fn insert_hook_once(
        &self,
        hook: &Hook,
        quota: usize,
        key: &str,
        request: &str,
        since: i64,
    ) -> Result<Claim> {
        let mut state = self.state();
        let slot = (hook.owner.clone(), key.to_owned());
        if let Some((taken, hook_id, at)) = state.keys.get(&slot)
            && *at >= since
        {
            return Ok(Claim::Taken {
                request: taken.clone(),
                hook_id: *hook_id,
            });
        }
        state.insert_hook(hook, quota)?;
        state
            .keys
            .insert(slot, (request.to_owned(), hook.id, now_millis()));
        Ok(Claim::Inserted)
    }

    async fn get_hook(&self, owner: &str, id: Uuid) -> Result<Option<Hook>> {
        Ok(self.state().owned_hook(owner, id).map(|s| s.hook.clone()))
    }

    async fn get_hook_by_id(&self, id: Uuid) -> Result<Option<Hook>> {
        Ok(self.state().hooks.get(&id).map(|s| s.hook.clone()))
    }

    async fn list_hooks(
        &self,
        owner: &str,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Hook>> {
        let state = self.state();
        let after = after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        Ok(state
            .hooks
            .range((after, std::ops::Bound::Unbounded))
            .map(|(_, s)| &s.hook)
            .filter(|hook| hook.owner == owner)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn list_fired_hooks(&self) -> Result<Vec<Hook>> {
        let state = self.state();
        Ok(state
            .hooks
            .values()
            .filter(|s| s.hook.is_fired_to())
            .map(|s| s.hook.clone())
            .collect())
    }

    async fn update_hook(&self, owner: &str, id: Uuid, patch: &HookPatch) -> Result<Option<Hook>> {
        let mut state = self.state();
        let Some(stored) = state.owned_hook(owner, id) else {
            return Ok(None);
        };
        let held = HeldDeliveries::after(&stored.hook, patch);
        if patch.enables(&stored.hook) {
            stored.failing_since = None;
        }
        stored.hook = patch.apply(&stored.hook);
        let hook = stored.hook.clone();
        match held {
            HeldDeliveries::Keep => {}
            HeldDeliveries::Hold => {
                let pending = state.deliveries_in(id, DeliveryState::Pending);
                state.set_state(&pending, DeliveryState::Held);
            }
            HeldDeliveries::Release => {
                for held in state.deliveries_in(id, DeliveryState::Held) {
                    if let Some(q) = state.deliveries.get_mut(&held) {
                        q.delivery.state = DeliveryState::Pending;
                        let fired = millis(q.delivery.created_at);
                        state.requeue(held, fired);
                    }
                }
            }
            HeldDeliveries::Discard => {
                let held = state.deliveries_in(id, DeliveryState::Held);
                state.set_state(&held, DeliveryState::Discarded);
            }
        }
        Ok(Some(hook))
    }

    async fn delete_hook(&self, owner: &str, id: Uuid) -> Result<bool> {
        let mut state = self.state();
        if state.owned_hook(owner, id).is_none() {
            return Ok(false);
        }
        state.remove_hook(id);
        Ok(true)
    }

    async fn rotate_secret(
        &self,
        owner: &str,
        id: Uuid,
        secret: &str,
        previous_until: OffsetDateTime,
    ) -> Result<Option<Hook>> {
        let mut state = self.state();
        let Some(stored) = state.owned_hook(owner, id) else {
            return Ok(None);
        };
        let previous = std::mem::replace(&mut stored.hook.secret, secret.to_owned());
        stored.previous_secret = Some((previous, millis(previous_until)));
        Ok(Some(stored.hook.clone()))
    }

    async fn enqueue(&self, deliveries: Vec<Delivery>) -> Result<()> {
        let now = now_millis();
        let mut state = self.state();
        // All or none, as a SQL store's primary key has it.
        if let Some(queued) = deliveries
            .iter()
            .find(|d| state.deliveries.contains_key(&d.id))
        {
            return Err(Error::Store(StoreError::message(format!(
                "delivery {} is queued already",
                queued.id
            ))));
        }
        for delivery in deliveries {
            if delivery.state == DeliveryState::Pending {
                state.due.insert((now, delivery.id));
            }
            let queued = Queued {
                delivery,
                due_at: now,
                leased_until: None,
            };
            state.deliveries.insert(queued.delivery.id, queued);
        }
        Ok(())
    }

    async fn lease(&self, limit: usize, lease: Duration) -> Result<Vec<Outgoing>> {
        let now = now_millis();
        let until = now.saturating_add(duration_millis(lease));
        let mut state = self.state();
        // Leases that ran out make their deliveries due again.
        while let Some(&(ends, id)) = state.leases.first()
            && ends <= now
        {
            state.leases.pop_first();
            if let Some(q) = state.deliveries.get_mut(&id) {
                q.leased_until = None;
                let due_at = q.due_at;
                state.due.insert((due_at, id));
            }
        }
        let mut taken = Vec::new();
        while taken.len() < limit
            && let Some(&(due_at, id)) = state.due.first()
            && due_at <= now
        {
            state.due.pop_first();
            let Some(q) = state.deliveries.get_mut(&id) else {
                continue;
            };
            q.leased_until = Some(until);
            let delivery = q.delivery.clone();
            state.leases.insert((until, id));
            let secrets = state.secrets(delivery.hook_id);
            taken.push((delivery, secrets));
        }
        let leased = Leased::sort(taken, now);
        state.set_state(&leased.held, DeliveryState::Held);
        for id in &leased.gone {
            state.unqueue(*id);
            state.deliveries.remove(id);
        }
        Ok(leased.outgoing)
    }

    async fn release(&self, ids: &[Uuid]) -> Result<()> {
        let mut state = self.state();
        for &id in ids {
            if let Some(due_at) = state.deliveries.get(&id).map(|q| q.due_at) {
                state.requeue(id, due_at);
            }
        }
        Ok(())
    }

    async fn record(&self, recorded: &[Recorded], disable: &Disable) -> Result<Vec<HookChange>> {
        let plan = RecordPlan::new(recorded, now_millis());
        let now = plan.now;
        let mut state = self.state();
        let mut changes = Vec::new();
        for attempt in &plan.logged {
            state.attempts.push((*attempt).clone());
            let id = attempt.delivery_id;
            state.unqueue(id);
            if let Some(queued) = state.deliveries.get_mut(&id) {
                queued.delivery.attempts += 1;
            }
        }
        for id in &plan.delivered {
            if let Some(queued) = state.deliveries.get_mut(id) {
                queued.delivery.state = DeliveryState::Delivered;
            }
        }
        for &(id, due_at) in &plan.retries {
            state.requeue(id, due_at);
        }
        for id in &plan.failed {
            if let Some(queued) = state.deliveries.get_mut(id) {
                queued.delivery.state = DeliveryState::Failed;
            }
        }
        for hook in &plan.succeeding_hooks {
            if let Some(stored) = state.hooks.get_mut(hook) {
                stored.failing_since = None;
            }
        }
        for &hook in &plan.failing_hooks {
            changes.extend(state.failed(hook, now, disable));
        }
        for &hook in &plan.gone_hooks {
            state.remove_hook(hook);
            changes.push(HookChange::Deleted(hook));
        }
        Ok(changes)
    }

    async fn queue_depth(&self, now: i64) -> Result<QueueDepth> {
        let state = self.state();
        let mut depth = QueueDepth::default();
        // Leases that ran out count as due: the next lease takes them.
        let expired = state
            .leases
            .iter()
            .filter(|&&(ends, _)| ends <= now)
            .filter_map(|(_, id)| state.deliveries.get(id).map(|q| q.due_at));
        let due = state
            .due
            .iter()
            .map(|&(due_at, _)| due_at)
            .filter(|&d| d <= now);
        for due_at in due.chain(expired) {
            depth.due += 1;
            depth.oldest_due_at = Some(depth.oldest_due_at.map_or(due_at, |o| o.min(due_at)));
        }
        depth.leased = state.leases.iter().filter(|&&(ends, _)| ends > now).count() as u64;
        for queued in state.deliveries.values() {
            match queued.delivery.state {
                DeliveryState::Held => depth.held += 1,
                DeliveryState::Failed => depth.failed += 1,
                _ => {}
            }
        }
        Ok(depth)
    }

    async fn purge_deliveries(
        &self,
        after: Option<Uuid>,
        before: i64,
        limit: usize,
    ) -> Result<Purged> {
        Ok(self.state().purge(after, fired_before(before), limit))
    }

    async fn purge_idempotency_keys(&self, before: i64, limit: usize) -> Result<u64> {
        let mut state = self.state();
        let old: Vec<(String, String)> = state
            .keys
            .iter()
            .filter(|(_, (_, _, made))| *made < before)
            .map(|(key, _)| key.clone())
            .take(limit)
            .collect();
        for key in &old {
            state.keys.remove(key);
        }
        Ok(old.len() as u64)
    }

    async fn get_delivery(&self, owner: &str, id: Uuid) -> Result<Option<Delivery>> {
        let state = self.state();
        Ok(state
            .deliveries
            .get(&id)
            .map(|q| &q.delivery)
            .filter(|d| d.owner == owner)
            .cloned())
    }

    async fn list_deliveries(
        &self,
        owner: &str,
        filter: &DeliveryFilter,
        before: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Delivery>> {
        let state = self.state();
        let before = before.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        Ok(state
            .deliveries
            .range((std::ops::Bound::Unbounded, before))
            .rev()
            .map(|(_, q)| &q.delivery)
            .filter(|d| d.owner == owner && filter.matches(d))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn recover(&self, owner: &str, hook_id: Uuid, since: i64, until: i64) -> Result<u64> {
        let now = now_millis();
        let mut state = self.state();
        let failed: Vec<Uuid> = state
            .deliveries
            .values()
            .map(|q| &q.delivery)
            .filter(|d| {
                let fired = millis(d.created_at);
                d.owner == owner
                    && d.hook_id == hook_id
                    && d.state == DeliveryState::Failed
                    && (since..until).contains(&fired)
            })
            .map(|d| d.id)
            .collect();
        for &id in &failed {
            if let Some(queued) = state.deliveries.get_mut(&id) {
                queued.delivery.state = DeliveryState::Pending;
            }
            state.requeue(id, now);
        }
        Ok(failed.len() as u64)
    }

    async fn list_attempts(&self, owner: &str, delivery_ids: &[Uuid]) -> Result<Vec<Attempt>> {
        let state = self.state();
        let owned = |id: &Uuid| {
            delivery_ids.contains(id)
                && state
                    .deliveries
                    .get(id)
                    .is_some_and(|q| q.delivery.owner == owner)
        };
        Ok(state
            .attempts
            .iter()
            .rev()
            .filter(|a| owned(&a.delivery_id))
            .cloned()
            .collect())
    }

    async fn redeliver(&self, owner: &str, delivery_id: Uuid) -> Result<bool> {
        let now = now_millis();
        let mut state = self.state();
        match state.deliveries.get_mut(&delivery_id) {
            Some(queued)
                if queued.delivery.owner == owner
                    && queued.delivery.state != DeliveryState::Pending =>
            {
                queued.delivery.state = DeliveryState::Pending;
                state.requeue(delivery_id, now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
