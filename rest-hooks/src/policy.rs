//! Which targets hooks may point at: the [`TargetPolicy`] trait, checked when a hook
//! is subscribed.

use async_trait::async_trait;
use reqwest::Url;

/// Decides whether a target URL may receive deliveries.
#[async_trait]
pub trait TargetPolicy: Send + Sync + 'static {
    /// `Err` with the reason when `target` is refused.
    async fn check(&self, target: &Url) -> Result<(), String>;
}

/// A [`TargetPolicy`] that allows every well-formed target.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

#[async_trait]
impl TargetPolicy for AllowAll {
    async fn check(&self, _target: &Url) -> Result<(), String> {
        Ok(())
    }
}
