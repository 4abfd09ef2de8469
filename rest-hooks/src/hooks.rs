//! [`Hooks`], the handle an application keeps: subscriptions, firing, and the
//! workers that deliver.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

use crate::delivery::retry::RetrySchedule;
use crate::delivery::{Attempt, Deliverer, Delivery, HttpDeliverer};
use crate::error::{Error, Result};
use crate::event::{Event, EventSpec, Raw};
use crate::finder::{Audience, DefaultFinder, Finder, Firing};
use crate::follower::Follower;
use crate::hook::{Hook, NewHook, check_secret, generate_secret, parse_target};
use crate::index::{IndexChange, SharedIndex};
use crate::model::{HookInfo, HookModel, default_payload};
use crate::policy::TargetPolicy;
use crate::registry::Registry;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
use crate::store::WriteDeliveries;
use crate::store::{MemoryStore, Store, from_millis, now_millis};
use crate::worker::{Engine, EngineConfig, Outcome};

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
/// use rest_hooks::{Hooks, MemoryStore, NewHook, TargetPolicy};
///
/// let hooks = Hooks::builder(&EVENTS)
///     .store(MemoryStore::new())
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
    max_payload: usize,
    secret_grace: Duration,
    index: Arc<SharedIndex>,
    wake: Arc<Notify>,
    observers: broadcast::Sender<Outcome>,
    stop: watch::Sender<Option<Instant>>,
    engine: Mutex<Option<JoinHandle<()>>>,
    /// Follows other processes' changes to a shared store while the handle lives.
    follower: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(follower) = &self.follower {
            follower.abort();
        }
    }
}

/// Builds [`Hooks`]; every setting has a documented default.
pub struct HooksBuilder {
    registry: &'static Registry,
    store: Arc<dyn Store>,
    finder: Box<dyn Finder>,
    deliverer: Option<Arc<dyn Deliverer>>,
    policy: TargetPolicy,
    timeout: Duration,
    per_host: usize,
    max_payload: usize,
    secret_grace: Duration,
    config: EngineConfig,
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
            policy: TargetPolicy::default(),
            timeout: Duration::from_secs(15),
            per_host: 16,
            max_payload: 256 * 1024,
            secret_grace: Duration::from_secs(24 * 3600),
            config: EngineConfig {
                concurrency: 64,
                poll_interval: Duration::from_secs(1),
                lease: Duration::from_secs(60),
                batch: 64,
                schedule: RetrySchedule::default(),
                disable_after: Duration::from_secs(5 * 86_400),
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

    /// What sends a delivery. Default: an [`HttpDeliverer`] under the target
    /// policy, with the [`timeout`](Self::timeout) and [`per_host`](Self::per_host)
    /// limit.
    pub fn deliverer(mut self, deliverer: impl Deliverer) -> Self {
        self.deliverer = Some(Arc::new(deliverer));
        self
    }

    /// Which targets may be subscribed and connected to. Default:
    /// [`TargetPolicy::default`], public addresses only.
    pub fn target_policy(mut self, policy: TargetPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How many attempts this process runs at once; `0` fires without delivering,
    /// leaving the queue to other processes. Default: 64.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.config.concurrency = concurrency;
        self.config.batch = concurrency.max(2);
        self
    }

    /// How many requests may be in flight to one target host. Default: 16.
    pub fn per_host(mut self, per_host: usize) -> Self {
        self.per_host = per_host;
        self
    }

    /// How long one HTTP attempt may take. Default: 15 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest payload that may be fired, in bytes. Default: 256 KiB.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// When failed deliveries are attempted again. Default:
    /// [`RetrySchedule::default`].
    pub fn retry_schedule(mut self, schedule: RetrySchedule) -> Self {
        self.config.schedule = schedule;
        self
    }

    /// How long every delivery of a hook may fail before the hook is disabled.
    /// Default: 5 days.
    pub fn disable_after(mut self, period: Duration) -> Self {
        self.config.disable_after = period;
        self
    }

    /// How long a rotated-out secret keeps signing. Default: 24 hours.
    pub fn secret_grace(mut self, grace: Duration) -> Self {
        self.secret_grace = grace;
        self
    }

    /// How often the engine looks for deliveries it was not woken for: retries
    /// that came due, and on a store that does not notify (SQLite, memory) those
    /// written by [`Hooks::fire_in`] or another process. A [`PgStore`](crate::PgStore)
    /// wakes every process's engine when deliveries are queued. Default: 1 s.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.config.poll_interval = interval;
        self
    }

