//! Where hooks and the delivery queue (the outbox) live: the [`Store`] trait and its
//! backends, which pass one conformance suite, and what implementing one takes.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::clock::duration_millis;
use crate::error::Result;
use crate::hook::{Hook, HookPatch};
use crate::queue::{Attempt, Delivery, DeliveryFilter, Outgoing};

mod encrypted;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
mod queue_rules;
#[cfg(feature = "sql")]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use crate::error::StoreError;
pub use crate::queue::{HookChange, Recorded};
pub(crate) use encrypted::EncryptedStore;
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PgStore;
#[cfg(feature = "sql")]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub use sql::WriteDeliveries;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteStore;

/// Hooks and their delivery queue, kept by one backend.
///
/// Every method that takes an owner scopes to it: another owner's hook or delivery
/// is as absent as one that never existed. Reads are `get_*` (one, or `None`) and
/// `list_*` (a page), with the nouns of [`Hooks`](crate::Hooks)' own reads.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a new hook, unless its owner has `quota` hooks already:
    /// [`Error::QuotaExceeded`](crate::Error::QuotaExceeded) then.
    async fn insert_hook(&self, hook: &Hook, quota: usize) -> Result<()>;

    /// Stores a new hook (within `quota`, as [`insert_hook`](Self::insert_hook))
    /// under an idempotency key of its owner, unless the key
    /// names a request already, made at or after `since` (milliseconds): then
    /// nothing is stored, and that request's fingerprint and hook come back. An
    /// older use of the key is forgotten.
    async fn insert_hook_once(
        &self,
        hook: &Hook,
        quota: usize,
        key: &str,
        request: &str,
        since: i64,
    ) -> Result<Claim>;

    /// The owner's hook with this id.
    async fn get_hook(&self, owner: &str, id: Uuid) -> Result<Option<Hook>>;

    /// The hook with this id, whoever owns it and whether or not it is active:
    /// what a notice about it is followed with.
    async fn get_hook_by_id(&self, id: Uuid) -> Result<Option<Hook>>;

    /// The owner's hooks, oldest first: at most `limit`, after the hook `after` when
    /// given.
    async fn list_hooks(&self, owner: &str, after: Option<Uuid>, limit: usize)
    -> Result<Vec<Hook>>;

    /// Every hook of every owner that events are fired to (active, or disabled
    /// and holding its events; not paused): what the in-memory index is built
    /// from.
    async fn list_fired_hooks(&self) -> Result<Vec<Hook>>;

    /// Changes the owner's hook as `patch` says (validated already), and what
    /// follows for its deliveries (`HeldDeliveries` in the queue rules): pausing
    /// holds the pending ones; enabling again clears why the hook was disabled
    /// and its failing streak, and releases the held ones, or discards them
    /// without `replay`. `None` when the owner has no such hook.
    async fn update_hook(&self, owner: &str, id: Uuid, patch: &HookPatch) -> Result<Option<Hook>>;

    /// Deletes the owner's hook with its deliveries and their attempts; `false` when
    /// the owner has no such hook.
    async fn delete_hook(&self, owner: &str, id: Uuid) -> Result<bool>;

    /// Replaces the owner's hook's secret with `secret`; the old one keeps signing
    /// too until `previous_until`. `None` when the owner has no such hook.
    async fn rotate_secret(
        &self,
        owner: &str,
        id: Uuid,
        secret: &str,
        previous_until: OffsetDateTime,
    ) -> Result<Option<Hook>>;

    /// Queues deliveries, all or none, due at once.
    async fn enqueue(&self, deliveries: Vec<Delivery>) -> Result<()>;

    /// Takes up to `limit` due deliveries for `lease`, oldest due first: until it runs
    /// out, no other worker gets them; after it, they are due again unless recorded.
    /// Deliveries of a hook that was disabled or deleted after they were queued are
    /// not handed out (see `Leased` in the queue rules).
    async fn lease(&self, limit: usize, lease: Duration) -> Result<Vec<Outgoing>>;

    /// Gives leased deliveries back, due at once, without an attempt (a worker that
    /// stops before it sends them).
    async fn release(&self, ids: &[Uuid]) -> Result<()>;

    /// Records attempts and what follows them, in one transaction: the attempt log,
    /// the deliveries' states, hooks deleted by `410 Gone`, and hooks disabled because
    /// every delivery has failed for `disable.after` (see `RecordPlan` in the queue
    /// rules).
    async fn record(&self, recorded: &[Recorded], disable: &Disable) -> Result<Vec<HookChange>>;

    /// The owner's delivery with this id.
    async fn get_delivery(&self, owner: &str, id: Uuid) -> Result<Option<Delivery>>;

    /// The owner's deliveries that `filter` picks, newest first: at most `limit`,
    /// older than `before` when given.
    async fn list_deliveries(
        &self,
        owner: &str,
        filter: &DeliveryFilter,
        before: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Delivery>>;

    /// Makes the hook's failed deliveries fired in `[since, until)` (milliseconds)
    /// due again at once; how many there were.
    async fn recover(&self, owner: &str, hook_id: Uuid, since: i64, until: i64) -> Result<u64>;

    /// The attempts at those of these deliveries that are the owner's, newest
    /// first.
    async fn list_attempts(&self, owner: &str, delivery_ids: &[Uuid]) -> Result<Vec<Attempt>>;

    /// Makes the owner's delivery due again at once, for one more attempt sent by
    /// hand; `false` when the owner has no such delivery, or it is pending already.
    async fn redeliver(&self, owner: &str, delivery_id: Uuid) -> Result<bool>;

    /// Deletes deliveries fired before `before` (milliseconds; a delivery's
    /// UUIDv7 id tells when) that are no longer pending, with their attempts:
    /// delivered, failed, discarded, and held ones too (nobody released them in
    /// time). At most `limit`, oldest first, after the delivery `after` when
    /// given. A store that several processes share lets one of them purge at a
    /// time: a batch of another process takes nothing meanwhile.
    async fn purge_deliveries(
        &self,
        after: Option<Uuid>,
        before: i64,
        limit: usize,
    ) -> Result<Purged>;

    /// Forgets at most `limit` idempotency keys used before `before`
    /// (milliseconds); how many.
    async fn purge_idempotency_keys(&self, before: i64, limit: usize) -> Result<u64>;

    /// How many deliveries wait, in each state that matters to an operator, and
    /// since when the oldest due one has, at `now` (milliseconds).
    async fn queue_depth(&self, now: i64) -> Result<QueueDepth>;

    /// Starts reporting what other processes change in a store that several share:
    /// `None` (the default) for a store that only this process uses. Reporting has
    /// begun when this returns, so nothing changed after it is missed unless a
    /// [`Notice::Missed`] says so.
    async fn notices(&self) -> Result<Option<mpsc::Receiver<Notice>>> {
        Ok(None)
    }
}

