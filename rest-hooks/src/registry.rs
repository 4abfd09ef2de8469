//! The [`Registry`]: the perfect-hash tables that `hook_events!` builds at compile time.

use phf_shared::{PhfEq, PhfHash};
use schemars::{Schema, SchemaGenerator};
use serde_json::Value;

use crate::event::EventSpec;
use crate::model::HookInfo;
use crate::payload_schema::{example_of, payload_schema};

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

impl PhfHash for ActionParts<'_> {
    /// The key's bytes, which the hasher takes as one stream whatever the pieces.
    /// No length first (phf's `[u8]` hash writes one): SipHash counts the length
    /// in its last block, and a prefix costs a round on a short key.
    #[inline]
    fn phf_hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(self.app.as_bytes());
        state.write_u8(0);
        state.write(self.model.as_bytes());
        state.write_u8(0);
        state.write(self.action.as_bytes());
    }
}

impl<'a> PhfEq<ActionParts<'a>> for ActionKey {
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

/// An event name looked up, hashed as its bytes alone (see [`ActionParts`]'s
/// hash).
struct Name<'a>(&'a str);

impl PhfHash for Name<'_> {
    #[inline]
    fn phf_hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(self.0.as_bytes());
    }
}

impl<'a> PhfEq<Name<'a>> for &'static str {
    #[inline]
    fn phf_eq(&self, name: &Name<'a>) -> bool {
        *self == name.0
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
    /// What each event promises its receivers, in the order of `events`.
    contracts: &'static [EventContract],
    by_name: PerfectTable<&'static str>,
    by_action: PerfectTable<ActionKey>,
}

/// A perfect-hash table in PtrHash's layout, as `hook_events!` builds it with
/// `phf_generator`'s `ptrhash`: the key's hash picks a bucket, the bucket's pilot
/// a slot, and the slot (or its remapped place) holds the key and its event's
/// index. Not public API: the macro, pinned to this crate's version, emits it.
#[doc(hidden)]
#[derive(Debug)]
pub struct PerfectTable<K: 'static> {
    /// The hash key, which is also the seed of the pilots' hashes.
    pub seed: u64,
    /// One pilot a bucket.
    pub pilots: &'static [u8],
    /// Where the slots past the last entry go.
    pub remap: &'static [u32],
    /// The keys, in slot order, each with its event's index.
    pub entries: &'static [(K, usize)],
}

impl<K> PerfectTable<K> {
    /// The index stored with `key`, if the table holds it.
    #[inline]
    fn get<T: PhfHash + ?Sized>(&self, key: &T) -> Option<usize>
    where
        K: PhfEq<T>,
    {
        if self.entries.is_empty() {
            return None;
        }
        let hash = phf_shared::ptrhash::hash(key, &self.seed);
        let slot = phf_shared::ptrhash::get_index(
            self.seed,
            hash,
            self.pilots,
            self.remap,
            self.entries.len(),
        );
        let (stored, index) = self.entries.get(usize::try_from(slot).ok()?)?;
        stored.phf_eq(key).then_some(*index)
    }
}

/// What one event of the table promises its receivers, as `hook_events!` writes
/// it: the doc comment on its entry, the JSON Schema of its data (from the model's
/// `JsonSchema`, or any JSON), and its example. Not public API.
#[doc(hidden)]
#[derive(Debug)]
pub struct EventContract {
    /// The doc comment written on the entry, its lines joined.
    pub description: &'static str,
    /// The schema of the payload's `data`.
    pub data_schema: fn(&mut SchemaGenerator) -> Schema,
    /// The example payload for a hook, when the model gives an example.
    pub example: fn(&HookInfo<'_>) -> Option<Value>,
}

impl Registry {
    #[doc(hidden)]
    pub const fn __new(
        events: &'static [EventSpec],
        contracts: &'static [EventContract],
        by_name: PerfectTable<&'static str>,
        by_action: PerfectTable<ActionKey>,
    ) -> Self {
        Self {
            events,
            contracts,
            by_name,
            by_action,
        }
    }

    /// The event called `name`, if the table declares it.
    #[inline]
    pub fn get(&self, name: &str) -> Option<&'static EventSpec> {
        let index = self.by_name.get(&Name(name))?;
        self.events.get(index)
    }

    /// The event that `app.model.action` maps to, with or without `+`.
    #[inline]
    pub fn for_action(&self, app: &str, model: &str, action: &str) -> Option<&'static EventSpec> {
        let index = self.by_action.get(&ActionParts { app, model, action })?;
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

    /// The description of the event called `name`: the doc comment written on its
    /// entry in `hook_events!`; `None` when there is none.
    pub fn description(&self, name: &str) -> Option<&'static str> {
        let contract = self.contract(name)?;
        Some(contract.description).filter(|d| !d.is_empty())
    }

    /// The JSON Schema (draft 2020-12) of the payload of the event called `name`
    /// as delivered by default, `{"hook": {"id", "event", "target"}, "data"}`:
    /// `data` is the model's own schema when it implements
    /// `schemars::JsonSchema`, and any JSON otherwise (and for raw events). A
    /// model that sends another payload (its own `HookModel::payload`) is
    /// described by the default one.
    pub fn payload_schema(&self, name: &str) -> Option<Value> {
        let contract = self.contract(name)?;
        Some(payload_schema(name, contract.data_schema))
    }

    /// An example payload of the event called `name` for `hook`: the model's
    /// example (`HookModel::example`) as it would be sent, else one made from the
    /// payload's schema.
    pub fn example_payload(&self, name: &str, hook: &HookInfo<'_>) -> Option<Value> {
        let contract = self.contract(name)?;
        if let Some(example) = (contract.example)(hook) {
            return Some(example);
        }
        let schema = payload_schema(name, contract.data_schema);
        let definitions = schema
            .get("$defs")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let data = example_of(&schema["properties"]["data"], &definitions);
        hook.default_payload(&data).ok()
    }

    fn contract(&self, name: &str) -> Option<&'static EventContract> {
        let index = self.by_name.get(&Name(name))?;
        self.contracts.get(index)
    }

    /// Whether the table declares an event called `name`.
    #[inline]
    pub fn contains(&self, name: &str) -> bool {
        self.by_name.get(&Name(name)).is_some()
    }
}
