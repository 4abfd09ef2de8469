//! [`MemoryStore`]: hooks and the queue in the process's memory, for tests and
//! throwaway use. Nothing survives the process.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Disable, Store, lease_millis, millis, now_millis, signing_secrets};
use crate::delivery::{Attempt, Delivery, DeliveryState, HookChange, Next, Outgoing, Recorded};
use crate::error::{Error, Result};
use crate::hook::Hook;

/// A [`Store`] in memory, with the same semantics as the SQL ones. Clones share the
/// same hooks and queue.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    hooks: BTreeMap<Uuid, Stored>,
    /// Every delivery, by id (so in the order they were fired).
    deliveries: BTreeMap<Uuid, Queued>,
    /// Pending deliveries nobody holds, by when they are due.
    due: BTreeSet<(i64, Uuid)>,
    /// Pending deliveries a worker holds, by when its lease ends.
    leases: BTreeSet<(i64, Uuid)>,
    attempts: Vec<Attempt>,
}

#[derive(Debug)]
struct Stored {
    hook: Hook,
    previous_secret: Option<(String, i64)>,
    failing_since: Option<i64>,
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

impl State {
    /// Takes a delivery out of the due and leased sets (before it changes state).
    fn unqueue(&mut self, id: Uuid) {
        if let Some(q) = self.deliveries.get_mut(&id) {
            self.due.remove(&(q.due_at, id));
            if let Some(until) = q.leased_until.take() {
                self.leases.remove(&(until, id));
            }
        }
    }

    /// Puts a pending delivery back among the due ones, at `due_at`.
    fn requeue(&mut self, id: Uuid, due_at: i64) {
        self.unqueue(id);
        if let Some(q) = self.deliveries.get_mut(&id)
            && q.delivery.state == DeliveryState::Pending
        {
            q.due_at = due_at;
            self.due.insert((due_at, id));
        }
    }

    fn owned_hook(&mut self, owner: &str, id: Uuid) -> Option<&mut Stored> {
        self.hooks.get_mut(&id).filter(|s| s.hook.owner == owner)
    }

    fn remove_hook(&mut self, id: Uuid) {
        self.hooks.remove(&id);
        let gone: Vec<Uuid> = self
            .deliveries
            .values()
            .filter(|q| q.delivery.hook_id == id)
            .map(|q| q.delivery.id)
            .collect();
        for delivery in gone {
            self.unqueue(delivery);
            self.deliveries.remove(&delivery);
        }
        self.attempts.retain(|a| a.hook_id != id);
    }

