//! REST Hooks for Rust: the users of an application subscribe their own URLs to named
//! events of the application, and every matching event reaches them as an HTTP POST.
//!
//! ```
//! use rest_hooks::{Event, HookModel};
//!
//! #[derive(serde::Serialize, HookModel)]
//! #[hook(app = "bookstore", owner = user)]
//! pub struct Book {
//!     id: u64,
//!     title: String,
//!     user: u64,
//! }
//!
//! rest_hooks::hook_events! {
//!     "book.added"     => bookstore.Book.created,
//!     "book.changed"   => bookstore.Book.updated+, // + : every owner's hooks
//!     "book.removed"   => bookstore.Book.deleted,
//!     "book.read"      => bookstore.Book.read,     // a custom action
//!     "user.logged_in" => None,                    // a raw event, any payload
//! }
//!
//! // The table is checked when the crate compiles and looked up in O(1) at run time.
//! let changed = EVENTS.for_action("bookstore", "Book", "updated").unwrap();
//! assert_eq!(changed.name, "book.changed");
//! assert!(changed.all_owners());
//!
//! // Each event is a type, which ties it to its model.
//! assert_eq!(BookRead::NAME, "book.read");
//! assert!(EVENTS.get(UserLoggedIn::NAME).unwrap().is_raw());
//! ```
//!
//! The table is written once with [`hook_events!`], which rejects at compile time what
//! django-rest-hooks finds only at start-up or when an event fires: malformed or
//! duplicate event names, two events on one `app.Model.action`, models that are not
//! [`HookModel`]s or whose labels differ from the table, and mappings without `+` on
//! models that have no owner.

// Library code reports errors; a panic here is a bug.
#![warn(clippy::unwrap_used, clippy::panic)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod api;
mod backoff;
mod clock;
pub mod delivery;
mod error;
mod event;
pub mod finder;
mod hook;
mod hooks;
mod index;
mod model;
mod payload_schema;
#[cfg(feature = "portal")]
#[cfg_attr(docsrs, doc(cfg(feature = "portal")))]
pub mod portal;
mod queue;
mod registry;
pub mod store;
pub mod target_policy;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use error::{Error, Result};
pub use event::{Audience, Event, EventSpec, ModelAction, Raw};
pub use hook::{Hook, HookPatch, HookState, NewHook};
pub use hooks::{Health, Hooks, HooksBuilder};
pub use index::IndexChange;
pub use model::{HookInfo, HookModel};
pub use queue::{Attempt, AttemptResult, Delivery, DeliveryFilter, DeliveryState, Outcome};
pub use registry::Registry;

/// Declares the events of an application: one `"name" => app.Model.action` entry each.
///
/// ```
/// # #[derive(serde::Serialize, rest_hooks::HookModel)]
/// # #[hook(app = "bookstore", owner = user)]
/// # pub struct Book { user: u64 }
/// rest_hooks::hook_events! {
///     /// A book was added to the store.
///     "book.added"     => bookstore.Book.created,
///     "book.changed"   => bookstore.Book.updated+,
///     "book.removed"   => bookstore.Book.deleted,
///     "book.read"      => bookstore.Book.read,
///     "user.logged_in" => None,
/// }
/// ```
///
/// - An event name is dot-separated segments of `a-z`, `0-9` and `_`.
/// - `app.Model.action` names a model type in scope that implements [`HookModel`],
///   with that app label and model name. `created`, `updated` and `deleted` are the
///   built-in actions; any other action is a custom one, fired by hand.
/// - A trailing `+` sends the event to every owner's hooks, not only to those of the
///   model's owner; a model without an owner must be mapped with `+`.
/// - `None` declares a raw event, fired with any payload.
///
/// It emits `pub static EVENTS: rest_hooks::Registry` and, per event, a unit struct
/// named in UpperCamelCase (`"book.added"` gives `BookAdded`) that implements
/// [`Event`]. Doc comments and attributes written on an entry go onto its struct.
///
/// Every mistake is a compile error at the tokens that make it, all reported in one
/// build.
pub use rest_hooks_macros::hook_events;

/// Derives [`HookModel`]; see the trait for the `#[hook(...)]` attribute.
pub use rest_hooks_macros::HookModel;
