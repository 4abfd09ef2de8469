//! The in-memory index of the hooks events are fired to (event → owner → hooks):
//! active ones, and disabled ones, whose events are held. It is kept current
//! by subscribe and unsubscribe, by recorded outcomes, and on a shared store by other
//! processes' changes, so that firing an event nobody listens to touches no
//! database.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::broadcast;
use uuid::Uuid;

use crate::hook::Hook;

/// A change to the index of hooks that this process fires to (active ones, and
/// disabled ones, whose events are held).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IndexChange {
    /// The hook is now fired to: subscribed or resumed, in this process or in
    /// another one.
    Added(Uuid),
    /// The hook is fired to no more: unsubscribed, paused, or deleted by a
    /// `410 Gone`, in this process or in another one.
    Removed(Uuid),
    /// The hook is still fired to, as changed: a new target, say, or disabled
    /// (its events are held from now on) or enabled again.
    Changed(Uuid),
    /// The whole index was loaded again, because changes made by other processes
    /// may have been missed (the connection that reports them was lost).
    Reloaded,
}

/// The index, shared by the handle, the delivery engine and the follower of other
/// processes' changes; every change is told to [`changes`](Self::changes).
#[derive(Debug)]
pub(crate) struct SharedIndex {
    index: RwLock<Index>,
    changes: broadcast::Sender<IndexChange>,
}

impl SharedIndex {
    pub(crate) fn new(hooks: Vec<Hook>) -> Self {
        Self {
            index: RwLock::new(Index::new(hooks)),
            changes: broadcast::channel(1024).0,
        }
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Index> {
        // The index is changed by single inserts, removes and swaps, which a panic
        // cannot leave half-done.
        self.index
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.index
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Puts the hook as it is now: in the index when it is active (replacing the
    /// version there, with a new target, say), out of it when not. A hook once
    /// deleted stays out: a `put` that comes late (a subscription whose hook
    /// another process deleted before this one indexed it) must not bring it back.
    pub(crate) fn put(&self, hook: Hook) {
        let id = hook.id;
        let change = {
            let mut index = self.write();
            if index.deleted.contains(&id) {
                return;
            }
            let was = index.by_id.get(&id).cloned();
            match (was, hook.is_fired_to()) {
                (None, false) => None,
                (None, true) => {
                    index.insert(Arc::new(hook));
                    Some(IndexChange::Added(id))
                }
                (Some(_), false) => {
                    index.take_out(id);
                    Some(IndexChange::Removed(id))
                }
                (Some(was), true) if *was == hook => None,
                (Some(_), true) => {
                    index.take_out(id);
                    index.insert(Arc::new(hook));
                    Some(IndexChange::Changed(id))
                }
            }
        };
        if let Some(change) = change {
            self.tell(change);
        }
    }

    /// Takes the hook with this id out, if it is in; it may come back (a disabled
    /// hook that is enabled again).
    pub(crate) fn remove(&self, id: Uuid) {
        if self.write().take_out(id) {
            self.tell(IndexChange::Removed(id));
        }
    }

    /// Takes the hook with this id out for good: it was deleted.
    pub(crate) fn delete(&self, id: Uuid) {
        let taken_out = {
            let mut index = self.write();
            index.deleted.insert(id);
            index.take_out(id)
        };
        if taken_out {
            self.tell(IndexChange::Removed(id));
        }
    }

    /// Replaces the whole index with these hooks; those deleted stay out.
    pub(crate) fn replace(&self, hooks: Vec<Hook>) {
        let mut fresh = Index::new(hooks);
        let mut index = self.write();
        fresh.deleted = std::mem::take(&mut index.deleted);
        let late: Vec<Uuid> = fresh
            .by_id
            .keys()
            .filter(|id| fresh.deleted.contains(id))
            .copied()
            .collect();
        for id in late {
            fresh.take_out(id);
        }
        *index = fresh;
        drop(index);
        self.tell(IndexChange::Reloaded);
    }

    pub(crate) fn changes(&self) -> broadcast::Receiver<IndexChange> {
        self.changes.subscribe()
    }

    fn tell(&self, change: IndexChange) {
        // Nobody listening is fine; a receiver that lags loses the oldest changes.
        let _ = self.changes.send(change);
    }
}

#[derive(Debug, Default)]
pub(crate) struct Index {
    by_event: HashMap<String, EventHooks>,
    by_id: HashMap<Uuid, Arc<Hook>>,
    /// Hooks deleted while this process runs, which never come back (16 bytes a
    /// deleted hook).
    deleted: HashSet<Uuid>,
}

#[derive(Debug, Default)]
struct EventHooks {
    by_owner: HashMap<String, Vec<Arc<Hook>>>,
}

impl Index {
    fn new(hooks: Vec<Hook>) -> Self {
        let mut index = Self::default();
        for hook in hooks {
            index.insert(Arc::new(hook));
        }
        index
    }

    /// Adds a hook whose id is not in the index, if events are fired to it.
    fn insert(&mut self, hook: Arc<Hook>) {
        if !hook.is_fired_to() {
            return;
        }
        self.by_id.insert(hook.id, Arc::clone(&hook));
        self.by_event
            .entry(hook.event.clone())
            .or_default()
            .by_owner
            .entry(hook.owner.clone())
            .or_default()
            .push(hook);
    }

    /// Takes the hook with this id out; `false` when it was not in the index.
    fn take_out(&mut self, id: Uuid) -> bool {
        let Some(hook) = self.by_id.remove(&id) else {
            return false;
        };
        if let Some(event) = self.by_event.get_mut(&hook.event) {
            if let Some(hooks) = event.by_owner.get_mut(&hook.owner) {
                hooks.retain(|h| h.id != id);
                if hooks.is_empty() {
                    event.by_owner.remove(&hook.owner);
                }
            }
            if event.by_owner.is_empty() {
                self.by_event.remove(&hook.event);
            }
        }
        true
    }

    /// The hooks subscribed to `event`; `None` when there are none.
    pub(crate) fn subscribers(&self, event: &str) -> Option<Subscribers<'_>> {
        self.by_event.get(event).map(|hooks| Subscribers { hooks })
    }
}

/// The hooks subscribed to one event that events are fired to, as a
/// [`Finder`](crate::finder::Finder) sees them: active ones, and disabled ones,
/// whose deliveries are held.
#[derive(Debug, Clone, Copy)]
pub struct Subscribers<'a> {
    hooks: &'a EventHooks,
}

impl<'a> Subscribers<'a> {
    /// The hooks of `owner`.
    pub fn owner(&self, owner: &str) -> &'a [Arc<Hook>] {
        self.hooks.by_owner.get(owner).map_or(&[], Vec::as_slice)
    }

