//! [`HookPatch`]: a change to a hook, and what it makes of the hook.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Hook;
use super::validate::{check_headers, check_metadata, check_target};
use crate::error::Result;
use crate::target_policy::TargetPolicy;

/// A change to a hook: what is `None` stays as it is.
/// [`Hooks::update_hook`](crate::Hooks::update_hook) validates it by the rules a
/// subscription follows.
///
/// ```
/// use rest_hooks::HookPatch;
///
/// let pause = HookPatch::new().active(false);
/// let back_without_the_backlog = HookPatch::new().active(true).replay(false);
/// let moved = HookPatch::new().target("https://example.com/new");
/// # let _ = (pause, back_without_the_backlog, moved);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HookPatch {
    /// A new target, checked as at subscribe.
    pub target: Option<String>,
    /// `false` pauses the hook: events fired meanwhile are not kept for it, and
    /// its queued deliveries are held. `true` resumes a paused hook or enables a
    /// disabled one again, clearing why it was disabled and its failing streak.
    pub active: Option<bool>,
    /// New metadata (JSON `null` included).
    pub metadata: Option<Value>,
    /// New custom headers, replacing all of the old ones.
    pub headers: Option<BTreeMap<String, String>>,
    /// When the hook becomes active again: whether its held deliveries are sent,
    /// oldest first (the default), or discarded.
    pub replay: bool,
}

impl Default for HookPatch {
    fn default() -> Self {
        Self {
            target: None,
            active: None,
            metadata: None,
            headers: None,
            replay: true,
        }
    }
}

impl HookPatch {
    /// A change of nothing, yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the hook to `target`.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Pauses (`false`) or resumes and enables again (`true`).
    pub fn active(mut self, active: bool) -> Self {
        self.active = Some(active);
        self
    }

    /// Replaces the metadata.
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Replaces the custom headers.
    pub fn headers(mut self, headers: BTreeMap<String, String>) -> Self {
        self.headers = Some(headers);
        self
    }

    /// Whether held deliveries are sent when the hook becomes active again.
    pub fn replay(mut self, replay: bool) -> Self {
        self.replay = replay;
        self
    }

    /// Checks the change as a subscription is checked, with the target normalized.
    pub(crate) async fn validated(mut self, policy: &TargetPolicy) -> Result<Self> {
        if let Some(target) = &self.target {
            self.target = Some(check_target(policy, target).await?);
        }
        if let Some(headers) = &self.headers {
            check_headers(headers)?;
        }
        if let Some(metadata) = &self.metadata {
            check_metadata(metadata)?;
        }
        Ok(self)
    }

    /// The hook as this change leaves it.
    pub(crate) fn apply(&self, before: &Hook) -> Hook {
        let mut after = before.clone();
        if let Some(target) = &self.target {
            after.target.clone_from(target);
        }
        if let Some(active) = self.active {
            // Paused or enabled by its owner: no longer disabled by the library.
            after.active = active;
            after.disabled_reason = None;
        }
        if let Some(metadata) = &self.metadata {
            after.metadata.clone_from(metadata);
        }
        if let Some(headers) = &self.headers {
            after.headers.clone_from(headers);
        }
        after
    }

    /// Whether the change makes an inactive hook active.
    pub(crate) fn enables(&self, before: &Hook) -> bool {
        !before.active && self.active == Some(true)
    }
}
