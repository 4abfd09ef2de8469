//! Subscriptions: a [`Hook`] is one owner's URL subscribed to one event,
//! [`NewHook`] what a subscription request carries and [`HookPatch`] a change to
//! one; both are validated here, by the same rules.

mod patch;
mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

pub use patch::HookPatch;
pub(crate) use validate::generate_secret;

/// One owner's subscription of a target URL to an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hook {
    /// The hook's id (a UUIDv7, so ids sort by creation).
    pub id: Uuid,
    /// Who subscribed: only this owner can read or delete the hook, and only this
    /// owner's events (and `+` events) reach it.
    pub owner: String,
    /// The event name (`"book.added"`).
    pub event: String,
    /// The URL that deliveries are posted to.
    pub target: String,
    /// The signing secret, `whsec_` and base64.
    pub secret: String,
    /// Whether the hook receives events; see [`state`](Self::state) for why not.
    pub active: bool,
    /// Why the library disabled the hook, when it did (every delivery failed for
    /// days); `None` for an active hook and one its owner paused.
    pub disabled_reason: Option<String>,
    /// When the hook was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// What the application keeps with the hook (the `HOOK_CUSTOM_MODEL` of
    /// django-rest-hooks); a custom [`Finder`](crate::finder::Finder) can filter on it.
    pub metadata: Value,
    /// Headers sent with every delivery of this hook (an API key the receiver
    /// wants, say); names in lowercase.
    pub headers: BTreeMap<String, String>,
}

impl Hook {
    /// The longest target URL accepted, in bytes.
    pub const MAX_TARGET_LEN: usize = 2048;
    /// The most custom headers a hook sends.
    pub const MAX_HEADERS: usize = 10;
    /// The longest value of a custom header, in bytes.
    pub const MAX_HEADER_VALUE_LEN: usize = 1024;

    /// Whether the hook is active, paused by its owner, or disabled by the library.
    pub fn state(&self) -> HookState {
        match (self.active, &self.disabled_reason) {
            (true, _) => HookState::Active,
            (false, None) => HookState::Paused,
            (false, Some(_)) => HookState::Disabled,
        }
    }

    /// Whether events are fired to the hook: an active one gets deliveries, a
    /// disabled one gets them held until it is enabled again; a paused one gets
    /// none.
    pub(crate) fn is_fired_to(&self) -> bool {
        self.state() != HookState::Paused
    }
}

/// Where a hook stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "axum", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HookState {
    /// Receives events.
    Active,
    /// Paused by its owner: events fired meanwhile are not kept for it.
    Paused,
    /// Disabled by the library after failing for too long: events fired meanwhile
    /// are held, and sent when the owner enables it again.
    Disabled,
}

/// A subscription request: [`Hooks::subscribe`](crate::Hooks::subscribe) validates it
/// and stores a [`Hook`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewHook {
    /// The owner the hook belongs to.
    pub owner: String,
    /// The event name; it must be in the registry.
    pub event: String,
    /// An absolute `http` or `https` URL.
    pub target: String,
    /// A signing secret (`whsec_` and base64); one is generated when `None`.
    pub secret: Option<String>,
    /// Free JSON kept with the hook; `null` when not given.
    pub metadata: Value,
    /// Headers sent with every delivery (see [`Hook::headers`]).
    pub headers: BTreeMap<String, String>,
}

impl NewHook {
    /// A request for `owner` to receive `event` at `target`, with a generated secret
    /// and no metadata.
    pub fn new(
        owner: impl Into<String>,
        event: impl Into<String>,
        target: impl Into<String>,
    ) -> Self {
        Self {
            owner: owner.into(),
            event: event.into(),
            target: target.into(),
            secret: None,
            metadata: Value::Null,
            headers: BTreeMap::new(),
        }
    }

    /// Keeps `metadata` with the hook.
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }

    /// Sends the header `name: value` with every delivery; `name` in lowercase.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Signs with `secret` (`whsec_` and base64) instead of a generated one.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self
    }
}

/// The hook the unit tests share: active, of `owner`, on `event`, to a loopback
/// target.
#[cfg(test)]
pub(crate) fn test_hook(owner: &str, event: &str) -> Hook {
    Hook {
        id: Uuid::now_v7(),
        owner: owner.into(),
        event: event.into(),
        target: "http://127.0.0.1:9/".into(),
        secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0".into(),
        active: true,
        disabled_reason: None,
        created_at: OffsetDateTime::UNIX_EPOCH,
        metadata: Value::Null,
        headers: BTreeMap::new(),
    }
}
