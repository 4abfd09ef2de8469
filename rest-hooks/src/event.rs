//! Events: the [`Event`] trait of the structs that `hook_events!` generates, and the
//! [`EventSpec`] that describes one entry of the table at run time.

/// One event of a `hook_events!` table, as a type.
///
/// `hook_events!` generates a unit struct per event (`"book.added"` becomes `BookAdded`)
/// and implements this trait for it, so that firing is checked by the compiler: an
/// event of a model fires only with a value of that model, and a raw event only
/// with a payload.
pub trait Event: Send + Sync + 'static {
    /// The model the event is about, or [`Raw`] for a raw event (`=> None`).
    type Model: ?Sized + 'static;

    /// The event name, as written in the table (`"book.added"`).
    const NAME: &'static str;

    /// Whether the event goes to the hooks of every owner (the `+` suffix), not only
    /// to those of the model's owner.
    const ALL_OWNERS: bool;
}

/// The model type of a raw event: one declared `=> None`, fired with any payload.
///
/// It has no values; it only marks an [`Event`] as raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raw {}

/// One entry of the event table, as the [`Registry`](crate::Registry) hands it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventSpec {
    /// The event name (`"book.added"`).
    pub name: &'static str,
    /// The model action it maps to, or `None` for a raw event.
    pub action: Option<ModelAction>,
}

impl EventSpec {
    /// Whether this is a raw event (declared `=> None`).
    pub const fn is_raw(&self) -> bool {
        self.action.is_none()
    }

    /// Whether the event goes to every owner's hooks: a `+` mapping.
    ///
    /// A raw event has no owner of its own and reports `false`; who receives it is
    /// decided when it is fired.
    pub const fn all_owners(&self) -> bool {
        match &self.action {
            Some(action) => action.all_owners,
            None => false,
        }
    }
}

/// The `app.Model.action` side of a table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModelAction {
    /// The app label (`bookstore`).
    pub app: &'static str,
    /// The model name (`Book`).
    pub model: &'static str,
    /// The action: `created`, `updated`, `deleted` or a custom one (`read`).
    pub action: &'static str,
    /// Whether the mapping ends in `+`: the event goes to every owner's hooks.
    pub all_owners: bool,
}

/// Whose hooks an event is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience<'a> {
    /// Every owner's hooks: a `+` mapping, or a raw event fired without an owner.
    Everyone,
    /// The hooks of this owner.
    Owner(&'a str),
    /// No one's: the model has no owner for this value.
    Nobody,
}