    /// The hooks of every owner.
    pub fn all(&self) -> impl Iterator<Item = &'a Arc<Hook>> + 'a {
        self.hooks.by_owner.values().flatten()
    }

    /// The hook with this id, if it is subscribed.
    pub fn get(&self, id: Uuid) -> Option<&'a Arc<Hook>> {
        self.all().find(|h| h.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hook::test_hook;

    fn hook(owner: &str, event: &str, active: bool) -> Hook {
        Hook {
            active,
            ..test_hook(owner, event)
        }
    }

    fn ids(hooks: &[Arc<Hook>]) -> Vec<Uuid> {
        hooks.iter().map(|h| h.id).collect()
    }

    #[test]
    fn hooks_are_found_by_event_and_owner_until_removed() {
        let a = hook("ann", "book.added", true);
        let b = hook("bob", "book.added", true);
        let inactive = hook("ann", "book.added", false);
        let index = SharedIndex::new(vec![a.clone(), b.clone(), inactive.clone()]);

        {
            let read = index.read();
            let subs = read.subscribers("book.added").unwrap();
            assert_eq!(ids(subs.owner("ann")), [a.id]);
            assert_eq!(subs.all().count(), 2);
            assert!(subs.get(inactive.id).is_none());
            assert!(read.subscribers("book.removed").is_none());
        }

        index.remove(a.id);
        assert!(
            index
                .read()
                .subscribers("book.added")
                .unwrap()
                .owner("ann")
                .is_empty()
        );
        index.delete(b.id);
        assert!(index.read().subscribers("book.added").is_none());
    }

    #[test]
    fn every_change_is_told_once_and_a_deleted_hook_never_comes_back() {
        let index = SharedIndex::new(Vec::new());
        let mut changes = index.changes();
        let mut a = hook("ann", "book.added", true);

        index.put(a.clone());
        index.put(a.clone());
        a.active = false;
        index.put(a.clone());
        index.delete(a.id);
        index.replace(vec![hook("bob", "book.added", true)]);

        a.active = true;
        index.put(a.clone());

        assert_eq!(changes.try_recv().unwrap(), IndexChange::Added(a.id));
        assert_eq!(changes.try_recv().unwrap(), IndexChange::Removed(a.id));
        assert_eq!(changes.try_recv().unwrap(), IndexChange::Reloaded);
        assert!(changes.try_recv().is_err());
        let read = index.read();
        let subs = read.subscribers("book.added").unwrap();
        assert_eq!(subs.all().count(), 1);
        assert!(subs.owner("ann").is_empty());
    }

    #[test]
    fn a_disabled_hook_comes_back_when_enabled_and_a_changed_one_is_replaced() {
        let index = SharedIndex::new(Vec::new());
        let mut changes = index.changes();
        let mut a = hook("ann", "book.added", true);
        index.put(a.clone());
        index.remove(a.id);
        index.put(a.clone());
        a.target = "http://127.0.0.1:9/new".into();
        index.put(a.clone());

        assert_eq!(changes.try_recv().unwrap(), IndexChange::Added(a.id));
        assert_eq!(changes.try_recv().unwrap(), IndexChange::Removed(a.id));
        assert_eq!(changes.try_recv().unwrap(), IndexChange::Added(a.id));
        assert_eq!(changes.try_recv().unwrap(), IndexChange::Changed(a.id));
        assert!(changes.try_recv().is_err());
        let read = index.read();
        let subs = read.subscribers("book.added").unwrap();
        assert_eq!(subs.owner("ann").len(), 1);
        assert_eq!(subs.owner("ann")[0].target, "http://127.0.0.1:9/new");
    }
}
