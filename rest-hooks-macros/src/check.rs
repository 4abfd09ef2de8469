//! Checks a parsed table for what the macro can see by itself: event names, and
//! uniqueness of names, mappings and struct names. What needs types (the models)
//! is checked by the compiler on the code that `expand` emits.

use std::collections::HashMap;

use syn::Ident;

use crate::ast::{Entry, Mapping, Table};
use crate::ctxt::Ctxt;

/// What `expand` may emit of each entry, in table order: duplicates are left out
/// of the lookup tables and of the structs, so that one mistake gives one error.
pub(crate) struct Plan {
    pub(crate) entries: Vec<EntryPlan>,
}

pub(crate) struct EntryPlan {
    /// The first entry with this name: it goes into the name table.
    pub(crate) first_name: bool,
    /// The first entry on this `app.Model.action`: it goes into the action table.
    pub(crate) first_action: bool,
    /// The struct to emit, unless an earlier entry has its name or it is not an
    /// identifier.
    pub(crate) struct_ident: Option<Ident>,
}

/// Checks `table`, adding what is wrong to `cx`, and plans what to emit.
pub(crate) fn table(cx: &Ctxt, table: &Table) -> Plan {
    let mut names: HashMap<String, &Entry> = HashMap::new();
    let mut actions: HashMap<String, &Entry> = HashMap::new();
    let mut structs: HashMap<String, &Entry> = HashMap::new();
    let mut plan = Plan {
        entries: Vec::with_capacity(table.entries.len()),
    };
    for entry in &table.entries {
        let name = entry.name.value();
        if !is_event_name(&name) {
            cx.syn_error(syn::Error::new(
                entry.name.span(),
                format!(
                    "invalid event name `{name}`: expected lowercase segments of `a-z`, `0-9` and `_` separated by dots, like `book.added`"
                ),
            ));
        }

        let first_name = match names.get(&name) {
            Some(first) => {
                cx.syn_error(syn::Error::new(
                    entry.name.span(),
                    format!("duplicate event `{name}`"),
                ));
                cx.syn_error(syn::Error::new(
                    first.name.span(),
                    format!("`{name}` is first declared here"),
                ));
                false
            }
            None => {
                names.insert(name.clone(), entry);
                true
            }
        };

        let first_action = match &entry.mapping {
            Mapping::Raw => false,
            Mapping::Model(mapping) => match actions.get(&mapping.key()) {
                Some(first) => {
                    let key = mapping.key();
                    let first_name = first.name.value();
                    cx.syn_error(syn::Error::new(
                        mapping.span(),
                        format!("`{key}` is already mapped to `{first_name}`: an action can have one event"),
                    ));
                    cx.syn_error(syn::Error::new(
                        first.name.span(),
                        format!("`{key}` is first mapped here, by `{first_name}`"),
                    ));
                    false
                }
                None => {
                    actions.insert(mapping.key(), entry);
                    true
                }
            },
        };

        let struct_name = entry.struct_name();
        let struct_ident = match structs.get(&struct_name) {
            // The same name twice is reported above; the struct is emitted once.
            Some(first) if first.name.value() == name => None,
            Some(first) => {
                let first_name = first.name.value();
                cx.syn_error(syn::Error::new(
                    entry.name.span(),
                    format!(
                        "event `{name}` gives the struct name `{struct_name}`, which `{first_name}` already gives: rename one of them"
                    ),
                ));
                None
            }
            None => {
                structs.insert(struct_name.clone(), entry);
                syn::parse_str::<Ident>(&struct_name).ok().map(|mut ident| {
                    ident.set_span(entry.name.span());
                    ident
                })
            }
        };

        plan.entries.push(EntryPlan {
            first_name,
            first_action,
            struct_ident,
        });
    }
    plan
}

/// `[a-z0-9_]+(\.[a-z0-9_]+)*`
fn is_event_name(name: &str) -> bool {
    name.split('.').all(|segment| {
        !segment.is_empty()
            && segment
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    })
}
