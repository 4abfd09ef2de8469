//! Where hooks and the delivery queue (the outbox) live: the [`Store`] trait and its
//! backends, which pass one conformance suite.

use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use crate::delivery::{Delivery, Settle};
use crate::error::Result;
use crate::hook::Hook;

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::PgStore;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql::WriteDeliveries;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// Hooks and their delivery queue, kept by one backend.
///
/// Every method that takes an owner scopes to it: another owner's hook is as absent
/// as one that never existed.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a new hook.
    async fn insert_hook(&self, hook: &Hook) -> Result<()>;

    /// The owner's hook with this id.
    async fn hook(&self, owner: &str, id: Uuid) -> Result<Option<Hook>>;

    /// The owner's hooks, oldest first.
    async fn hooks(&self, owner: &str) -> Result<Vec<Hook>>;

    /// Deletes the owner's hook and its queued deliveries; `false` when the owner
    /// has no such hook.
    async fn delete_hook(&self, owner: &str, id: Uuid) -> Result<bool>;

    /// Every active hook of every owner: what the in-memory index is built from.
    async fn active_hooks(&self) -> Result<Vec<Hook>>;

    /// Queues deliveries, all or none.
    async fn enqueue(&self, deliveries: &[Delivery]) -> Result<()>;

    /// Takes up to `limit` due deliveries for `lease`: until it runs out, no other
    /// worker gets them; after it, they are due again unless settled.
    async fn lease(&self, limit: usize, lease: Duration) -> Result<Vec<Delivery>>;

    /// Records how an attempt at a leased delivery ended.
    async fn settle(&self, id: Uuid, outcome: Settle) -> Result<()>;

    /// The delivery with this id, in whatever state.
    async fn delivery(&self, id: Uuid) -> Result<Option<Delivery>>;
}

/// Milliseconds since the Unix epoch, as the stores keep times.
pub(crate) fn now_millis() -> i64 {
    millis(time::OffsetDateTime::now_utc())
}

pub(crate) fn millis(at: time::OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub(crate) fn from_millis(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

pub(crate) fn lease_millis(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}
