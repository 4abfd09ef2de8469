//! Firing: an event becomes one delivery per hook that the finder picks from the
//! in-memory index, queued in the store.

use std::time::Duration;

use serde::Serialize;
use serde_json::value::RawValue;
use tokio::time::Instant;

use super::Hooks;
use crate::backoff::Backoff;
use crate::error::{Error, Result, StoreError};
use crate::event::{Audience, Event, EventSpec, Raw};
use crate::finder::Firing;
use crate::model::{HookInfo, HookModel};
use crate::queue::Delivery;

impl Hooks {
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

    /// Fires a raw event with any payload, to the hooks of `audience`:
    /// `Audience::Owner("42")` or `Audience::Everyone`.
    pub async fn fire_raw<E, P>(
        &self,
        _event: E,
        payload: &P,
        audience: Audience<'_>,
    ) -> Result<usize>
    where
        E: Event<Model = Raw>,
        P: Serialize + ?Sized,
    {
        let spec = self.spec(E::NAME)?;
        self.enqueue(self.raw_deliveries(spec, payload, audience)?)
            .await
    }

    async fn action<M: HookModel>(&self, model: &M, action: &str) -> Result<usize> {
        match self.inner.registry.for_action(M::APP, M::MODEL, action) {
            Some(spec) => self.enqueue(self.model_deliveries(spec, model)?).await,
            None => Ok(0),
        }
    }

    pub(super) fn spec(&self, name: &str) -> Result<&'static EventSpec> {
        self.inner
            .registry
            .get(name)
            .ok_or_else(|| Error::UnknownEvent(name.to_owned()))
    }

    /// The deliveries of a model event: one per hook the finder picks, with the
    /// model's payload for that hook.
    pub(super) fn model_deliveries<M: HookModel>(
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
        if M::__DEFAULT_PAYLOAD {
            let mut data = Data::new(model);
            self.build_deliveries(spec, audience, |hook| hook.default_body(data.get()?))
        } else {
            self.build_deliveries(spec, audience, |hook| {
                serde_json::to_vec(&model.payload(hook)?)
            })
        }
    }

    pub(super) fn raw_deliveries<P: Serialize + ?Sized>(
        &self,
        spec: &'static EventSpec,
        payload: &P,
        audience: Audience<'_>,
    ) -> Result<Vec<Delivery>> {
        let mut data = Data::new(payload);
        self.build_deliveries(spec, audience, |hook| hook.default_body(data.get()?))
    }

    fn build_deliveries(
        &self,
        spec: &'static EventSpec,
        audience: Audience<'_>,
        mut body: impl FnMut(&HookInfo<'_>) -> serde_json::Result<Vec<u8>>,
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
                let body = body(&info)?;
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
        self.store_deliveries(deliveries).await?;
        self.wake();
        Ok(count)
    }

    /// Stores the deliveries; when the store's connection was lost under the
    /// write, tries again on a new one until `reconnect_within` has passed. A try
    /// that finds them stored already (the lost commit had happened) is done.
    async fn store_deliveries(&self, deliveries: Vec<Delivery>) -> Result<()> {
        let deadline = Instant::now() + self.inner.reconnect_within;
        let mut backoff = Backoff::new(Duration::from_secs(1));
        let mut retrying = false;
        loop {
            let stored = self.inner.store.enqueue(deliveries.clone());
            let result = if retrying {
                match tokio::time::timeout_at(deadline, stored).await {
                    Ok(result) => result,
                    Err(_) => Err(Error::Store(StoreError::message(
                        "the store's connection was lost, and no new one worked in time",
                    ))),
                }
            } else {
                stored.await
            };
            let lost = match result {
                Ok(()) => return Ok(()),
                Err(Error::Store(error)) if retrying && error.is_duplicate() => return Ok(()),
                Err(Error::Store(error)) if error.is_connection_lost() => error,
                Err(error) => return Err(error),
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Store(lost));
            }
            tracing::debug!(error = %lost, "the store's connection was lost while firing; trying again");
            retrying = true;
            tokio::time::sleep(backoff.next_wait().min(deadline - now)).await;
        }
    }
}

/// The `data` of the default payload, serialized when the first hook needs it
/// and then spliced into every hook's payload: an event for many hooks
/// serializes its value once, and one for none not at all.
struct Data<'a, T: ?Sized> {
    value: &'a T,
    json: Option<Box<RawValue>>,
}

impl<'a, T: Serialize + ?Sized> Data<'a, T> {
    fn new(value: &'a T) -> Self {
        Self { value, json: None }
    }

    fn get(&mut self) -> serde_json::Result<&RawValue> {
        let json = match self.json.take() {
            Some(json) => json,
            None => serde_json::value::to_raw_value(self.value)?,
        };
        Ok(self.json.insert(json))
    }
}
