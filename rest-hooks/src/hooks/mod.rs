//! [`Hooks`], the handle an application keeps: built by [`HooksBuilder`], it
//! manages subscriptions, fires events, and runs the tasks that deliver them.

mod builder;
mod fire;
#[cfg(feature = "sql")]
mod fire_in;
mod follower;
mod health;
mod manage;
mod retention;
mod tasks;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, broadcast};

pub use builder::HooksBuilder;
pub use health::Health;

use crate::delivery::Confirmer;
use crate::finder::Finder;
use crate::index::{IndexChange, SharedIndex};
use crate::queue::Outcome;
use crate::registry::Registry;
use crate::store::Store;
use crate::target_policy::TargetPolicy;
use tasks::Tasks;

/// The handle to an application's hooks: subscribe, fire, and deliver. Cheap to
/// clone; every clone is the same set of hooks and workers.
///
/// ```
/// # #[derive(serde::Serialize, rest_hooks::HookModel)]
/// # #[hook(app = "bookstore", owner = user)]
/// # pub struct Book { id: u64, user: u64 }
/// # rest_hooks::hook_events! { "book.added" => bookstore.Book.created, "book.read" => bookstore.Book.read }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), rest_hooks::Error> {
/// use rest_hooks::store::MemoryStore;
/// use rest_hooks::target_policy::TargetPolicy;
/// use rest_hooks::{Hooks, NewHook};
///
/// let hooks = Hooks::builder(&EVENTS, MemoryStore::new())
///     .target_policy(TargetPolicy::default().allow_host("example.com"))
///     .concurrency(0) // this example delivers nothing
///     .build()
///     .await?;
/// hooks.subscribe(NewHook::new("42", "book.added", "https://example.com/in")).await?;
///
/// let book = Book { id: 1, user: 42 };
/// assert_eq!(hooks.created(&book).await?, 1);     // one delivery queued
/// assert_eq!(hooks.fire(BookRead, &book).await?, 0); // nobody listens
/// # hooks.shutdown(std::time::Duration::from_secs(1)).await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Hooks {
    inner: Arc<Inner>,
}

struct Inner {
    registry: &'static Registry,
    store: Arc<dyn Store>,
    finder: Box<dyn Finder>,
    policy: TargetPolicy,
    /// Asks targets to confirm, when the builder says so.
    confirmer: Option<Confirmer>,
    max_hooks_per_owner: usize,
    max_payload: usize,
    secret_grace: Duration,
    /// How long the delivery log is kept.
    retention: Duration,
    /// How long firing tries again after the store's connection was lost.
    reconnect_within: Duration,
    index: Arc<SharedIndex>,
    wake: Arc<Notify>,
    observers: broadcast::Sender<Outcome>,
    tasks: Tasks,
}

impl Hooks {
    /// Starts building the hooks of the events in `registry` (the `EVENTS` that
    /// `hook_events!` emits), kept in `store`.
    pub fn builder(registry: &'static Registry, store: impl Store) -> HooksBuilder {
        HooksBuilder::new(registry, Arc::new(store))
    }

    /// The event table these hooks serve.
    pub fn registry(&self) -> &'static Registry {
        self.inner.registry
    }

    /// A stream of the outcome of every attempt this process makes (the
    /// `hook_sent_event` of django-rest-hooks, which reports successes only).
    /// A receiver that falls more than 1,024 outcomes behind misses the oldest.
    pub fn observe(&self) -> broadcast::Receiver<Outcome> {
        self.inner.observers.subscribe()
    }

    /// A stream of the changes to this process's index of the hooks it fires to:
    /// subscriptions, unsubscriptions, disabled and deleted hooks, made here or, on
    /// a store that several processes share, by another process. A receiver that
    /// falls more than 1,024 changes behind misses the oldest.
    pub fn index_changes(&self) -> broadcast::Receiver<IndexChange> {
        self.inner.index.changes()
    }

    /// Wakes the workers, to deliver what was queued where they could not see it
    /// (a committed [`fire_in`](Self::fire_in)) without waiting for their next poll.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Stops the background tasks of this process: the delivery engine leases no
    /// more; attempts under way may finish until `deadline` has passed, and those
    /// still running then are abandoned and their deliveries given back to the queue
    /// for the next start. Outcomes are recorded before it returns.
    pub async fn shutdown(&self, deadline: Duration) {
        self.inner.tasks.shutdown(deadline).await;
    }
}
