//! Keeps this process in step with the others that share its store: wakes the
//! delivery engine when they queue deliveries, and keeps the index of active hooks
//! current when they subscribe, unsubscribe, disable or delete.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use crate::backoff::Backoff;
use crate::delivery::Stop;
use crate::error::Result;
use crate::index::SharedIndex;
use crate::store::{Notice, Store};

pub(super) struct Follower {
    pub(super) store: Arc<dyn Store>,
    pub(super) index: Arc<SharedIndex>,
    pub(super) wake: Arc<Notify>,
}

impl Follower {
    /// Follows the notices until the store stops sending them or `stop` says so.
    /// When the store cannot be read, the notices that come meanwhile are only
    /// counted as missed (so that they do not pile up), and the whole index is
    /// loaded again once it can be.
    pub(super) async fn run(self, notices: mpsc::Receiver<Notice>, mut stop: Stop) {
        tokio::select! {
            () = self.follow(notices) => {}
            _ = stop.wait_for(Option::is_some) => {}
        }
    }

    async fn follow(&self, mut notices: mpsc::Receiver<Notice>) {
        let mut backoff = Backoff::new(Duration::from_secs(30));
        let mut stale = false;
        loop {
            let notice = if stale {
                // A notice, or the end of the wait: try the whole index again.
                match tokio::time::timeout(backoff.next_wait(), notices.recv()).await {
                    Ok(None) => return,
                    Ok(Some(_)) | Err(_) => Notice::Missed,
                }
            } else {
                match notices.recv().await {
                    Some(notice) => notice,
                    None => return,
                }
            };
            match self.apply(notice).await {
                Ok(()) => {
                    stale = false;
                    backoff.reset();
                }
                Err(error) => {
                    tracing::warn!(%error, ?notice, "could not follow a change to the store; will load the index again");
                    stale = true;
                }
            }
        }
    }

    async fn apply(&self, notice: Notice) -> Result<()> {
        match notice {
            Notice::Queued => self.wake.notify_one(),
            // The notice says which hook, the store says what it is now: notices
            // that arrive late or twice leave the index right.
            Notice::Hook(id) => match self.store.get_hook_by_id(id).await? {
                Some(hook) => self.index.put(hook),
                None => self.index.delete(id),
            },
            Notice::Missed => {
                self.index.replace(self.store.list_fired_hooks().await?);
                self.wake.notify_one();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hook::{Hook, test_hook};
    use crate::index::IndexChange;
    use crate::store::MemoryStore;
    use tokio::sync::watch;
    use uuid::Uuid;

    fn hook() -> Hook {
        test_hook("ann", "book.added")
    }

    /// What another process did to the store, told to this one's follower.
    #[tokio::test]
    async fn notices_put_the_store_as_it_is_now_into_the_index() {
        let store = Arc::new(MemoryStore::new());
        let index = Arc::new(SharedIndex::new(Vec::new()));
        let mut changes = index.changes();
        let (notices, received) = mpsc::channel(8);
        let follower = Follower {
            store: Arc::clone(&store) as Arc<dyn Store>,
            index: Arc::clone(&index),
            wake: Arc::new(Notify::new()),
        };
        let (_stop, stopped) = watch::channel(None);
        let following = tokio::spawn(follower.run(received, stopped));

        let added = hook();
        store.insert_hook(&added, usize::MAX).await.unwrap();
        notices.send(Notice::Hook(added.id)).await.unwrap();
        assert_eq!(changes.recv().await.unwrap(), IndexChange::Added(added.id));

        // Missed notices: the index is loaded again, with what they would have said.
        let missed = hook();
        store.insert_hook(&missed, usize::MAX).await.unwrap();
        store.delete_hook("ann", added.id).await.unwrap();
        notices.send(Notice::Missed).await.unwrap();
        assert_eq!(changes.recv().await.unwrap(), IndexChange::Reloaded);
        {
            let read = index.read();
            let subscribers = read.subscribers("book.added").unwrap();
            let ids: Vec<Uuid> = subscribers.all().map(|h| h.id).collect();
            assert_eq!(ids, [missed.id]);
        }

        notices.send(Notice::Hook(missed.id)).await.unwrap();
        store.delete_hook("ann", missed.id).await.unwrap();
        notices.send(Notice::Hook(missed.id)).await.unwrap();
        assert_eq!(
            changes.recv().await.unwrap(),
            IndexChange::Removed(missed.id)
        );
        assert!(index.read().subscribers("book.added").is_none());

        drop(notices);
        following.await.unwrap();
    }
}
