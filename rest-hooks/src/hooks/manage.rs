//! Managing subscriptions and reading the delivery log: what the management API
//! calls, each scoped to one owner.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::Hooks;
use crate::clock::millis;
use crate::error::{Error, Result};
use crate::hook::{Hook, HookPatch, NewHook, generate_secret};
use crate::model::HookInfo;
use crate::queue::{Attempt, Delivery, DeliveryFilter};
use crate::store::Claim;

impl Hooks {
    /// Subscribes a target to an event for an owner.
    ///
    /// Errors: [`Error::UnknownEvent`], [`Error::InvalidTarget`],
    /// [`Error::TargetNotAllowed`], [`Error::InvalidSecret`],
    /// [`Error::InvalidHeader`], [`Error::InvalidMetadata`],
    /// [`Error::QuotaExceeded`]; nothing is stored then.
    /// With [`confirm_targets`](super::HooksBuilder::confirm_targets), the target
    /// must confirm first ([`Error::TargetNotConfirmed`]).
    pub async fn subscribe(&self, new: NewHook) -> Result<Hook> {
        let hook = self.new_hook(new).await?;
        let quota = self.inner.max_hooks_per_owner;
        self.inner.store.insert_hook(&hook, quota).await?;
        self.inner.index.put(hook.clone());
        Ok(hook)
    }

    /// How long an idempotency key answers the request it was first used with.
    pub const IDEMPOTENCY_WINDOW: Duration = Duration::hours(24);

    /// [`subscribe`](Self::subscribe) under an idempotency key of the owner (the
    /// `Idempotency-Key` of `POST /hooks`): the same key with the same request
    /// within [`IDEMPOTENCY_WINDOW`](Self::IDEMPOTENCY_WINDOW) answers the hook
    /// the first one made, instead of making a second; with another request it is
    /// [`Error::IdempotencyConflict`]. The keys are kept in the store, so this
    /// holds across processes that share it. Returns the hook, and whether an
    /// earlier request made it.
    pub async fn subscribe_once(&self, new: NewHook, key: &str) -> Result<(Hook, bool)> {
        let request = fingerprint(&new)?;
        let owner = new.owner.clone();
        let hook = self.new_hook(new).await?;
        let since = millis(OffsetDateTime::now_utc() - Self::IDEMPOTENCY_WINDOW);
        let conflict = |reason| Error::IdempotencyConflict {
            key: key.to_owned(),
            reason,
        };
        match self
            .inner
            .store
            .insert_hook_once(&hook, self.inner.max_hooks_per_owner, key, &request, since)
            .await?
        {
            Claim::Inserted => {
                self.inner.index.put(hook.clone());
                Ok((hook, false))
            }
            Claim::Taken {
                request: earlier,
                hook_id,
            } if earlier == request => match self.get_hook(&owner, hook_id).await {
                Ok(hook) => Ok((hook, true)),
                Err(Error::HookNotFound(_)) => Err(conflict("the hook it made is gone")),
                Err(other) => Err(other),
            },
            Claim::Taken { .. } => Err(conflict("it was used for another request")),
        }
    }

    /// The hook `new` asks for, validated and, when targets must confirm,
    /// confirmed.
    async fn new_hook(&self, new: NewHook) -> Result<Hook> {
        let hook = new
            .into_hook(self.inner.registry, &self.inner.policy)
            .await?;
        if let Some(confirmer) = &self.inner.confirmer {
            confirmer.confirm(&hook).await?;
        }
        Ok(hook)
    }

    /// Deletes the owner's hook with its deliveries; [`Error::HookNotFound`] when
    /// the owner has none with this id.
    pub async fn unsubscribe(&self, owner: &str, id: Uuid) -> Result<()> {
        // The delete is scoped to the owner: another owner's hook is not found.
        if !self.inner.store.delete_hook(owner, id).await? {
            return Err(Error::HookNotFound(id));
        }
        self.inner.index.delete(id);
        Ok(())
    }

    /// The owner's hook; [`Error::HookNotFound`] when the owner has none with this
    /// id.
    pub async fn get_hook(&self, owner: &str, id: Uuid) -> Result<Hook> {
        self.inner
            .store
            .get_hook(owner, id)
            .await?
            .ok_or(Error::HookNotFound(id))
    }

