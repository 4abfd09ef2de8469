//! [`Hooks`], the handle an application keeps: subscriptions, firing, and the
//! workers that deliver.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::deliverer::{Deliverer, HttpDeliverer};
use crate::delivery::Delivery;
use crate::error::{Error, Result};
use crate::event::{Event, EventSpec, Raw};
use crate::finder::{Audience, DefaultFinder, Finder, Firing};
use crate::hook::{Hook, NewHook, check_secret, generate_secret, parse_target};
use crate::index::Index;
use crate::model::{HookInfo, HookModel, default_payload};
use crate::policy::{AllowAll, TargetPolicy};
use crate::registry::Registry;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
use crate::store::WriteDeliveries;
use crate::store::{MemoryStore, Store, from_millis, now_millis};
use crate::worker::{Worker, WorkerConfig};

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
/// use rest_hooks::{Hooks, MemoryStore, NewHook};
///
/// let hooks = Hooks::builder(&EVENTS).store(MemoryStore::new()).build().await?;
/// hooks.subscribe(NewHook::new("42", "book.added", "https://example.com/in")).await?;
///
/// let book = Book { id: 1, user: 42 };
/// assert_eq!(hooks.created(&book).await?, 1);     // one delivery queued
/// assert_eq!(hooks.fire(BookRead, &book).await?, 0); // nobody listens
/// # hooks.shutdown().await;
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
    policy: Box<dyn TargetPolicy>,
    index: RwLock<Index>,
    wake: Arc<Notify>,
    stop: watch::Sender<bool>,
    workers: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

/// Builds [`Hooks`]; every setting has a default.
pub struct HooksBuilder {
    registry: &'static Registry,
    store: Arc<dyn Store>,
    finder: Box<dyn Finder>,
    deliverer: Option<Arc<dyn Deliverer>>,
    policy: Box<dyn TargetPolicy>,
    workers: usize,
    timeout: Duration,
    config: WorkerConfig,
}

impl Hooks {
    /// Starts building the hooks of the events in `registry` (the `EVENTS` that
    /// `hook_events!` emits).
    pub fn builder(registry: &'static Registry) -> HooksBuilder {
        HooksBuilder {
            registry,
            store: Arc::new(MemoryStore::new()),
            finder: Box::new(DefaultFinder),
            deliverer: None,
            policy: Box::new(AllowAll),
            workers: 1,
            timeout: Duration::from_secs(15),
            config: WorkerConfig {
                poll_interval: Duration::from_secs(1),
                lease: Duration::from_secs(60),
                batch: 64,
            },
        }
    }
}

impl HooksBuilder {
    /// Where hooks and the delivery queue are kept. Default: a [`MemoryStore`].
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Arc::new(store);
        self
    }

    /// Which hooks receive an event. Default: [`DefaultFinder`].
    pub fn finder(mut self, finder: impl Finder) -> Self {
        self.finder = Box::new(finder);
        self
    }

    /// What sends a delivery. Default: an [`HttpDeliverer`] with the
    /// [`timeout`](Self::timeout).
    pub fn deliverer(mut self, deliverer: impl Deliverer) -> Self {
        self.deliverer = Some(Arc::new(deliverer));
        self
    }

    /// Which targets may be subscribed. Default: [`AllowAll`].
    pub fn target_policy(mut self, policy: impl TargetPolicy) -> Self {
        self.policy = Box::new(policy);
        self
    }

    /// How many delivery workers this process runs; `0` fires without delivering,
    /// leaving the queue to other processes. Default: 1.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// How long one HTTP attempt may take. Default: 15 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often idle workers look for deliveries they were not woken for, such as
    /// those written by [`Hooks::fire_in`] or another process. Default: 1 s.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.config.poll_interval = interval;
        self
    }

    /// Loads the active hooks into the in-memory index and starts the workers on
    /// the current tokio runtime.
    pub async fn build(self) -> Result<Hooks> {
        let index = Index::new(self.store.active_hooks().await?);
        let deliverer = match self.deliverer {
            Some(deliverer) => deliverer,
            None => {
                Arc::new(HttpDeliverer::new(self.timeout).map_err(|e| Error::Store(Box::new(e)))?)
            }
        };
        let (stop, _) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let workers = (0..self.workers)
            .map(|_| {
                let worker = Worker {
                    store: Arc::clone(&self.store),
                    deliverer: Arc::clone(&deliverer),
                    wake: Arc::clone(&wake),
                    stop: stop.subscribe(),
                    config: self.config,
                };
                tokio::spawn(worker.run())
            })
            .collect();
        Ok(Hooks {
            inner: Arc::new(Inner {
                registry: self.registry,
                store: self.store,
                finder: self.finder,
                policy: self.policy,
                index: RwLock::new(index),
                wake,
                stop,
                workers: std::sync::Mutex::new(workers),
            }),
        })
    }
}

