//! Retention: the delivery log is kept for a period, then deleted by a background
//! task in small batches, so that the store stops growing and firing never waits
//! long behind the deletes.
//!
//! The rules: a delivery fired longer ago than the retention is deleted with its
//! attempts once it is no longer pending (delivered, failed, discarded, or held
//! for a hook nobody enabled again in time); a pending one stays until it ends.
//! Idempotency keys go once their window has passed.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::Hooks;
use crate::clock::{duration_millis, millis, now_millis};
use crate::delivery::Stop;
use crate::error::Result;
use crate::store::Store;

/// How many deliveries one statement deletes at most: on SQLite, whose one writer
/// firing waits behind, a batch of 500 held it about 9 ms in `purge_latency`
/// (1,000: 15 ms; 250: 6 ms, at half the speed).
const BATCH: usize = 500;

/// The pause after each batch: whatever waited for the store behind it goes
/// first.
const PAUSE: Duration = Duration::from_millis(20);

/// The task that purges one store every `interval`.
pub(super) struct Purger {
    pub(super) store: Arc<dyn Store>,
    pub(super) retention: Duration,
    pub(super) interval: Duration,
}

impl Purger {
    /// Purges now, and then every interval, until `stop` says so. A purge that
    /// fails is logged and tried again at the next interval.
    ///
    /// Stopping ends a purge between two batches, never inside one: a store
    /// call dropped half-way can leave its pooled connection inside a
    /// transaction whose locks the next borrower's statements then wait on
    /// (sqlx 0.9.0 on PostgreSQL, transact-rs/sqlx#4393).
    pub(super) async fn run(self, mut stop: Stop) {
        loop {
            let stopping = || stop.borrow().is_some();
            if let Err(error) = purge(&*self.store, self.retention, stopping).await {
                tracing::warn!(%error, "could not purge the delivery log; will try again");
            }
            // Returns at once when the stop came during the purge.
            tokio::select! {
                () = tokio::time::sleep(self.interval) => {}
                _ = stop.wait_for(Option::is_some) => return,
            }
        }
    }
}

impl Hooks {
    /// Deletes now what the retention no longer keeps (see
    /// [`HooksBuilder::retention`](super::HooksBuilder::retention)), as the
    /// background task does every purge interval; how many deliveries were
    /// deleted. On a store that several processes share, one purges at a time:
    /// this deletes nothing while another process purges.
    pub async fn purge_now(&self) -> Result<u64> {
        purge(&*self.inner.store, self.inner.retention, || false).await
    }
}

/// Deletes, batch by batch, the deliveries older than `retention` that are no
/// longer pending, and the idempotency keys older than their window; before each
/// batch, ends early if `stopping` says so.
async fn purge(store: &dyn Store, retention: Duration, stopping: impl Fn() -> bool) -> Result<u64> {
    let now = now_millis();
    let before = now.saturating_sub(duration_millis(retention));
    let mut after = None;
    let mut deleted = 0;
    loop {
        if stopping() {
            return Ok(deleted);
        }
        let batch = store.purge_deliveries(after, before, BATCH).await?;
        deleted += batch.deleted;
        metrics::counter!("rest_hooks_purged_deliveries_total").increment(batch.deleted);
        match batch.last {
            Some(last) => after = Some(last),
            None => break,
        }
        tokio::time::sleep(PAUSE).await;
    }
    let keys_before = millis(OffsetDateTime::now_utc() - Hooks::IDEMPOTENCY_WINDOW);
    while !stopping() && store.purge_idempotency_keys(keys_before, BATCH).await? == BATCH as u64 {
        tokio::time::sleep(PAUSE).await;
    }
    if deleted > 0 {
        tracing::debug!(deleted, "purged the delivery log");
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use uuid::{NoContext, Timestamp, Uuid};

    use super::*;
    use crate::queue::{Delivery, DeliveryState};
    use crate::store::MemoryStore;

    /// `count` failed deliveries, fired an hour ago.
    fn failed_an_hour_ago(count: usize) -> Vec<Delivery> {
        let an_hour_ago = OffsetDateTime::now_utc() - Duration::from_secs(3600);
        let seconds = u64::try_from(an_hour_ago.unix_timestamp()).unwrap();
        (0..count)
            .map(|n| Delivery {
                id: Uuid::new_v7(Timestamp::from_unix(NoContext, seconds, n as u32)),
                hook_id: Uuid::nil(),
                owner: "ann".into(),
                event: "book.added".into(),
                target: "https://example.com/in".into(),
                payload: b"{}".to_vec(),
                state: DeliveryState::Failed,
                attempts: 1,
                created_at: an_hour_ago,
                test: false,
            })
            .collect()
    }

    #[tokio::test]
    async fn a_purge_told_to_stop_ends_between_two_batches() {
        let store = MemoryStore::new();
        store
            .enqueue(failed_an_hour_ago(BATCH + 100))
            .await
            .unwrap();
        let asked = Cell::new(0);
        let stop_after_one_batch = || {
            asked.set(asked.get() + 1);
            asked.get() > 1
        };
        let retention = Duration::from_secs(60);
        let deleted = purge(&store, retention, stop_after_one_batch)
            .await
            .unwrap();
        assert_eq!(deleted, BATCH as u64, "one whole batch, and no more");
        // The next purge takes the rest.
        assert_eq!(purge(&store, retention, || false).await.unwrap(), 100);
    }
}
