//! Which hooks receive a fired event: the [`Finder`] trait (the `HOOK_FINDER` of
//! django-rest-hooks), its default, and what a finder is given.

use std::sync::Arc;

use crate::event::{Audience, EventSpec};
use crate::hook::Hook;
pub use crate::index::Subscribers;

/// An event being fired, as a [`Finder`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct Firing<'a> {
    /// The event.
    pub event: &'static EventSpec,
    /// Whose hooks it is for.
    pub audience: Audience<'a>,
}

/// Chooses, among the active hooks subscribed to a fired event, those that receive
/// it. Replace it to filter on [`Hook::metadata`], for example; it runs on the
/// in-memory index, so it must not block.
///
/// ```
/// use std::sync::Arc;
/// use rest_hooks::Hook;
/// use rest_hooks::finder::{DefaultFinder, Finder, Firing, Subscribers};
///
/// /// Only hooks whose metadata does not say `"paused": true`.
/// struct SkipPaused;
///
/// impl Finder for SkipPaused {
///     fn find(&self, firing: &Firing<'_>, subscribers: Subscribers<'_>) -> Vec<Arc<Hook>> {
///         let mut hooks = DefaultFinder.find(firing, subscribers);
///         hooks.retain(|h| h.metadata["paused"] != true);
///         hooks
///     }
/// }
/// ```
pub trait Finder: Send + Sync + 'static {
    /// The hooks that receive `firing`, chosen among `subscribers`.
    fn find(&self, firing: &Firing<'_>, subscribers: Subscribers<'_>) -> Vec<Arc<Hook>>;
}

/// The default [`Finder`], as django-rest-hooks finds hooks: those of the model's
/// owner, or of every owner for `+` events and raw events fired without an owner.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultFinder;

impl Finder for DefaultFinder {
    fn find(&self, firing: &Firing<'_>, subscribers: Subscribers<'_>) -> Vec<Arc<Hook>> {
        match firing.audience {
            Audience::Everyone => subscribers.all().cloned().collect(),
            Audience::Owner(owner) => subscribers.owner(owner).to_vec(),
            Audience::Nobody => Vec::new(),
        }
    }
}