    /// Marks the hook failing since `now` unless it already is; disables it when it
    /// has been failing since before the cutoff.
    fn failed(&mut self, hook_id: Uuid, now: i64, disable: &Disable) -> Option<HookChange> {
        let stored = self.hooks.get_mut(&hook_id)?;
        let since = *stored.failing_since.get_or_insert(now);
        if !stored.hook.active || since > disable.cutoff(now) {
            return None;
        }
        stored.hook.active = false;
        stored.hook.disabled_reason = Some(disable.reason());
        let pending: Vec<Uuid> = self
            .deliveries
            .values()
            .filter(|q| q.delivery.hook_id == hook_id && q.delivery.state == DeliveryState::Pending)
            .map(|q| q.delivery.id)
            .collect();
        for id in pending {
            self.unqueue(id);
            if let Some(q) = self.deliveries.get_mut(&id) {
                q.delivery.state = DeliveryState::Failed;
            }
        }
        Some(HookChange::Disabled(hook_id))
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn insert_hook(&self, hook: &Hook) -> Result<()> {
        let stored = Stored {
            hook: hook.clone(),
            previous_secret: None,
            failing_since: None,
        };
        self.state().hooks.insert(hook.id, stored);
        Ok(())
    }

    async fn hook(&self, owner: &str, id: Uuid) -> Result<Option<Hook>> {
        Ok(self.state().owned_hook(owner, id).map(|s| s.hook.clone()))
    }

    async fn hooks(&self, owner: &str) -> Result<Vec<Hook>> {
        let state = self.state();
        Ok(state
            .hooks
            .values()
            .filter(|s| s.hook.owner == owner)
            .map(|s| s.hook.clone())
            .collect())
    }

    async fn active_hook(&self, id: Uuid) -> Result<Option<Hook>> {
        let state = self.state();
        Ok(state
            .hooks
            .get(&id)
            .filter(|s| s.hook.active)
            .map(|s| s.hook.clone()))
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

    async fn active_hooks(&self) -> Result<Vec<Hook>> {
        let state = self.state();
        Ok(state
            .hooks
            .values()
            .filter(|s| s.hook.active)
            .map(|s| s.hook.clone())
            .collect())
    }

    async fn enqueue(&self, deliveries: Vec<Delivery>) -> Result<()> {
        let now = now_millis();
        let mut state = self.state();
        // All or none, as a SQL store's primary key has it.
        if let Some(queued) = deliveries
            .iter()
            .find(|d| state.deliveries.contains_key(&d.id))
        {
            return Err(Error::Store(
                format!("delivery {} is queued already", queued.id).into(),
            ));
        }
        for delivery in deliveries {
            state.due.insert((now, delivery.id));
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
        let until = now.saturating_add(lease_millis(lease));
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
        let mut leased = Vec::new();
        while leased.len() < limit
            && let Some(&(due_at, id)) = state.due.first()
            && due_at <= now
        {
            state.due.pop_first();
            let State {
                hooks, deliveries, ..
            } = &mut *state;
            let Some(q) = deliveries.get_mut(&id) else {
                continue;
            };
            // Fired from an index that did not know yet that the hook was deleted or
            // disabled: not sent, as the SQL stores do.
            let Some(stored) = hooks.get(&q.delivery.hook_id) else {
                deliveries.remove(&id);
                continue;
            };
            if !stored.hook.active {
                q.delivery.state = DeliveryState::Failed;
                continue;
            }
            let (previous, grace_ends) = stored.previous_secret.clone().unzip();
            let secrets = signing_secrets(stored.hook.secret.clone(), previous, grace_ends, now);
            q.leased_until = Some(until);
            leased.push(Outgoing {
                delivery: q.delivery.clone(),
                secrets,
            });
            state.leases.insert((until, id));
        }
        Ok(leased)
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
        let now = now_millis();
        let mut state = self.state();
        let mut changes = Vec::new();
        // A hook that succeeded and failed in one batch is judged by its failure,
        // as in the SQL stores.
        let failing: BTreeSet<Uuid> = recorded
            .iter()
            .filter(|r| !matches!(r.next, Next::Delivered | Next::HookGone))
            .map(|r| r.attempt.hook_id)
            .collect();
        for Recorded { attempt, next } in recorded {
            if *next == Next::HookGone {
                state.remove_hook(attempt.hook_id);
                changes.push(HookChange::Deleted(attempt.hook_id));
                continue;
            }
            state.attempts.push(attempt.clone());
            let id = attempt.delivery_id;
            state.unqueue(id);
            if let Some(queued) = state.deliveries.get_mut(&id) {
                queued.delivery.attempts += 1;
                match next {
                    Next::Delivered => queued.delivery.state = DeliveryState::Delivered,
                    Next::RetryAt(_) => {}
                    Next::Failed | Next::HookGone => queued.delivery.state = DeliveryState::Failed,
                }
            }
            if let Next::RetryAt(at) = next {
                state.requeue(id, millis(*at));
            }
            if *next == Next::Delivered {
                if !failing.contains(&attempt.hook_id)
                    && let Some(stored) = state.hooks.get_mut(&attempt.hook_id)
                {
                    stored.failing_since = None;
                }
            } else if let Some(change) = state.failed(attempt.hook_id, now, disable) {
                changes.push(change);
            }
        }
        Ok(changes)
    }

    async fn delivery(&self, owner: &str, id: Uuid) -> Result<Option<Delivery>> {
        let state = self.state();
        Ok(state
            .deliveries
            .get(&id)
            .map(|q| &q.delivery)
            .filter(|d| d.owner == owner)
            .cloned())
    }

    async fn deliveries(
        &self,
        owner: &str,
        hook_id: Uuid,
        before: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Delivery>> {
        let state = self.state();
        Ok(state
            .deliveries
            .values()
            .rev()
            .map(|q| &q.delivery)
            .filter(|d| d.hook_id == hook_id && d.owner == owner && before.is_none_or(|b| d.id < b))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn attempts(&self, owner: &str, delivery_id: Uuid) -> Result<Vec<Attempt>> {
        let state = self.state();
        if state
            .deliveries
            .get(&delivery_id)
            .is_none_or(|q| q.delivery.owner != owner)
        {
            return Ok(Vec::new());
        }
        Ok(state
            .attempts
            .iter()
            .rev()
            .filter(|a| a.delivery_id == delivery_id)
            .cloned()
            .collect())
    }

    async fn retry(&self, owner: &str, delivery_id: Uuid) -> Result<bool> {
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
