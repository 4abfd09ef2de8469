//! Signing secrets at rest: a [`Store`] that keeps them encrypted with the
//! application's key (XChaCha20-Poly1305, a fresh nonce each) and hands them out
//! decrypted, so that they are in the clear only in memory.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{Claim, Disable, Notice, Purged, QueueDepth, Store, StoreError};
use crate::error::{Error, Result};
use crate::hook::{Hook, HookPatch};
use crate::queue::{Attempt, Delivery, DeliveryFilter, HookChange, Outgoing, Recorded};

/// What an encrypted secret starts with, in the store; a secret without it was
/// stored before a key was given, and is read as it is.
const SEALED: &str = "enc:v1:";

/// The store of the application, with its secrets sealed under `key`; `previous`
/// opens what an earlier key sealed, while the key is being changed.
pub(crate) struct EncryptedStore {
    inner: Arc<dyn Store>,
    key: XChaCha20Poly1305,
    previous: Option<XChaCha20Poly1305>,
}

impl EncryptedStore {
    pub(crate) fn new(inner: Arc<dyn Store>, key: [u8; 32], previous: Option<[u8; 32]>) -> Self {
        let cipher = |key: [u8; 32]| XChaCha20Poly1305::new(&Key::from(key));
        Self {
            inner,
            key: cipher(key),
            previous: previous.map(cipher),
        }
    }

    /// `secret`, sealed with the key and a fresh nonce: `enc:v1:` and the base64
    /// of the nonce and the ciphertext.
    fn seal(&self, secret: &str) -> Result<String> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(Error::Randomness)?;
        let sealed = self
            .key
            .encrypt(&XNonce::from(nonce), secret.as_bytes())
            .map_err(|_| StoreError::message("a secret could not be encrypted"))
            .map_err(Error::Store)?;
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        Ok(format!("{SEALED}{}", BASE64.encode(bytes)))
    }

    /// A stored secret, opened with the key or, while the key changes, the
    /// previous one.
    fn open(&self, stored: &str) -> Result<String> {
        let Some(encoded) = stored.strip_prefix(SEALED) else {
            return Ok(stored.to_owned());
        };
        let unreadable = || {
            Error::Store(StoreError::message(
                "a stored secret does not open with the secret keys given (was the key changed without `previous_secret_key`?)",
            ))
        };
        let bytes = BASE64.decode(encoded).map_err(|_| unreadable())?;
        if bytes.len() < 24 {
            return Err(unreadable());
        }
        let (nonce, sealed) = bytes.split_at(24);
        let nonce = XNonce::try_from(nonce).map_err(|_| unreadable())?;
        let opened = self
            .key
            .decrypt(&nonce, sealed)
            .or_else(|_| match &self.previous {
                Some(previous) => previous.decrypt(&nonce, sealed),
                None => Err(chacha20poly1305::aead::Error),
            })
            .map_err(|_| unreadable())?;
        String::from_utf8(opened).map_err(|_| unreadable())
    }

    fn open_hook(&self, mut hook: Hook) -> Result<Hook> {
        hook.secret = self.open(&hook.secret)?;
        Ok(hook)
    }

    fn open_hooks(&self, hooks: Vec<Hook>) -> Result<Vec<Hook>> {
        hooks.into_iter().map(|h| self.open_hook(h)).collect()
    }

    fn sealed_hook(&self, hook: &Hook) -> Result<Hook> {
        let mut sealed = hook.clone();
        sealed.secret = self.seal(&hook.secret)?;
        Ok(sealed)
    }
}

#[async_trait]
impl Store for EncryptedStore {
    async fn insert_hook(&self, hook: &Hook, quota: usize) -> Result<()> {
        self.inner
            .insert_hook(&self.sealed_hook(hook)?, quota)
            .await
    }

    async fn insert_hook_once(
        &self,
        hook: &Hook,
        quota: usize,
        key: &str,
        request: &str,
        since: i64,
    ) -> Result<Claim> {
        let sealed = self.sealed_hook(hook)?;
        self.inner
            .insert_hook_once(&sealed, quota, key, request, since)
            .await
    }

