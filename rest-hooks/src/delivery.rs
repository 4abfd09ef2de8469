//! Deliveries: one event for one hook, queued in the store (the outbox) until a
//! worker has posted it.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::hook::Hook;

/// One event on its way to one hook.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The delivery's id: a UUIDv7, the same on every attempt.
    pub id: Uuid,
    /// The hook it goes to.
    pub hook_id: Uuid,
    /// The hook's owner.
    pub owner: String,
    /// The event name.
    pub event: String,
    /// The URL it is posted to.
    pub target: String,
    /// The JSON body.
    pub payload: Vec<u8>,
    /// Where it stands.
    pub state: DeliveryState,
    /// How many attempts were made.
    pub attempts: u32,
    /// When it was fired.
    pub created_at: OffsetDateTime,
}

impl Delivery {
    /// A pending delivery of `payload` to `hook`.
    pub fn new(hook: &Hook, payload: Vec<u8>) -> Self {
        Self {
            id: Uuid::now_v7(),
            hook_id: hook.id,
            owner: hook.owner.clone(),
            event: hook.event.clone(),
            target: hook.target.clone(),
            payload,
            state: DeliveryState::Pending,
            attempts: 0,
            created_at: crate::store::from_millis(crate::store::now_millis()),
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its first or next attempt.
    Pending,
    /// The target answered 2xx.
    Delivered,
    /// Given up on.
    Failed,
}

impl DeliveryState {
    /// The name stored in SQL.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    /// The state stored as `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "failed" => Some(DeliveryState::Failed),
            _ => None,
        }
    }
}

/// How a delivery attempt ended, as the worker records it in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// The target took it: done.
    Delivered,
    /// Given up on.
    Failed,
}

impl Settle {
    /// The state a delivery is left in.
    pub const fn state(&self) -> DeliveryState {
        match self {
            Settle::Delivered => DeliveryState::Delivered,
            Settle::Failed => DeliveryState::Failed,
        }
    }
}
