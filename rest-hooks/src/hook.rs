//! Subscriptions: a [`Hook`] is one owner's URL subscribed to one event, and
//! [`NewHook`] what a subscription request carries.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock;
use crate::error::{Error, Result};
use crate::registry::Registry;
use crate::target_policy::TargetPolicy;

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
    /// Whether the hook receives events.
    pub active: bool,
    /// Why the hook was disabled, when it was (for example, every delivery failed
    /// for days).
    pub disabled_reason: Option<String>,
    /// When the hook was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// What the application keeps with the hook (the `HOOK_CUSTOM_MODEL` of
    /// django-rest-hooks); a custom [`Finder`](crate::finder::Finder) can filter on it.
    pub metadata: Value,
}

impl Hook {
    /// The longest target URL accepted, in bytes.
    pub const MAX_TARGET_LEN: usize = 2048;
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
        }
    }

    /// Keeps `metadata` with the hook.
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }

    /// Signs with `secret` (`whsec_` and base64) instead of a generated one.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self
    }
}

impl NewHook {
    /// Validates the request and makes the hook it asks for: a new id, the given
    /// or a generated secret, active.
    pub(crate) async fn into_hook(
        self,
        registry: &Registry,
        policy: &TargetPolicy,
    ) -> Result<Hook> {
        check_event(registry, &self.event)?;
        let secret = match self.secret {
            Some(secret) => {
                check_secret(&secret)?;
                secret
            }
            None => generate_secret()?,
        };
        let target = check_target(policy, &self.target).await?;
        Ok(Hook {
            id: Uuid::now_v7(),
            owner: self.owner,
            event: self.event,
            target,
            secret,
            active: true,
            disabled_reason: None,
            // Stores keep milliseconds: the hook returned is the hook stored.
            created_at: clock::now(),
            metadata: self.metadata,
        })
    }
}

/// Checks that `event` is in the table.
pub(crate) fn check_event(registry: &Registry, event: &str) -> Result<()> {
    if registry.contains(event) {
        Ok(())
    } else {
        Err(Error::UnknownEvent(event.to_owned()))
    }
}

/// Checks a new or changed target, as a URL and against the target policy (the
/// SSRF guard), and gives it back normalized.
pub(crate) async fn check_target(policy: &TargetPolicy, target: &str) -> Result<String> {
    let url = parse_target(target)?;
    if let Err(reason) = policy.check(&url).await {
        return Err(Error::TargetNotAllowed {
            target: target.to_owned(),
            reason,
        });
    }
    Ok(url.into())
}

/// Parses `target` as a subscription target: an absolute `http`/`https` URL with a
/// host, at most [`Hook::MAX_TARGET_LEN`] bytes.
fn parse_target(target: &str) -> Result<Url> {
    let invalid = |reason| Error::InvalidTarget {
        target: target.to_owned(),
        reason,
    };
    if target.is_empty() {
        return Err(invalid("the target is empty"));
    }
    if target.len() > Hook::MAX_TARGET_LEN {
        return Err(invalid("the target is longer than 2048 bytes"));
    }
    let url = Url::parse(target).map_err(|_| invalid("expected an absolute http or https URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host"));
    }
    Ok(url)
}

/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub(crate) fn generate_secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(Error::Randomness)?;
    Ok(format!("whsec_{}", BASE64.encode(bytes)))
}

/// Checks a secret given by the caller: `whsec_` and base64 of 24 to 64 bytes.
fn check_secret(secret: &str) -> Result<()> {
    let decoded = secret
        .strip_prefix("whsec_")
        .and_then(|b64| BASE64.decode(b64).ok());
    match decoded {
        Some(bytes) if (24..=64).contains(&bytes.len()) => Ok(()),
        _ => Err(Error::InvalidSecret),
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
    }
}
