//! The [`Registry`]: the perfect-hash tables that `hook_events!` builds at compile time.

use crate::event::EventSpec;

/// The key of a model action in the table: the bytes `app NUL model NUL action`.
///
/// The zero bytes keep `("ab", "c")` and `("a", "bc")` apart. No identifier
/// contains one, so a looked-up part that does gives a key with more than two,
/// which no key in the table has.
type ActionKey = &'static [u8];

/// A model action looked up: hashed and compared as its [`ActionKey`] would be,
/// without putting the bytes together.
#[derive(PartialEq, Eq)]
struct ActionParts<'a> {
    app: &'a str,
    model: &'a str,
    action: &'a str,
}

impl ActionParts<'_> {
    fn len(&self) -> usize {
        self.app.len() + self.model.len() + self.action.len() + 2
    }
}

impl phf::PhfHash for ActionParts<'_> {
    /// The hash of `[u8]`, as the key's: its length, then its bytes, which the
    /// hasher takes as one stream whatever the pieces.
    #[inline]
    fn phf_hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.len() as u64);
        state.write(self.app.as_bytes());
        state.write_u8(0);
        state.write(self.model.as_bytes());
        state.write_u8(0);
        state.write(self.action.as_bytes());
    }
}

impl<'a> phf::PhfEq<ActionParts<'a>> for ActionKey {
    #[inline]
    fn phf_eq(&self, parts: &ActionParts<'a>) -> bool {
        let (app, model, action) = (
            parts.app.as_bytes(),
            parts.model.as_bytes(),
            parts.action.as_bytes(),
        );
        self.len() == parts.len()
            && self.starts_with(app)
            && self.ends_with(action)
            && self[app.len()] == 0
            && &self[app.len() + 1..app.len() + 1 + model.len()] == model
            && self[app.len() + 1 + model.len()] == 0
    }
}

/// The event table of an application, emitted by `hook_events!` as `EVENTS`.
///
/// Every lookup is O(1): the perfect-hash tables are computed when the macro
/// expands, so no hashing state is set up and nothing is allocated at run time.
///
/// ```
/// # #[derive(serde::Serialize, rest_hooks::HookModel)]
/// # #[hook(app = "bookstore", owner = user)]
/// # pub struct Book { user: u64 }
/// rest_hooks::hook_events! {
///     "book.added"     => bookstore.Book.created,
///     "book.changed"   => bookstore.Book.updated+,
///     "user.logged_in" => None,
/// }
///
/// let added = EVENTS.get("book.added").unwrap();
/// assert!(!added.is_raw());
/// assert_eq!(EVENTS.for_action("bookstore", "Book", "created"), Some(added));
/// assert_eq!(EVENTS.all_owners("bookstore", "Book", "updated"), Some(true));
/// assert_eq!(EVENTS.for_action("bookstore", "Book", "deleted"), None);
/// let names: Vec<_> = EVENTS.events().iter().map(|e| e.name).collect();
/// assert_eq!(names, ["book.added", "book.changed", "user.logged_in"]);
/// ```
#[derive(Debug)]
pub struct Registry {
    events: &'static [EventSpec],
    by_name: phf::Map<&'static str, usize>,
    by_action: phf::Map<ActionKey, usize>,
}

impl Registry {
    #[doc(hidden)]
    pub const fn __new(
        events: &'static [EventSpec],
        by_name: phf::Map<&'static str, usize>,
        by_action: phf::Map<ActionKey, usize>,
    ) -> Self {
        Self {
            events,
            by_name,
            by_action,
        }
    }

    /// The event called `name`, if the table declares it.
    #[inline]
    pub fn get(&self, name: &str) -> Option<&'static EventSpec> {
        let index = *self.by_name.get(name)?;
        self.events.get(index)
    }

    /// The event that `app.model.action` maps to, with or without `+`.
    #[inline]
    pub fn for_action(&self, app: &str, model: &str, action: &str) -> Option<&'static EventSpec> {
        let index = *self.by_action.get(&ActionParts { app, model, action })?;
        self.events.get(index)
    }

    /// Whether `app.model.action` is mapped with `+` (to every owner's hooks);
    /// `None` when no event maps it.
    #[inline]
    pub fn all_owners(&self, app: &str, model: &str, action: &str) -> Option<bool> {
        self.for_action(app, model, action)
            .map(EventSpec::all_owners)
    }

    /// Every event, in the order the table declares them.
    #[inline]
    pub fn events(&self) -> &'static [EventSpec] {
        self.events
    }

    /// Whether the table declares an event called `name`.
    #[inline]
    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }
}
