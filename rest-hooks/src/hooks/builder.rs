//! [`HooksBuilder`]: every setting of [`Hooks`] with its default, and what `build`
//! starts.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, broadcast};

use super::follower::Follower;
use super::retention::Purger;
use super::tasks::Tasks;
use super::{Hooks, Inner};
use crate::delivery::{Confirmer, Deliverer, Engine, EngineConfig, HttpDeliverer, RetrySchedule};
use crate::error::{Error, Result};
use crate::finder::{DefaultFinder, Finder};
use crate::index::SharedIndex;
use crate::registry::Registry;
use crate::store::{EncryptedStore, Store};
use crate::target_policy::TargetPolicy;

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
    confirm_targets: bool,
    max_hooks_per_owner: usize,
    proxy: Option<String>,
    secret_key: Option<[u8; 32]>,
    previous_secret_key: Option<[u8; 32]>,
    retention: Duration,
    purge_interval: Duration,
    reconnect_within: Duration,
    config: EngineConfig,
}

impl HooksBuilder {
    /// Attempts in flight at once in one process.
    pub const DEFAULT_CONCURRENCY: usize = 64;
    /// Requests in flight to one target host and port.
    pub const DEFAULT_PER_HOST: usize = 16;
    /// How long one HTTP attempt may take.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
    /// The largest payload that may be fired, in bytes (256 KiB).
    pub const DEFAULT_MAX_PAYLOAD: usize = 256 * 1024;
    /// How long a rotated-out secret keeps signing (24 hours).
    pub const DEFAULT_SECRET_GRACE: Duration = Duration::from_secs(24 * 3600);
    /// How often an idle engine looks for deliveries it was not woken for.
    pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
    /// How long a leased delivery stays taken.
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
    /// How long every delivery of a hook may fail before it is disabled (5 days).
    pub const DEFAULT_DISABLE_AFTER: Duration = Duration::from_secs(5 * 86_400);
    /// How many hooks one owner may have.
    pub const DEFAULT_MAX_HOOKS_PER_OWNER: usize = 100;
    /// How long the delivery log is kept (30 days).
    pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 86_400);
    /// How often the log is purged of what the retention no longer keeps.
    pub const DEFAULT_PURGE_INTERVAL: Duration = Duration::from_secs(600);
    /// How long firing keeps trying when the store's connection was lost.
    pub const DEFAULT_RECONNECT_WITHIN: Duration = Duration::from_secs(5);

    pub(super) fn new(registry: &'static Registry, store: Arc<dyn Store>) -> Self {
        Self {
            registry,
            store,
            finder: Box::new(DefaultFinder),
            deliverer: None,
            policy: TargetPolicy::default(),
            timeout: Self::DEFAULT_TIMEOUT,
            per_host: Self::DEFAULT_PER_HOST,
            max_payload: Self::DEFAULT_MAX_PAYLOAD,
            secret_grace: Self::DEFAULT_SECRET_GRACE,
            confirm_targets: false,
            max_hooks_per_owner: Self::DEFAULT_MAX_HOOKS_PER_OWNER,
            proxy: None,
            secret_key: None,
            previous_secret_key: None,
            retention: Self::DEFAULT_RETENTION,
            purge_interval: Self::DEFAULT_PURGE_INTERVAL,
            reconnect_within: Self::DEFAULT_RECONNECT_WITHIN,
            config: EngineConfig {
                concurrency: Self::DEFAULT_CONCURRENCY,
                poll_interval: Self::DEFAULT_POLL_INTERVAL,
                lease: Self::DEFAULT_LEASE,
                batch: Self::DEFAULT_CONCURRENCY,
                schedule: RetrySchedule::default(),
                disable_after: Self::DEFAULT_DISABLE_AFTER,
            },
        }
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

    /// Which targets may be subscribed and connected to (the SSRF guard). Default:
    /// [`TargetPolicy::default`], public addresses only.
    pub fn target_policy(mut self, policy: TargetPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How many attempts this process runs at once; `0` fires without delivering,
    /// leaving the queue to other processes. Default:
    /// [`DEFAULT_CONCURRENCY`](Self::DEFAULT_CONCURRENCY).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.config.concurrency = concurrency;
        self.config.batch = concurrency.max(2);
        self
    }

    /// How many requests may be in flight to one target host. Default:
    /// [`DEFAULT_PER_HOST`](Self::DEFAULT_PER_HOST).
    pub fn per_host(mut self, per_host: usize) -> Self {
        self.per_host = per_host;
        self
    }

    /// How long one HTTP attempt may take. Default:
    /// [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest payload that may be fired, in bytes. Default:
    /// [`DEFAULT_MAX_PAYLOAD`](Self::DEFAULT_MAX_PAYLOAD).
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
    /// Default: [`DEFAULT_DISABLE_AFTER`](Self::DEFAULT_DISABLE_AFTER).
    pub fn disable_after(mut self, period: Duration) -> Self {
        self.config.disable_after = period;
        self
    }

    /// How long a rotated-out secret keeps signing. Default:
    /// [`DEFAULT_SECRET_GRACE`](Self::DEFAULT_SECRET_GRACE).
    pub fn secret_grace(mut self, grace: Duration) -> Self {
        self.secret_grace = grace;
        self
    }

    /// Sends deliveries through the egress proxy at `url`
    /// (`http://proxy.internal:3128`). No proxy is ever taken from the
    /// environment (`HTTP_PROXY`, …); this is the only way to use one. The
    /// target's host is still resolved and checked against the target policy
    /// before a request is handed to the proxy. Default: none.
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = Some(url.into());
        self
    }

    /// Keeps the hooks' signing secrets encrypted in the store under `key`, 32
    /// bytes the application keeps (XChaCha20-Poly1305, a fresh nonce each); they
    /// are in the clear only in memory. Without a key (the default) they are
    /// stored as they are, and a secret stored so is still read once a key is
    /// given.
    ///
    /// To change the key: give the new one here and the old one to
    /// [`previous_secret_key`](Self::previous_secret_key). The old one opens what
    /// it sealed, the new one seals every secret written from then on (new hooks,
    /// rotated secrets).
    pub fn secret_key(mut self, key: [u8; 32]) -> Self {
        self.secret_key = Some(key);
        self
    }

    /// The key secrets were sealed with before [`secret_key`](Self::secret_key)
    /// changed: it still opens them. Default: none.
    pub fn previous_secret_key(mut self, key: [u8; 32]) -> Self {
        self.previous_secret_key = Some(key);
        self
    }

    /// How many hooks one owner may have: one more is
    /// [`Error::QuotaExceeded`]. Default:
    /// [`DEFAULT_MAX_HOOKS_PER_OWNER`](Self::DEFAULT_MAX_HOOKS_PER_OWNER).
    pub fn max_hooks_per_owner(mut self, max: usize) -> Self {
        self.max_hooks_per_owner = max;
        self
    }

    /// How long the delivery log is kept: a delivery fired longer ago is deleted
    /// with its attempts once it is no longer pending (delivered, failed,
    /// discarded, or held for a hook nobody enabled again in time), by a
    /// background task every [`purge_interval`](Self::purge_interval), and by
    /// [`Hooks::purge_now`]. Keep it above
    /// [`Hooks::RECOVER_WINDOW`] to recover as far back as that; `Duration::MAX`
    /// keeps the log for ever. Default:
    /// [`DEFAULT_RETENTION`](Self::DEFAULT_RETENTION).
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// How often the background task purges the log (the first time as the hooks
    /// are built). Default:
    /// [`DEFAULT_PURGE_INTERVAL`](Self::DEFAULT_PURGE_INTERVAL).
    pub fn purge_interval(mut self, interval: Duration) -> Self {
        self.purge_interval = interval;
        self
    }

    /// How long [`Hooks::fire`] and the other firing methods keep trying when
    /// the store's connection was lost under them (a database server that
    /// restarts): they try again on a new connection until this has passed, so
    /// that a restart costs callers a wait, not an error. Deliveries found
    /// stored already by a second try (the first one's commit had happened) are
    /// not stored twice. [`Hooks::fire_in`] does not try again: the transaction
    /// is the caller's. `Duration::ZERO` never tries again. Default:
    /// [`DEFAULT_RECONNECT_WITHIN`](Self::DEFAULT_RECONNECT_WITHIN).
    pub fn reconnect_within(mut self, period: Duration) -> Self {
        self.reconnect_within = period;
        self
    }

    /// Whether a target must confirm that it wants the deliveries, when it is
    /// subscribed and when a hook moves to it: a handshake POST carries
    /// `X-Hook-Secret: <random>`, which the target must echo in a 2xx answer, else
    /// [`Error::TargetNotConfirmed`]. Default: off (Zapier, for one, does not
    /// answer it).
    pub fn confirm_targets(mut self, confirm: bool) -> Self {
        self.confirm_targets = confirm;
        self
    }

    /// How often the engine looks for deliveries it was not woken for: retries
    /// that came due, and on a store that does not notify (SQLite, memory) those
    /// written by [`Hooks::fire_in`] or another process. A
    /// [`PgStore`](crate::store::PgStore) wakes every process's engine when
    /// deliveries are queued. Default:
    /// [`DEFAULT_POLL_INTERVAL`](Self::DEFAULT_POLL_INTERVAL).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.config.poll_interval = interval;
        self
    }

    /// How long a leased delivery stays taken before another worker may take it
    /// (after a crash, say); keep it above the timeout. Default:
    /// [`DEFAULT_LEASE`](Self::DEFAULT_LEASE).
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease;
        self
    }

    /// Loads the active hooks into the in-memory index and starts the delivery
    /// engine on the current tokio runtime; on a store that several processes share,
    /// also follows their changes to it.
    pub async fn build(self) -> Result<Hooks> {
        let store: Arc<dyn Store> = match self.secret_key {
            Some(key) => Arc::new(EncryptedStore::new(
                self.store,
                key,
                self.previous_secret_key,
            )),
            None => self.store,
        };
        // Listening starts before the index is loaded, so that no change falls
        // between the two.
        let notices = store.notices().await?;
        let index = Arc::new(SharedIndex::new(store.list_fired_hooks().await?));
        let deliverer = match self.deliverer {
            Some(deliverer) => deliverer,
            None => {
                let (policy, timeout, per_host) =
                    (self.policy.clone(), self.timeout, self.per_host);
                let deliverer = match &self.proxy {
                    Some(proxy) => HttpDeliverer::with_proxy(policy, timeout, per_host, proxy),
                    None => HttpDeliverer::new(policy, timeout, per_host),
                };
                Arc::new(deliverer.map_err(Error::Client)?)
            }
        };
        let confirmer = self
            .confirm_targets
            .then(|| Confirmer::new(&self.policy, self.timeout))
            .transpose()?;
        let tasks = Tasks::new();
        let wake = Arc::new(Notify::new());
        let (observers, _) = broadcast::channel(1024);
        if self.config.concurrency > 0 {
            let engine = Arc::new(Engine {
                store: Arc::clone(&store),
                deliverer,
                index: Arc::clone(&index),
                observers: observers.clone(),
                wake: Arc::clone(&wake),
                config: self.config,
            });
            tasks.spawn("delivery engine", engine.run(tasks.stop_signal()));
        }
        if let Some(notices) = notices {
            let follower = Follower {
                store: Arc::clone(&store),
                index: Arc::clone(&index),
                wake: Arc::clone(&wake),
            };
            tasks.spawn("follower", follower.run(notices, tasks.stop_signal()));
        }
        if self.retention != Duration::MAX {
            let purger = Purger {
                store: Arc::clone(&store),
                retention: self.retention,
                interval: self.purge_interval,
            };
            tasks.spawn("purger", purger.run(tasks.stop_signal()));
        }
        Ok(Hooks {
            inner: Arc::new(Inner {
                registry: self.registry,
                store,
                finder: self.finder,
                policy: self.policy,
                confirmer,
                max_hooks_per_owner: self.max_hooks_per_owner,
                max_payload: self.max_payload,
                secret_grace: self.secret_grace,
                retention: self.retention,
                reconnect_within: self.reconnect_within,
                index,
                wake,
                observers,
                tasks,
            }),
        })
    }
}
