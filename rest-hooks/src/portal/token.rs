//! The portal's signed tokens: a link that lets one owner in until it expires, the
//! session its cookie carries, and the CSRF token of a session's forms. Each is
//! `base64url(payload).base64url(HMAC-SHA256(key, payload))`; the payload is the
//! token's kind, its expiry (Unix seconds) and the owner, one a line.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

/// What a token lets in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A portal link, handed out by the application.
    Link,
    /// The session a link opened, in the cookie.
    Session,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Link => "link",
            Kind::Session => "session",
        }
    }
}

/// Signs tokens with the application's key.
#[derive(Clone)]
pub(super) struct Signer {
    key: [u8; 32],
}

impl Signer {
    pub(super) fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn mac(&self, label: &str, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(label.as_bytes());
        mac.update(b"\n");
        mac.update(payload);
        mac
    }

    /// A token of `kind` for `owner`, valid until `expires` (Unix seconds).
    pub(super) fn sign(&self, kind: Kind, owner: &str, expires: i64) -> String {
        let payload = format!("{}\n{expires}\n{owner}", kind.as_str());
        let tag = self
            .mac("token", payload.as_bytes())
            .finalize()
            .into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The owner of a token of `kind` that this key signed and that has not
    /// expired; `None` for anything else.
    pub(super) fn verify(&self, kind: Kind, token: &str) -> Option<String> {
        let (payload, tag) = token.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac("token", &payload).verify_slice(&tag).ok()?;
        let payload = String::from_utf8(payload).ok()?;
        let mut parts = payload.splitn(3, '\n');
        let (signed_kind, expires, owner) = (parts.next()?, parts.next()?, parts.next()?);
        let expires: i64 = expires.parse().ok()?;
        (signed_kind == kind.as_str() && OffsetDateTime::now_utc().unix_timestamp() < expires)
            .then(|| owner.to_owned())
    }

    /// The CSRF token of the forms of `session` (a session token, or what
    /// stands for the session of an owner the application resolved).
    pub(super) fn csrf(&self, session: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac("csrf", session.as_bytes()).finalize().into_bytes())
    }

    /// Whether `token` is the CSRF token of `session`, compared in constant time.
    pub(super) fn csrf_matches(&self, session: &str, token: &str) -> bool {
        URL_SAFE_NO_PAD.decode(token).is_ok_and(|tag| {
            self.mac("csrf", session.as_bytes())
                .verify_slice(&tag)
                .is_ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_an_hour() -> i64 {
        OffsetDateTime::now_utc().unix_timestamp() + 3600
    }

    #[test]
    fn a_token_is_verified_for_its_kind_and_owner_until_it_expires() {
        let signer = Signer::new([7; 32]);
        let link = signer.sign(Kind::Link, "ann\nwith a newline", in_an_hour());
        assert_eq!(
            signer.verify(Kind::Link, &link).as_deref(),
            Some("ann\nwith a newline")
        );
        assert_eq!(signer.verify(Kind::Session, &link), None);
        let expired = signer.sign(
            Kind::Link,
            "ann",
            OffsetDateTime::now_utc().unix_timestamp(),
        );
        assert_eq!(signer.verify(Kind::Link, &expired), None);
    }

    #[test]
    fn a_forged_or_foreign_token_is_refused() {
        let signer = Signer::new([7; 32]);
        let link = signer.sign(Kind::Link, "ann", in_an_hour());
        assert_eq!(Signer::new([8; 32]).verify(Kind::Link, &link), None);
        // The payload changed to another owner, the tag kept.
        let (_, tag) = link.split_once('.').unwrap();
        let bob = URL_SAFE_NO_PAD.encode(format!("link\n{}\nbob", in_an_hour()));
        assert_eq!(signer.verify(Kind::Link, &format!("{bob}.{tag}")), None);
        for junk in ["", ".", "abc", "a.b", "%%.%%"] {
            assert_eq!(signer.verify(Kind::Link, junk), None, "{junk}");
        }
    }

    #[test]
    fn a_csrf_token_belongs_to_one_session() {
        let signer = Signer::new([7; 32]);
        let token = signer.csrf("session-a");
        assert!(signer.csrf_matches("session-a", &token));
        assert!(!signer.csrf_matches("session-b", &token));
        assert!(!signer.csrf_matches("session-a", "forged"));
    }
}
