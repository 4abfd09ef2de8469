//! What a [`MemoryStore`](super::MemoryStore) keeps, and the changes to it that
//! its methods share.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::hook::Hook;
use crate::queue::{Attempt, Delivery, DeliveryState, HookChange};
use crate::store::queue_rules::HookSecrets;
use crate::store::{Disable, Purged};

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) hooks: BTreeMap<Uuid, Stored>,
    /// Every delivery, by id (so in the order they were fired).
    pub(super) deliveries: BTreeMap<Uuid, Queued>,
    /// Pending deliveries nobody holds, by when they are due.
    pub(super) due: BTreeSet<(i64, Uuid)>,
    /// Pending deliveries a worker holds, by when its lease ends.
    pub(super) leases: BTreeSet<(i64, Uuid)>,
    pub(super) attempts: Vec<Attempt>,
    /// Idempotency keys by owner and key: the request's fingerprint, its hook,
    /// and when it was made.
    pub(super) keys: BTreeMap<(String, String), (String, Uuid, i64)>,
}

#[derive(Debug)]
pub(super) struct Stored {
    pub(super) hook: Hook,
    pub(super) previous_secret: Option<(String, i64)>,
    pub(super) failing_since: Option<i64>,
}

#[derive(Debug)]
pub(super) struct Queued {
    pub(super) delivery: Delivery,
    pub(super) due_at: i64,
    pub(super) leased_until: Option<i64>,
}

impl State {
    /// Takes a delivery out of the due and leased sets (before it changes state).
    pub(super) fn unqueue(&mut self, id: Uuid) {
        if let Some(q) = self.deliveries.get_mut(&id) {
            self.due.remove(&(q.due_at, id));
            if let Some(until) = q.leased_until.take() {
                self.leases.remove(&(until, id));
            }
        }
    }

    /// Puts a pending delivery back among the due ones, at `due_at`.
    pub(super) fn requeue(&mut self, id: Uuid, due_at: i64) {
        self.unqueue(id);
        if let Some(q) = self.deliveries.get_mut(&id)
            && q.delivery.state == DeliveryState::Pending
        {
            q.due_at = due_at;
            self.due.insert((due_at, id));
        }
    }

    /// Deletes at most `limit` deliveries that are no longer pending, after
    /// `after` and before `bound`, oldest first, with their attempts.
    pub(super) fn purge(&mut self, after: Option<Uuid>, bound: Uuid, limit: usize) -> Purged {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let doomed: BTreeSet<Uuid> = self
            .deliveries
            .range((start, Bound::Excluded(bound)))
            .filter(|(_, q)| q.delivery.state != DeliveryState::Pending)
            .map(|(&id, _)| id)
            .take(limit)
            .collect();
        for id in &doomed {
            self.deliveries.remove(id);
        }
        self.attempts.retain(|a| !doomed.contains(&a.delivery_id));
        Purged {
            deleted: doomed.len() as u64,
            last: doomed.last().copied(),
        }
    }

    pub(super) fn owned_hook(&mut self, owner: &str, id: Uuid) -> Option<&mut Stored> {
        self.hooks.get_mut(&id).filter(|s| s.hook.owner == owner)
    }

    pub(super) fn remove_hook(&mut self, id: Uuid) {
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

    /// Stores a new hook, within its owner's quota.
    pub(super) fn insert_hook(&mut self, hook: &Hook, quota: usize) -> Result<()> {
        let owned = self
            .hooks
            .values()
            .filter(|s| s.hook.owner == hook.owner)
            .count();
        if owned >= quota {
            return Err(Error::QuotaExceeded { limit: quota });
        }
        let stored = Stored {
            hook: hook.clone(),
            previous_secret: None,
            failing_since: None,
        };
        self.hooks.insert(hook.id, stored);
        Ok(())
    }

    /// What leasing needs of the hook, if it is there.
    pub(super) fn secrets(&self, hook_id: Uuid) -> Option<HookSecrets> {
        let stored = self.hooks.get(&hook_id)?;
        let (previous_secret, previous_secret_until) = stored.previous_secret.clone().unzip();
        Some(HookSecrets {
            secret: stored.hook.secret.clone(),
            previous_secret,
            previous_secret_until,
            active: stored.hook.active,
            headers: stored.hook.headers.clone(),
        })
    }

    /// The ids of the hook's deliveries in `state`.
    pub(super) fn deliveries_in(&self, hook_id: Uuid, state: DeliveryState) -> Vec<Uuid> {
        self.deliveries
            .values()
            .filter(|q| q.delivery.hook_id == hook_id && q.delivery.state == state)
            .map(|q| q.delivery.id)
            .collect()
    }

    /// Puts the deliveries in `state`, out of the due and leased sets.
    pub(super) fn set_state(&mut self, ids: &[Uuid], state: DeliveryState) {
        for &id in ids {
            self.unqueue(id);
            if let Some(q) = self.deliveries.get_mut(&id) {
                q.delivery.state = state;
            }
        }
    }

    /// Marks the hook failing since `now` unless it already is; disables it when it
    /// has been failing since before the cutoff.
    pub(super) fn failed(
        &mut self,
        hook_id: Uuid,
        now: i64,
        disable: &Disable,
    ) -> Option<HookChange> {
        let stored = self.hooks.get_mut(&hook_id)?;
        let since = *stored.failing_since.get_or_insert(now);
        if !stored.hook.active || since > disable.cutoff(now) {
            return None;
        }
        stored.hook.active = false;
        stored.hook.disabled_reason = Some(disable.reason());
        let pending = self.deliveries_in(hook_id, DeliveryState::Pending);
        self.set_state(&pending, DeliveryState::Held);
        Some(HookChange::Disabled(hook_id))
    }
}
