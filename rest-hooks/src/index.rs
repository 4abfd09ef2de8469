//! The in-memory index of active subscriptions (event → owner → hooks), kept current
//! by subscribe and unsubscribe, so that firing an event nobody listens to touches
//! no database.

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use crate::hook::Hook;

#[derive(Debug, Default)]
pub(crate) struct Index {
    by_event: HashMap<String, EventHooks>,
}

#[derive(Debug, Default)]
struct EventHooks {
    by_owner: HashMap<String, Vec<Arc<Hook>>>,
}

impl Index {
    pub(crate) fn new(hooks: Vec<Hook>) -> Self {
        let mut index = Self::default();
        for hook in hooks {
            index.insert(Arc::new(hook));
        }
        index
    }

    pub(crate) fn insert(&mut self, hook: Arc<Hook>) {
        if !hook.active {
            return;
        }
        self.by_event
            .entry(hook.event.clone())
            .or_default()
            .by_owner
            .entry(hook.owner.clone())
            .or_default()
            .push(hook);
    }

    pub(crate) fn remove(&mut self, hook: &Hook) {
        let Some(event) = self.by_event.get_mut(&hook.event) else {
            return;
        };
        if let Some(hooks) = event.by_owner.get_mut(&hook.owner) {
            hooks.retain(|h| h.id != hook.id);
            if hooks.is_empty() {
                event.by_owner.remove(&hook.owner);
            }
        }
        if event.by_owner.is_empty() {
            self.by_event.remove(&hook.event);
        }
    }

    /// Removes the hook with this id, wherever it is.
    pub(crate) fn remove_id(&mut self, id: Uuid) {
        let found = self
            .by_event
            .values()
            .flat_map(|e| e.by_owner.values())
            .flatten()
            .find(|h| h.id == id)
            .map(Arc::clone);
        if let Some(hook) = found {
            self.remove(&hook);
        }
    }

    /// The hooks subscribed to `event`; `None` when there are none.
    pub(crate) fn subscribers(&self, event: &str) -> Option<Subscribers<'_>> {
        self.by_event.get(event).map(|hooks| Subscribers { hooks })
    }

    #[cfg(test)]
    fn contains(&self, id: Uuid) -> bool {
        self.by_event
            .values()
            .flat_map(|e| e.by_owner.values())
            .flatten()
            .any(|h| h.id == id)
    }
}

/// The active hooks subscribed to one event, as a [`Finder`](crate::Finder) sees them.
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

    fn hook(owner: &str, event: &str, active: bool) -> Hook {
        Hook {
            id: Uuid::now_v7(),
            owner: owner.into(),
            event: event.into(),
            target: "http://127.0.0.1:9/".into(),
            secret: "whsec_x".into(),
            active,
            disabled_reason: None,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            metadata: serde_json::Value::Null,
        }
    }

    #[test]
    fn hooks_are_found_by_event_and_owner_until_removed() {
        let a = hook("ann", "book.added", true);
        let b = hook("bob", "book.added", true);
        let inactive = hook("ann", "book.added", false);
        let mut index = Index::new(vec![a.clone(), b.clone(), inactive.clone()]);

        let subs = index.subscribers("book.added").unwrap();
        assert_eq!(
            subs.owner("ann").iter().map(|h| h.id).collect::<Vec<_>>(),
            [a.id]
        );
        assert_eq!(subs.all().count(), 2);
        assert!(!index.contains(inactive.id));
        assert!(index.subscribers("book.removed").is_none());

        index.remove(&a);
        assert!(
            index
                .subscribers("book.added")
                .unwrap()
                .owner("ann")
                .is_empty()
        );
        index.remove(&b);
        assert!(index.subscribers("book.added").is_none());
    }
}
