//! The typed tree of a `hook_events!` table, keeping the user's tokens for spans.

use proc_macro2::Span;
use syn::{Attribute, Ident, LitStr, Token};

/// The whole table, in declaration order.
pub(crate) struct Table {
    pub(crate) entries: Vec<Entry>,
}

/// One `"name" => mapping` line, with the attributes written above it.
pub(crate) struct Entry {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) name: LitStr,
    pub(crate) mapping: Mapping,
}

/// What an event name maps to.
pub(crate) enum Mapping {
    /// `None`: a raw event.
    Raw,
    /// `app.Model.action`, optionally followed by `+`.
    Model(ModelMapping),
}

/// `app.Model.action`, with `+` or not.
pub(crate) struct ModelMapping {
    pub(crate) app: Ident,
    pub(crate) model: Ident,
    pub(crate) action: Ident,
    pub(crate) plus: Option<Token![+]>,
}

impl ModelMapping {
    /// `app.Model.action` without the `+`: what must be unique in a table.
    pub(crate) fn key(&self) -> String {
        format!("{}.{}.{}", self.app, self.model, self.action)
    }

    /// The span to report a problem of the whole mapping at.
    pub(crate) fn span(&self) -> Span {
        self.action.span()
    }
}

impl Entry {
    /// The name of the event's struct: the event name in UpperCamelCase, split at
    /// `.` and `_` (`book.logged_in` gives `BookLoggedIn`). A name that would not be
    /// an identifier of its own (empty, starting with a digit, `Self`) gets the
    /// prefix `Event`.
    pub(crate) fn struct_name(&self) -> String {
        let mut out = String::new();
        for part in self.name.value().split(['.', '_']) {
            let mut chars = part.chars();
            if let Some(first) = chars.next() {
                out.extend(first.to_uppercase());
                out.push_str(chars.as_str());
            }
        }
        if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) || out == "Self" {
            out.insert_str(0, "Event");
        }
        out
    }
}
