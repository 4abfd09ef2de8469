//! Target confirmation, the REST Hooks pattern's intent verification: before a
//! target is subscribed (or a hook moved to it), it gets a handshake POST with an
//! `X-Hook-Secret` header, and must answer 2xx with the same header, so that
//! nobody subscribes a URL whose owner does not want the deliveries.

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use serde_json::json;

use crate::error::{Error, Result};
use crate::hook::{Hook, generate_secret};
use crate::target_policy::TargetPolicy;

/// The header the handshake carries and the target must echo.
pub(crate) const HOOK_SECRET: &str = "x-hook-secret";

/// Sends handshakes, over a client that the SSRF guard holds to as deliveries are.
pub(crate) struct Confirmer {
    client: reqwest::Client,
}

impl Confirmer {
    pub(crate) fn new(policy: &TargetPolicy, timeout: Duration) -> Result<Self> {
        let client = policy
            .guarded_client(timeout)
            .build()
            .map_err(Error::Client)?;
        Ok(Self { client })
    }

    /// Asks `hook`'s target to confirm it: 2xx and `X-Hook-Secret` echoed, or
    /// [`Error::TargetNotConfirmed`] with what it answered.
    pub(crate) async fn confirm(&self, hook: &Hook) -> Result<()> {
        let secret = generate_secret()?;
        let not_confirmed = |reason: String| Error::TargetNotConfirmed {
            target: hook.target.clone(),
            reason,
        };
        let response = self
            .client
            .post(&hook.target)
            .header(CONTENT_TYPE, "application/json")
            .header(HOOK_SECRET, &secret)
            .body(
                json!({
                    "confirm": true,
                    "hook": {"id": hook.id, "event": hook.event, "target": hook.target},
                })
                .to_string(),
            )
            .send()
            .await
            .map_err(|e| not_confirmed(format!("the handshake failed: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(not_confirmed(format!("it answered {status}")));
        }
        let echoed = response
            .headers()
            .get(HOOK_SECRET)
            .and_then(|v| v.to_str().ok());
        if echoed != Some(secret.as_str()) {
            return Err(not_confirmed(format!(
                "it answered {status} without echoing `X-Hook-Secret`"
            )));
        }
        Ok(())
    }
}