    /// The owner's hooks, oldest first: at most `limit`, after the hook `after`
    /// when given (the last id of the previous page).
    pub async fn list_hooks(
        &self,
        owner: &str,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Hook>> {
        self.inner.store.list_hooks(owner, after, limit).await
    }

    /// Changes the owner's hook: its target (checked as at subscribe), whether it
    /// is active (pause, resume, or enable again after the library disabled it,
    /// releasing what it held unless `replay` is off), its metadata or its
    /// headers. The change reaches the index of every process.
    ///
    /// Errors: [`Error::HookNotFound`], and those of [`subscribe`](Self::subscribe)
    /// for the target and headers; nothing is changed then.
    pub async fn update_hook(&self, owner: &str, id: Uuid, patch: HookPatch) -> Result<Hook> {
        let patch = patch.validated(&self.inner.policy).await?;
        if let (Some(confirmer), Some(target)) = (&self.inner.confirmer, &patch.target) {
            let before = self.get_hook(owner, id).await?;
            if before.target != *target {
                confirmer.confirm(&patch.apply(&before)).await?;
            }
        }
        let hook = self
            .inner
            .store
            .update_hook(owner, id, &patch)
            .await?
            .ok_or(Error::HookNotFound(id))?;
        self.inner.index.put(hook.clone());
        if patch.active == Some(true) {
            self.wake();
        }
        Ok(hook)
    }

    /// Gives the owner's hook a new secret. The old one keeps signing alongside it
    /// (a second signature in `webhook-signature`) for the
    /// [grace period](super::HooksBuilder::secret_grace), so receivers can switch
    /// over.
    pub async fn rotate_secret(&self, owner: &str, id: Uuid) -> Result<Hook> {
        let secret = generate_secret()?;
        let until = OffsetDateTime::now_utc() + self.inner.secret_grace;
        self.inner
            .store
            .rotate_secret(owner, id, &secret, until)
            .await?
            .ok_or(Error::HookNotFound(id))
    }

    /// The owner's delivery; [`Error::DeliveryNotFound`] when the owner has none
    /// with this id.
    pub async fn get_delivery(&self, owner: &str, id: Uuid) -> Result<Delivery> {
        self.inner
            .store
            .get_delivery(owner, id)
            .await?
            .ok_or(Error::DeliveryNotFound(id))
    }

    /// The owner's deliveries that `filter` picks, newest first: at most `limit`,
    /// older than `before` when given (the last id of the previous page).
    /// [`Error::HookNotFound`] when the filter names a hook the owner does not
    /// have.
    pub async fn list_deliveries(
        &self,
        owner: &str,
        filter: &DeliveryFilter,
        before: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Delivery>> {
        if let Some(hook) = filter.hook {
            self.get_hook(owner, hook).await?;
        }
        self.inner
            .store
            .list_deliveries(owner, filter, before, limit)
            .await
    }

    /// How far back [`recover`](Self::recover) reaches.
    pub const RECOVER_WINDOW: Duration = Duration::days(14);

    /// Sends again the owner's hook's deliveries that failed, of those fired from
    /// `since` until `until` (now, when `None`), at most
    /// [`RECOVER_WINDOW`](Self::RECOVER_WINDOW) back: after an outage of the
    /// receiver that outlasted the retries, say. Returns how many were queued.
    ///
    /// Errors: [`Error::HookNotFound`]; [`Error::InvalidWindow`] for a window that
    /// is empty or reaches further back.
    pub async fn recover(
        &self,
        owner: &str,
        hook_id: Uuid,
        since: OffsetDateTime,
        until: Option<OffsetDateTime>,
    ) -> Result<u64> {
        let now = OffsetDateTime::now_utc();
        let until = until.unwrap_or(now);
        if since < now - Self::RECOVER_WINDOW {
            return Err(Error::InvalidWindow("`since` is more than 14 days back"));
        }
        if until <= since {
            return Err(Error::InvalidWindow("`until` is not after `since`"));
        }
        self.get_hook(owner, hook_id).await?;
        let recovered = self
            .inner
            .store
            .recover(owner, hook_id, millis(since), millis(until))
            .await?;
        if recovered > 0 {
            self.wake();
        }
        Ok(recovered)
    }

    /// The attempts at the owner's deliveries, each delivery's newest first: when,
    /// status or error, how long, and the start of the response. A delivery of
    /// another owner has none.
    pub async fn list_attempts(&self, owner: &str, delivery_ids: &[Uuid]) -> Result<Vec<Attempt>> {
        self.inner.store.list_attempts(owner, delivery_ids).await
    }

    /// Sends the owner's hook a test delivery now: the event's example payload
    /// ([`Registry::example_payload`](crate::Registry::example_payload)), signed
    /// like any other and marked as a test in the log. Returns its id. A hook that
    /// is not active holds it, as it holds the others.
    pub async fn send_test(&self, owner: &str, hook_id: Uuid) -> Result<Uuid> {
        let hook = self.get_hook(owner, hook_id).await?;
        let id = hook.id.to_string();
        let info = HookInfo {
            id: &id,
            event: &hook.event,
            target: &hook.target,
        };
        let payload = self
            .inner
            .registry
            .example_payload(&hook.event, &info)
            .ok_or_else(|| Error::UnknownEvent(hook.event.clone()))?;
        let mut delivery = Delivery::new(&hook, serde_json::to_vec(&payload)?);
        delivery.test = true;
        let delivery_id = delivery.id;
        self.inner.store.enqueue(vec![delivery]).await?;
        self.wake();
        Ok(delivery_id)
    }

    /// Sends the owner's delivery again, now, by hand: one that failed, or even one
    /// that was delivered. A pending one is left as it is.
    pub async fn redeliver(&self, owner: &str, delivery_id: Uuid) -> Result<()> {
        self.get_delivery(owner, delivery_id).await?;
        if self.inner.store.redeliver(owner, delivery_id).await? {
            self.wake();
        }
        Ok(())
    }
}

/// A fingerprint of a subscription request: what an idempotency key is checked
/// against. Its JSON is canonical (fields in order, maps sorted).
fn fingerprint(new: &NewHook) -> Result<String> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(serde_json::to_vec(new)?);
    Ok(base64::engine::general_purpose::STANDARD.encode(digest))
}