    async fn get_hook(&self, owner: &str, id: Uuid) -> Result<Option<Hook>> {
        let hook = self.inner.get_hook(owner, id).await?;
        hook.map(|h| self.open_hook(h)).transpose()
    }

    async fn get_hook_by_id(&self, id: Uuid) -> Result<Option<Hook>> {
        let hook = self.inner.get_hook_by_id(id).await?;
        hook.map(|h| self.open_hook(h)).transpose()
    }

    async fn list_hooks(
        &self,
        owner: &str,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Hook>> {
        self.open_hooks(self.inner.list_hooks(owner, after, limit).await?)
    }

    async fn list_fired_hooks(&self) -> Result<Vec<Hook>> {
        self.open_hooks(self.inner.list_fired_hooks().await?)
    }

    async fn update_hook(&self, owner: &str, id: Uuid, patch: &HookPatch) -> Result<Option<Hook>> {
        let hook = self.inner.update_hook(owner, id, patch).await?;
        hook.map(|h| self.open_hook(h)).transpose()
    }

    async fn delete_hook(&self, owner: &str, id: Uuid) -> Result<bool> {
        self.inner.delete_hook(owner, id).await
    }

    async fn rotate_secret(
        &self,
        owner: &str,
        id: Uuid,
        secret: &str,
        previous_until: OffsetDateTime,
    ) -> Result<Option<Hook>> {
        let sealed = self.seal(secret)?;
        let hook = self
            .inner
            .rotate_secret(owner, id, &sealed, previous_until)
            .await?;
        hook.map(|h| self.open_hook(h)).transpose()
    }

    async fn enqueue(&self, deliveries: Vec<Delivery>) -> Result<()> {
        self.inner.enqueue(deliveries).await
    }

    async fn lease(&self, limit: usize, lease: Duration) -> Result<Vec<Outgoing>> {
        let mut leased = self.inner.lease(limit, lease).await?;
        for outgoing in &mut leased {
            // The hook's secret must open; a rotated-out one sealed under a key
            // since retired stops signing instead.
            let mut secrets = std::mem::take(&mut outgoing.secrets).into_iter();
            if let Some(current) = secrets.next() {
                outgoing.secrets.push(self.open(&current)?);
            }
            outgoing
                .secrets
                .extend(secrets.filter_map(|s| self.open(&s).ok()));
        }
        Ok(leased)
    }

    async fn release(&self, ids: &[Uuid]) -> Result<()> {
        self.inner.release(ids).await
    }

    async fn record(&self, recorded: &[Recorded], disable: &Disable) -> Result<Vec<HookChange>> {
        self.inner.record(recorded, disable).await
    }

    async fn get_delivery(&self, owner: &str, id: Uuid) -> Result<Option<Delivery>> {
        self.inner.get_delivery(owner, id).await
    }

    async fn list_deliveries(
        &self,
        owner: &str,
        filter: &DeliveryFilter,
        before: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Delivery>> {
        self.inner
            .list_deliveries(owner, filter, before, limit)
            .await
    }

    async fn recover(&self, owner: &str, hook_id: Uuid, since: i64, until: i64) -> Result<u64> {
        self.inner.recover(owner, hook_id, since, until).await
    }

    async fn list_attempts(&self, owner: &str, delivery_ids: &[Uuid]) -> Result<Vec<Attempt>> {
        self.inner.list_attempts(owner, delivery_ids).await
    }

    async fn redeliver(&self, owner: &str, delivery_id: Uuid) -> Result<bool> {
        self.inner.redeliver(owner, delivery_id).await
    }

    async fn purge_deliveries(
        &self,
        after: Option<Uuid>,
        before: i64,
        limit: usize,
    ) -> Result<Purged> {
        self.inner.purge_deliveries(after, before, limit).await
    }

    async fn purge_idempotency_keys(&self, before: i64, limit: usize) -> Result<u64> {
        self.inner.purge_idempotency_keys(before, limit).await
    }

    async fn queue_depth(&self, now: i64) -> Result<QueueDepth> {
        self.inner.queue_depth(now).await
    }

    async fn notices(&self) -> Result<Option<mpsc::Receiver<Notice>>> {
        self.inner.notices().await
    }
}