impl Hooks {
    /// The event table these hooks serve.
    pub fn registry(&self) -> &'static Registry {
        self.inner.registry
    }

    /// Subscribes a target to an event for an owner.
    ///
    /// Errors: [`Error::UnknownEvent`], [`Error::InvalidTarget`],
    /// [`Error::TargetNotAllowed`], [`Error::InvalidSecret`]; nothing is stored then.
    pub async fn subscribe(&self, new: NewHook) -> Result<Hook> {
        if !self.inner.registry.contains(&new.event) {
            return Err(Error::UnknownEvent(new.event));
        }
        let url = parse_target(&new.target)?;
        if let Err(reason) = self.inner.policy.check(&url).await {
            return Err(Error::TargetNotAllowed {
                target: new.target,
                reason,
            });
        }
        let secret = match new.secret {
            Some(secret) => {
                check_secret(&secret)?;
                secret
            }
            None => generate_secret()?,
        };
        let hook = Hook {
            id: Uuid::now_v7(),
            owner: new.owner,
            event: new.event,
            target: url.into(),
            secret,
            active: true,
            // Stores keep milliseconds: the hook returned is the hook stored.
            created_at: from_millis(now_millis()),
            metadata: new.metadata,
        };
        self.inner.store.insert_hook(&hook).await?;
        self.index_mut().insert(Arc::new(hook.clone()));
        Ok(hook)
    }

    /// Deletes the owner's hook; [`Error::NotFound`] when the owner has none with
    /// this id.
    pub async fn unsubscribe(&self, owner: &str, id: Uuid) -> Result<()> {
        let hook = self.get(owner, id).await?;
        if !self.inner.store.delete_hook(owner, id).await? {
            return Err(Error::NotFound(id));
        }
        self.index_mut().remove(&hook);
        Ok(())
    }

    /// The owner's hook; [`Error::NotFound`] when the owner has none with this id.
    pub async fn get(&self, owner: &str, id: Uuid) -> Result<Hook> {
        self.inner
            .store
            .hook(owner, id)
            .await?
            .ok_or(Error::NotFound(id))
    }

    /// The owner's hooks, oldest first.
    pub async fn list(&self, owner: &str) -> Result<Vec<Hook>> {
        self.inner.store.hooks(owner).await
    }

    /// The delivery with this id.
    pub async fn delivery(&self, id: Uuid) -> Result<Option<Delivery>> {
        self.inner.store.delivery(id).await
    }

    /// Fires the `created` event of the model, if the table maps one. Returns how
    /// many deliveries were queued.
    pub async fn created<M: HookModel>(&self, model: &M) -> Result<usize> {
        self.action(model, "created").await
    }

    /// Fires the `updated` event of the model, if the table maps one.
    pub async fn updated<M: HookModel>(&self, model: &M) -> Result<usize> {
        self.action(model, "updated").await
    }

    /// Fires the `deleted` event of the model, if the table maps one; send the last
    /// values of the model.
    pub async fn deleted<M: HookModel>(&self, model: &M) -> Result<usize> {
        self.action(model, "deleted").await
    }

    /// Fires a model event by its type, such as a custom action:
    /// `hooks.fire(BookRead, &book)`.
    pub async fn fire<E: Event>(&self, _event: E, model: &E::Model) -> Result<usize>
    where
        E::Model: HookModel + Sized,
    {
        let spec = self.spec(E::NAME)?;
        self.enqueue(self.model_deliveries(spec, model)?).await
    }

    /// Fires a raw event with any payload: to `owner`'s hooks, or to every owner's
    /// when `owner` is `None`.
    pub async fn fire_raw<E, P>(&self, _event: E, payload: &P, owner: Option<&str>) -> Result<usize>
    where
        E: Event<Model = Raw>,
        P: Serialize + ?Sized,
    {
        let spec = self.spec(E::NAME)?;
        self.enqueue(self.raw_deliveries(spec, payload, owner)?)
            .await
    }

    /// [`created`](Self::created), queued in the caller's transaction.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub async fn created_in<M: HookModel>(
        &self,
        tx: &mut impl WriteDeliveries,
        model: &M,
    ) -> Result<usize> {
        self.action_in(tx, model, "created").await
    }

    /// [`updated`](Self::updated), queued in the caller's transaction.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub async fn updated_in<M: HookModel>(
        &self,
        tx: &mut impl WriteDeliveries,
        model: &M,
    ) -> Result<usize> {
        self.action_in(tx, model, "updated").await
    }

    /// [`deleted`](Self::deleted), queued in the caller's transaction.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub async fn deleted_in<M: HookModel>(
        &self,
        tx: &mut impl WriteDeliveries,
        model: &M,
    ) -> Result<usize> {
        self.action_in(tx, model, "deleted").await
    }

    /// [`fire`](Self::fire), queued in the caller's transaction: the deliveries exist
    /// if and only if it commits. Call [`wake`](Self::wake) after the commit to
    /// deliver at once rather than at the next poll.
    ///
    /// `tx` is the transaction's connection, `&mut *tx`, on the store's database.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub async fn fire_in<E: Event>(
        &self,
        tx: &mut impl WriteDeliveries,
        _event: E,
        model: &E::Model,
    ) -> Result<usize>
    where
        E::Model: HookModel + Sized,
    {
        let spec = self.spec(E::NAME)?;
        write_in(tx, self.model_deliveries(spec, model)?).await
    }

    /// [`fire_raw`](Self::fire_raw), queued in the caller's transaction.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub async fn fire_raw_in<E, P>(
        &self,
        tx: &mut impl WriteDeliveries,
        _event: E,
        payload: &P,
        owner: Option<&str>,
    ) -> Result<usize>
    where
        E: Event<Model = Raw>,
        P: Serialize + ?Sized,
    {
        let spec = self.spec(E::NAME)?;
        write_in(tx, self.raw_deliveries(spec, payload, owner)?).await
    }

    /// Wakes the workers, to deliver what was queued where they could not see it
    /// (a committed [`fire_in`](Self::fire_in)) without waiting for their next poll.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Stops the workers of this process after the attempts they have started.
    pub async fn shutdown(&self) {
        self.inner.stop.send_replace(true);
        let workers = std::mem::take(&mut *self.workers());
        for worker in workers {
            if let Err(error) = worker.await {
                tracing::error!(%error, "a delivery worker ended abnormally");
            }
        }
    }

    async fn action<M: HookModel>(&self, model: &M, action: &str) -> Result<usize> {
        match self.inner.registry.for_action(M::APP, M::MODEL, action) {
            Some(spec) => self.enqueue(self.model_deliveries(spec, model)?).await,
            None => Ok(0),
        }
    }

    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    async fn action_in<M: HookModel>(
        &self,
        tx: &mut impl WriteDeliveries,
        model: &M,
        action: &str,
    ) -> Result<usize> {
        match self.inner.registry.for_action(M::APP, M::MODEL, action) {
            Some(spec) => write_in(tx, self.model_deliveries(spec, model)?).await,
            None => Ok(0),
        }
    }

    fn spec(&self, name: &str) -> Result<&'static EventSpec> {
        self.inner
            .registry
            .get(name)
            .ok_or_else(|| Error::UnknownEvent(name.to_owned()))
    }

    /// The deliveries of a model event: one per hook the finder picks, with the
    /// model's payload for that hook.
    fn model_deliveries<M: HookModel>(
        &self,
        spec: &'static EventSpec,
        model: &M,
    ) -> Result<Vec<Delivery>> {
        let owner;
        let audience = if spec.all_owners() {
            Audience::Everyone
        } else {
            owner = model.owner();
            owner.as_deref().map_or(Audience::Nobody, Audience::Owner)
        };
        self.deliveries(spec, audience, |hook| model.payload(hook))
    }

    fn raw_deliveries<P: Serialize + ?Sized>(
        &self,
        spec: &'static EventSpec,
        payload: &P,
        owner: Option<&str>,
    ) -> Result<Vec<Delivery>> {
        let audience = owner.map_or(Audience::Everyone, Audience::Owner);
        self.deliveries(spec, audience, |hook| default_payload(hook, payload))
    }

    fn deliveries(
        &self,
        spec: &'static EventSpec,
        audience: Audience<'_>,
        payload: impl Fn(&HookInfo<'_>) -> serde_json::Result<serde_json::Value>,
    ) -> Result<Vec<Delivery>> {
        let hooks = {
            let index = self.index();
            let Some(subscribers) = index.subscribers(spec.name) else {
                return Ok(Vec::new());
            };
            let firing = Firing {
                event: spec,
                audience,
            };
            self.inner.finder.find(&firing, subscribers)
        };
        hooks
            .iter()
            .map(|hook| {
                let id = hook.id.to_string();
                let info = HookInfo {
                    id: &id,
                    event: &hook.event,
                    target: &hook.target,
                };
                let body = serde_json::to_vec(&payload(&info)?)?;
                Ok(Delivery::new(hook, body))
            })
            .collect()
    }

    async fn enqueue(&self, deliveries: Vec<Delivery>) -> Result<usize> {
        if deliveries.is_empty() {
            return Ok(0);
        }
        self.inner.store.enqueue(&deliveries).await?;
        self.wake();
        Ok(deliveries.len())
    }

    fn index(&self) -> RwLockReadGuard<'_, Index> {
        // The index is only changed by single inserts and removes, which a panic
        // cannot leave half-done.
        self.inner
            .index
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn index_mut(&self) -> RwLockWriteGuard<'_, Index> {
        self.inner
            .index
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn workers(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.inner
            .workers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
async fn write_in(tx: &mut impl WriteDeliveries, deliveries: Vec<Delivery>) -> Result<usize> {
    if !deliveries.is_empty() {
        tx.write_deliveries(&deliveries).await?;
    }
    Ok(deliveries.len())
}