/// The deliveries in the queue, by state, as [`Store::queue_depth`] counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueDepth {
    /// Pending, due, and taken by no worker.
    pub due: u64,
    /// Pending and taken by a worker.
    pub leased: u64,
    /// Held for a paused or disabled hook.
    pub held: u64,
    /// Given up on.
    pub failed: u64,
    /// When the oldest due delivery came due (milliseconds), if one is.
    pub oldest_due_at: Option<i64>,
}

/// What one batch of [`Store::purge_deliveries`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// How many deliveries it deleted, with their attempts.
    pub deleted: u64,
    /// The newest delivery the batch took, for the next batch to go on after;
    /// `None` when none was left to take (or another process purges).
    pub last: Option<Uuid>,
}

/// What [`Store::insert_hook_once`] found of the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free: the hook is stored under it.
    Inserted,
    /// The key names an earlier request: its fingerprint, and the hook it made.
    Taken {
        /// The fingerprint of the earlier request.
        request: String,
        /// The hook it made.
        hook_id: Uuid,
    },
}

/// A change to a shared store, made by this process or another one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Deliveries were queued, or made due again.
    Queued,
    /// The hook with this id was added, changed or deleted.
    Hook(Uuid),
    /// Notices may have been lost (the connection that brings them was lost and is
    /// back): anything may have changed.
    Missed,
}

/// When recording failures disables a hook: once every delivery to it has failed
/// for `after`, as the store's clock tells when it records.
#[derive(Debug, Clone, Copy)]
pub struct Disable {
    /// How long a hook may fail before it is disabled.
    pub after: Duration,
}

impl Disable {
    /// The latest start of a failing streak that disables a hook, `now` being the
    /// store's time in milliseconds.
    pub fn cutoff(&self, now: i64) -> i64 {
        now.saturating_sub(duration_millis(self.after))
    }

    /// The reason a disabled hook shows.
    pub fn reason(&self) -> String {
        let secs = self.after.as_secs();
        if secs > 0 && secs.is_multiple_of(86_400) {
            format!("every delivery failed for {} days", secs / 86_400)
        } else {
            format!("every delivery failed for {secs} s")
        }
    }
}
