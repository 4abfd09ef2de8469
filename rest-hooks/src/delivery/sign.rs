//! Standard Webhooks signing: `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, with
//! `whsec_` secrets. [`verify`] checks them on the receiving side.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::HeaderMap;
use sha2::Sha256;
use time::OffsetDateTime;

/// How far a `webhook-timestamp` may be from the receiver's clock.
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// Why a request's signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A `webhook-*` header is missing or not text.
    #[error("missing header `{0}`")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not a number of seconds.
    #[error("`webhook-timestamp` is not a unix time")]
    BadTimestamp,
    /// `webhook-timestamp` is more than five minutes from now: a replay, or a clock
    /// far off.
    #[error("`webhook-timestamp` is more than five minutes away")]
    StaleTimestamp,
    /// The secret is not `whsec_` and base64.
    #[error("the secret is not `whsec_` and base64")]
    BadSecret,
    /// No `v1` signature in `webhook-signature` matches.
    #[error("no signature matches")]
    NoMatch,
}

/// The key of a `whsec_` secret: its base64 part, decoded.
fn key(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    BASE64.decode(encoded).ok()
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `webhook-signature` value for a message signed with each of `secrets`:
/// `v1,<sig>` entries separated by spaces. Secrets that are not `whsec_` and base64
/// are skipped (the store only keeps valid ones).
pub fn signature_header(secrets: &[String], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut header = String::with_capacity(secrets.len() * 48);
    for key in secrets.iter().filter_map(|secret| key(secret)) {
        if !header.is_empty() {
            header.push(' ');
        }
        header.push_str("v1,");
        BASE64.encode_string(
            mac(&key, id, timestamp, body).finalize().into_bytes(),
            &mut header,
        );
    }
    header
}

/// Checks the Standard Webhooks headers of a request against `secret` and its body.
///
/// ```
/// use rest_hooks::delivery::sign::{signature_header, verify};
/// use reqwest::header::{HeaderMap, HeaderValue};
///
/// let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned();
/// let now = time::OffsetDateTime::now_utc().unix_timestamp();
/// let body = br#"{"hook":{},"data":{}}"#;
/// let mut headers = HeaderMap::new();
/// headers.insert("webhook-id", HeaderValue::from_static("msg_1"));
/// headers.insert("webhook-timestamp", HeaderValue::from(now));
/// let signature = signature_header(&[secret.clone()], "msg_1", now, body);
/// headers.insert("webhook-signature", HeaderValue::from_str(&signature).unwrap());
///
/// assert!(verify(&secret, &headers, body).is_ok());
/// assert!(verify(&secret, &headers, b"{}").is_err());
/// ```
pub fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), VerifyError> {
    let header = |name: &'static str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(VerifyError::MissingHeader(name))
    };
    let id = header("webhook-id")?;
    let timestamp: i64 = header("webhook-timestamp")?
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    let signatures = header("webhook-signature")?;
    if (OffsetDateTime::now_utc().unix_timestamp() - timestamp).abs() > TOLERANCE_SECS {
        return Err(VerifyError::StaleTimestamp);
    }
    let key = key(secret).ok_or(VerifyError::BadSecret)?;
    let matches = signatures
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|signature| BASE64.decode(signature).ok())
        .any(|signature| {
            mac(&key, id, timestamp, body)
                .verify_slice(&signature)
                .is_ok()
        });
    if matches {
        Ok(())
    } else {
        Err(VerifyError::NoMatch)
    }
}
