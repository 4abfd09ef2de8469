//! Models: the [`HookModel`] trait that makes a type something events are about, and
//! the payload it sends.

use serde::Serialize;
use serde_json::Value;

/// A type whose changes fire hooks: it has an app label, a model name and usually
/// an owner, whose hooks receive its events.
///
/// Derive it with `#[derive(HookModel)]`:
///
/// ```
/// #[derive(serde::Serialize, rest_hooks::HookModel)]
/// #[hook(app = "bookstore", owner = user)]
/// struct Book {
///     id: u64,
///     title: String,
///     user: u64,
/// }
///
/// use rest_hooks::HookModel;
/// let book = Book { id: 1, title: "Dune".into(), user: 42 };
/// assert_eq!((Book::APP, Book::MODEL), ("bookstore", "Book"));
/// assert_eq!(book.owner().as_deref(), Some("42"));
/// ```
///
/// `#[hook(...)]` takes `app = "label"` (required), `owner = field` (the field that
/// holds the owner's id, of any type that implements `Display`; leave it out for a
/// model without an owner, whose events must then be mapped with `+`) and
/// `model = "Name"` (defaults to the type's name).
///
/// Implement it by hand to send another payload than the default one, as
/// `serialize_hook` does in django-rest-hooks:
///
/// ```
/// use rest_hooks::{HookInfo, HookModel};
/// use serde_json::{json, Value};
///
/// #[derive(serde::Serialize)]
/// struct Author { name: String, owner: String }
///
/// impl HookModel for Author {
///     const APP: &'static str = "bookstore";
///     const MODEL: &'static str = "Author";
///     const HAS_OWNER: bool = true;
///
///     fn owner(&self) -> Option<String> {
///         Some(self.owner.clone())
///     }
///
///     fn payload(&self, hook: &HookInfo<'_>) -> serde_json::Result<Value> {
///         Ok(json!({ "event": hook.event, "author": self.name }))
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a hook model",
    label = "`{Self}` does not implement `HookModel`",
    note = "add `#[derive(rest_hooks::HookModel)]` and `#[hook(app = \"...\")]` to `{Self}`, or implement `rest_hooks::HookModel` for it by hand"
)]
pub trait HookModel: Serialize {
    /// The app label, the first part of `app.Model.action` (`bookstore`).
    const APP: &'static str;

    /// The model name, the second part of `app.Model.action` (`Book`).
    const MODEL: &'static str;

    /// Whether values of this model have an owner. A table that maps an action of
    /// an owner-less model without `+` does not compile.
    const HAS_OWNER: bool;

    /// Whether this impl stands in for a `#[derive(HookModel)]` that failed (and
    /// said why): every table accepts it, so that one mistake gives one error.
    #[doc(hidden)]
    const __FALLBACK: bool = false;

    /// Whether [`payload`](Self::payload) is the default one, as with
    /// `#[derive(HookModel)]`: firing then serializes the value once for all its
    /// hooks, straight to bytes.
    #[doc(hidden)]
    const __DEFAULT_PAYLOAD: bool = false;

    /// The owner whose hooks receive this value's events, as text; `None` for a
    /// model without an owner.
    fn owner(&self) -> Option<String>;

    /// A value to show as an example of this model's events: in the event
    /// catalog, and in the test deliveries `POST /hooks/{id}/test` sends. `None`
    /// (the default) makes one from the model's JSON Schema. With the derive:
    /// `#[hook(example = path::to::function)]`, a `fn() -> Self`.
    fn example() -> Option<Self>
    where
        Self: Sized,
    {
        None
    }

    /// The JSON body sent to `hook` for an event about this value.
    ///
    /// The default is django-rest-hooks' payload:
    /// `{"hook": {"id", "event", "target"}, "data": <this value, serialized>}`.
    fn payload(&self, hook: &HookInfo<'_>) -> serde_json::Result<Value> {
        hook.default_payload(self)
    }
}

/// What a payload may say about the hook it is sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct HookInfo<'a> {
    /// The hook's id.
    #[schemars(with = "uuid::Uuid")]
    pub id: &'a str,
    /// The event name (`"book.added"`).
    pub event: &'a str,
    /// The URL the payload is posted to.
    #[schemars(url)]
    pub target: &'a str,
}

impl<'a> HookInfo<'a> {
    /// A hook of `event` that stands for any: the nil id and an example target,
    /// for the examples of the event catalog.
    #[cfg(feature = "axum")]
    pub(crate) fn placeholder(event: &'a str) -> Self {
        Self {
            id: "00000000-0000-0000-0000-000000000000",
            event,
            target: "https://example.com/your-endpoint",
        }
    }

    /// The default payload: `{"hook": {"id", "event", "target"}, "data": data}`.
    ///
    /// It is what models send unless they override [`HookModel::payload`], and
    /// what raw events send with their payload as `data`.
    pub fn default_payload<T: Serialize + ?Sized>(&self, data: &T) -> serde_json::Result<Value> {
        serde_json::to_value(Envelope { hook: self, data })
    }

    /// The default payload serialized: what [`default_payload`](Self::default_payload)
    /// gives, with the keys in the order the types declare them.
    pub(crate) fn default_body<T: Serialize + ?Sized>(
        &self,
        data: &T,
    ) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(&Envelope { hook: self, data })
    }
}

/// The default payload: `{"hook": {"id", "event", "target"}, "data": data}`.
#[derive(Serialize)]
struct Envelope<'a, T: ?Sized> {
    hook: &'a HookInfo<'a>,
    data: &'a T,
}