    /// How long a leased delivery stays taken before another worker may take it
    /// (after a crash, say). Default: 60 s; keep it above the timeout.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease;
        self
    }

    /// Loads the active hooks into the in-memory index and starts the delivery
    /// engine on the current tokio runtime; on a store that several processes share,
    /// also follows their changes to it.
    pub async fn build(self) -> Result<Hooks> {
        // Listening starts before the index is loaded, so that no change falls
        // between the two.
        let notices = self.store.notices().await?;
        let index = Arc::new(SharedIndex::new(self.store.active_hooks().await?));
        let deliverer = match self.deliverer {
            Some(deliverer) => deliverer,
            None => Arc::new(
                HttpDeliverer::new(self.policy.clone(), self.timeout, self.per_host)
                    .map_err(Error::Client)?,
            ),
        };
        let (stop, stopped) = watch::channel(None);
        let wake = Arc::new(Notify::new());
        let (observers, _) = broadcast::channel(1024);
        let engine = (self.config.concurrency > 0).then(|| {
            let engine = Arc::new(Engine {
                store: Arc::clone(&self.store),
                deliverer,
                index: Arc::clone(&index),
                observers: observers.clone(),
                wake: Arc::clone(&wake),
                config: self.config,
            });
            tokio::spawn(engine.run(stopped))
        });
        let follower = notices.map(|notices| {
            let follower = Follower {
                store: Arc::clone(&self.store),
                index: Arc::clone(&index),
                wake: Arc::clone(&wake),
            };
            tokio::spawn(follower.run(notices))
        });
        Ok(Hooks {
            inner: Arc::new(Inner {
                registry: self.registry,
                store: self.store,
                finder: self.finder,
                policy: self.policy,
                max_payload: self.max_payload,
                secret_grace: self.secret_grace,
                index,
                wake,
                observers,
                stop,
                engine: Mutex::new(engine),
                follower,
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
        let secret = match new.secret {
            Some(secret) => {
                check_secret(&secret)?;
                secret
            }
            None => generate_secret()?,
        };
        if let Err(reason) = self.inner.policy.check(&url).await {
            return Err(Error::TargetNotAllowed {
                target: new.target,
                reason,
            });
        }
        let hook = Hook {
            id: Uuid::now_v7(),
            owner: new.owner,
            event: new.event,
            target: url.into(),
            secret,
            active: true,
            disabled_reason: None,
            // Stores keep milliseconds: the hook returned is the hook stored.
            created_at: from_millis(now_millis()),
            metadata: new.metadata,
        };
        self.inner.store.insert_hook(&hook).await?;
        self.inner.index.put(hook.clone());
        Ok(hook)
    }

    /// Deletes the owner's hook; [`Error::NotFound`] when the owner has none with
    /// this id.
    pub async fn unsubscribe(&self, owner: &str, id: Uuid) -> Result<()> {
        // The delete is scoped to the owner: another owner's hook is not found.
        if !self.inner.store.delete_hook(owner, id).await? {
            return Err(Error::NotFound(id));
        }
        self.inner.index.remove(id);
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

    /// Gives the owner's hook a new secret. The old one keeps signing alongside it
    /// (a second signature in `webhook-signature`) for the
    /// [grace period](HooksBuilder::secret_grace), so receivers can switch over.
    pub async fn rotate_secret(&self, owner: &str, id: Uuid) -> Result<Hook> {
        let secret = generate_secret()?;
        let until = OffsetDateTime::now_utc() + self.inner.secret_grace;
        self.inner
            .store
            .rotate_secret(owner, id, &secret, until)
            .await?
            .ok_or(Error::NotFound(id))
    }

    /// The owner's delivery.
    pub async fn delivery(&self, owner: &str, id: Uuid) -> Result<Delivery> {
        self.inner
            .store
            .delivery(owner, id)
            .await?
            .ok_or(Error::NotFound(id))
    }

    /// The owner's hook's deliveries, newest first: at most `limit`, older than
    /// `before` when given (the last id of the previous page).
    pub async fn deliveries(
        &self,
        owner: &str,
        hook_id: Uuid,
        before: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Delivery>> {
        self.get(owner, hook_id).await?;
        self.inner
            .store
            .deliveries(owner, hook_id, before, limit)
            .await
    }

    /// The attempts at the owner's delivery, newest first: when, status or error,
    /// how long, and the start of the response.
    pub async fn attempts(&self, owner: &str, delivery_id: Uuid) -> Result<Vec<Attempt>> {
        self.delivery(owner, delivery_id).await?;
        self.inner.store.attempts(owner, delivery_id).await
    }

    /// Attempts the owner's delivery once more, now: for one that failed, or even
    /// one that was delivered. A pending one is left as it is.
    pub async fn retry(&self, owner: &str, delivery_id: Uuid) -> Result<()> {
        self.delivery(owner, delivery_id).await?;
        if self.inner.store.retry(owner, delivery_id).await? {
            self.wake();
        }
        Ok(())
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
    /// if and only if it commits. On SQLite, call [`wake`](Self::wake) after the
    /// commit to deliver at once rather than at the next poll; on PostgreSQL the
    /// commit wakes the workers of every process.
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

    /// Stops the delivery engine of this process: no more leasing; attempts under
    /// way may finish until `deadline` has passed, and those still running then are
    /// abandoned and their deliveries given back to the queue for the next start.
    /// Outcomes are recorded before it returns.
    pub async fn shutdown(&self, deadline: Duration) {
        self.inner
            .stop
            .send_replace(Some(Instant::now() + deadline));
        let engine = self.engine().take();
        if let Some(engine) = engine
            && let Err(error) = engine.await
        {
            tracing::error!(%error, "the delivery engine ended abnormally");
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
        self.build_deliveries(spec, audience, |hook| model.payload(hook))
    }

    fn raw_deliveries<P: Serialize + ?Sized>(
        &self,
        spec: &'static EventSpec,
        payload: &P,
        owner: Option<&str>,
    ) -> Result<Vec<Delivery>> {
        let audience = owner.map_or(Audience::Everyone, Audience::Owner);
        self.build_deliveries(spec, audience, |hook| default_payload(hook, payload))
    }

    fn build_deliveries(
        &self,
        spec: &'static EventSpec,
        audience: Audience<'_>,
        payload: impl Fn(&HookInfo<'_>) -> serde_json::Result<serde_json::Value>,
    ) -> Result<Vec<Delivery>> {
        let hooks = {
            let index = self.inner.index.read();
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
                if body.len() > self.inner.max_payload {
                    return Err(Error::PayloadTooLarge {
                        size: body.len(),
                        limit: self.inner.max_payload,
                    });
                }
                Ok(Delivery::new(hook, body))
            })
            .collect()
    }

    async fn enqueue(&self, deliveries: Vec<Delivery>) -> Result<usize> {
        if deliveries.is_empty() {
            return Ok(0);
        }
        let count = deliveries.len();
        self.inner.store.enqueue(deliveries).await?;
        self.wake();
        Ok(count)
    }

    fn engine(&self) -> std::sync::MutexGuard<'_, Option<JoinHandle<()>>> {
        self.inner
            .engine
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
