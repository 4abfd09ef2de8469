//! Firing inside the caller's own SQL transaction: the deliveries exist if and only
//! if it commits.

use serde::Serialize;

use super::Hooks;
use crate::error::Result;
use crate::event::{Audience, Event, Raw};
use crate::model::HookModel;
use crate::queue::Delivery;
use crate::store::WriteDeliveries;

impl Hooks {
    /// [`created`](Self::created), queued in the caller's transaction.
    #[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
    pub async fn created_in<M: HookModel>(
        &self,
        tx: &mut impl WriteDeliveries,
        model: &M,
    ) -> Result<usize> {
        self.action_in(tx, model, "created").await
    }

    /// [`updated`](Self::updated), queued in the caller's transaction.
    #[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
    pub async fn updated_in<M: HookModel>(
        &self,
        tx: &mut impl WriteDeliveries,
        model: &M,
    ) -> Result<usize> {
        self.action_in(tx, model, "updated").await
    }

    /// [`deleted`](Self::deleted), queued in the caller's transaction.
    #[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
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
    #[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
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
    #[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
    pub async fn fire_raw_in<E, P>(
        &self,
        tx: &mut impl WriteDeliveries,
        _event: E,
        payload: &P,
        audience: Audience<'_>,
    ) -> Result<usize>
    where
        E: Event<Model = Raw>,
        P: Serialize + ?Sized,
    {
        let spec = self.spec(E::NAME)?;
        write_in(tx, self.raw_deliveries(spec, payload, audience)?).await
    }

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
}

async fn write_in(tx: &mut impl WriteDeliveries, deliveries: Vec<Delivery>) -> Result<usize> {
    if !deliveries.is_empty() {
        tx.write_deliveries(&deliveries).await?;
    }
    Ok(deliveries.len())
}
