//! Keeps this process in step with the others that share its store: wakes the
//! delivery engine when they queue deliveries, and keeps the index of active hooks
//! current when they subscribe, unsubscribe, disable or delete.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use crate::backoff::Backoff;
use crate::error::Result;
use crate::index::SharedIndex;
use crate::store::{Notice, Store};

pub(crate) struct Follower {
    pub store: Arc<dyn Store>,
    pub index: Arc<SharedIndex>,
    pub wake: Arc<Notify>,
}

impl Follower {
    /// Follows the notices until the store stops sending them.
    pub(crate) async fn run(self, mut notices: mpsc::Receiver<Notice>) {
        let mut backoff = Backoff::new(Duration::from_secs(30));
        while let Some(notice) = notices.recv().await {
            // A store that cannot be read now is read again until it can: a notice
            // skipped would leave the index wrong until the next one.
            while let Err(error) = self.apply(notice).await {
                tracing::warn!(%error, ?notice, "could not follow a change to the store");
                tokio::time::sleep(backoff.next_wait()).await;
            }
            backoff.reset();
        }
    }

    async fn apply(&self, notice: Notice) -> Result<()> {
        match notice {
            Notice::Queued => self.wake.notify_one(),
            // The notice says which hook, the store says what it is now: notices
            // that arrive late or twice leave the index right.
            Notice::Hook(id) => match self.store.active_hook(id).await? {
                Some(hook) => self.index.put(hook),
                None => self.index.remove(id),
            },
            Notice::Missed => {
                self.index.replace(self.store.active_hooks().await?);
                self.wake.notify_one();
            }
        }
        Ok(())
    }
}
