//! The rules a new or changed subscription must follow: a known event, a target
//! the SSRF guard allows, a valid secret, custom headers that cannot pass for the
//! library's own.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use uuid::Uuid;

use super::{Hook, NewHook};
use crate::clock;
use crate::error::{Error, Result};
use crate::registry::Registry;
use crate::target_policy::TargetPolicy;

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
        check_headers(&self.headers)?;
        check_metadata(&self.metadata)?;
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
            headers: self.headers,
        })
    }
}

/// Checks that `event` is in the table.
pub(super) fn check_event(registry: &Registry, event: &str) -> Result<()> {
    if registry.contains(event) {
        Ok(())
    } else {
        Err(Error::UnknownEvent(event.to_owned()))
    }
}

/// Checks a new or changed target, as a URL and against the target policy (the
/// SSRF guard), and gives it back normalized.
pub(super) async fn check_target(policy: &TargetPolicy, target: &str) -> Result<String> {
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

/// Headers a hook may not set: the library's own, and those that belong to the
/// connection rather than the request.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// Checks custom headers: at most [`Hook::MAX_HEADERS`], names of HTTP token
/// characters in lowercase, values of visible text up to
/// [`Hook::MAX_HEADER_VALUE_LEN`] bytes, and none of the library's own or a
/// hop-by-hop one.
pub(super) fn check_headers(headers: &BTreeMap<String, String>) -> Result<()> {
    if headers.len() > Hook::MAX_HEADERS {
        return Err(Error::InvalidHeader {
            name: String::new(),
            reason: "a hook sends at most 10 custom headers",
        });
    }
    for (name, value) in headers {
        let invalid = |reason| Error::InvalidHeader {
            name: name.clone(),
            reason,
        };
        let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            invalid("a header name is a token: letters, digits and !#$%&'*+-.^_`|~")
        })?;
        if parsed.as_str() != name {
            return Err(invalid("header names are written in lowercase"));
        }
        if name.starts_with("webhook-") || RESERVED_HEADERS.contains(&name.as_str()) {
            return Err(invalid(
                "the library sets this header itself, or it belongs to the connection",
            ));
        }
        if value.len() > Hook::MAX_HEADER_VALUE_LEN {
            return Err(invalid("a header value is at most 1,024 bytes"));
        }
        if HeaderValue::from_str(value).is_err() {
            return Err(invalid(
                "a header value is visible text, without line breaks",
            ));
        }
    }
    Ok(())
}

/// Checks metadata: any JSON, but no string (key or value) with a zero character,
/// which PostgreSQL's `jsonb` cannot hold.
pub(super) fn check_metadata(metadata: &serde_json::Value) -> Result<()> {
    use serde_json::Value;
    let has_zero = |text: &str| text.contains('\0');
    let fine = match metadata {
        Value::String(text) => !has_zero(text),
        Value::Array(items) => return items.iter().try_for_each(check_metadata),
        Value::Object(fields) => {
            for (key, value) in fields {
                if has_zero(key) {
                    return Err(Error::InvalidMetadata);
                }
                check_metadata(value)?;
            }
            true
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => true,
    };
    if fine {
        Ok(())
    } else {
        Err(Error::InvalidMetadata)
    }
}
