//! Every valid form of `hook_events!` and `#[derive(HookModel)]`, and what the
//! generated registry and structs answer.

use rest_hooks::{Event, EventSpec, HookInfo, HookModel, ModelAction, Raw};
use serde_json::json;

/// A book, owned by the user who added it.
#[derive(serde::Serialize, HookModel)]
#[hook(app = "bookstore", owner = user)]
pub struct Book {
    id: u64,
    title: String,
    user: u64,
}

/// A model without an owner: its events go to every owner's hooks.
#[derive(serde::Serialize, HookModel)]
#[hook(app = "catalog")]
pub struct Genre {
    name: String,
}

/// A model whose name is not its type's name, written in the table through an
/// import under that name.
#[derive(serde::Serialize, HookModel)]
#[hook(app = "bookstore", model = "Novel", owner = author)]
pub struct NovelRow {
    author: String,
}

/// A generic model with a custom payload, implemented by hand.
#[derive(serde::Serialize)]
pub struct Shelf<T> {
    items: Vec<T>,
    owner: &'static str,
}

impl<T: serde::Serialize> HookModel for Shelf<T> {
    const APP: &'static str = "bookstore";
    const MODEL: &'static str = "Shelf";
    const HAS_OWNER: bool = true;

    fn owner(&self) -> Option<String> {
        Some(self.owner.to_owned())
    }

    fn payload(&self, hook: &HookInfo<'_>) -> serde_json::Result<serde_json::Value> {
        Ok(json!({ "shelf_event": hook.event, "count": self.items.len() }))
    }
}

mod seed {
    use super::{Book, Genre, NovelRow as Novel, Shelf as AnyShelf};

    /// A generic model enters the table through an alias named like its model.
    type Shelf = AnyShelf<u8>;

    rest_hooks::hook_events! {
        /// A book was added.
        "book.added"     => bookstore.Book.created,
        "book.changed"   => bookstore.Book.updated+,
        "book.removed"   => bookstore.Book.deleted,
        #[allow(dead_code)]
        "book.read"      => bookstore.Book.read,
        "user.logged_in" => None,
        "genre.added"    => catalog.Genre.created+,
        "novel.added"    => bookstore.Novel.created,
        "shelf.filled"   => bookstore.Shelf.filled,
        "404.seen"       => None,
        "self"           => None
    }
}

mod empty {
    rest_hooks::hook_events! {}
}

/// An action whose key (`app NUL Model NUL action`) is longer than the hasher's
/// buffers and blocks.
mod long_action {
    use super::Book;

    rest_hooks::hook_events! {
        "book.archived" => bookstore.Book.archived_after_the_shop_closed_after_the_shop_closed_after_the_shop_closed_after_the_shop_closed_after_the_shop_closed_after_the_shop_closed_after_the_shop_closed_after_the_shop_closed_after_the_shop_closed_after_the_shop_closed_after_the_shop_closed_after_the_shop_closed,
    }
}

mod one_without_comma {
    rest_hooks::hook_events! { "only.one" => None }
}

use seed::*;

#[test]
fn events_are_listed_in_declaration_order() {
    let names: Vec<_> = EVENTS.events().iter().map(|e| e.name).collect();
    assert_eq!(
        names,
        [
            "book.added",
            "book.changed",
            "book.removed",
            "book.read",
            "user.logged_in",
            "genre.added",
            "novel.added",
            "shelf.filled",
            "404.seen",
            "self"
        ]
    );
}

#[test]
fn an_event_name_gives_its_spec() {
    assert_eq!(
        EVENTS.get("book.changed"),
        Some(&EventSpec {
            name: "book.changed",
            action: Some(ModelAction {
                app: "bookstore",
                model: "Book",
                action: "updated",
                all_owners: true
            }),
        })
    );
    assert_eq!(
        EVENTS.get("user.logged_in"),
        Some(&EventSpec {
            name: "user.logged_in",
            action: None
        })
    );
    assert!(EVENTS.contains("404.seen"));
}

#[test]
fn unknown_names_and_actions_find_nothing() {
    assert_eq!(EVENTS.get("book.added.x"), None);
    assert_eq!(EVENTS.get(""), None);
    assert_eq!(EVENTS.get("BOOK.ADDED"), None);
    assert!(!EVENTS.contains("book"));
    assert_eq!(EVENTS.for_action("bookstore", "Book", "sold"), None);
    assert_eq!(EVENTS.for_action("bookstor", "eBook", "created"), None);
    assert_eq!(EVENTS.for_action("bookstore.Book", "", "created"), None);
    assert_eq!(EVENTS.all_owners("bookstore", "Book", "sold"), None);
}

#[test]
fn a_model_action_gives_its_event() {
    let event = |app, model, action| EVENTS.for_action(app, model, action).map(|e| e.name);
    assert_eq!(event("bookstore", "Book", "created"), Some("book.added"));
    assert_eq!(event("bookstore", "Book", "updated"), Some("book.changed"));
    assert_eq!(event("bookstore", "Book", "deleted"), Some("book.removed"));
    assert_eq!(event("bookstore", "Book", "read"), Some("book.read"));
    assert_eq!(event("catalog", "Genre", "created"), Some("genre.added"));
    assert_eq!(event("bookstore", "Novel", "created"), Some("novel.added"));
    assert_eq!(event("bookstore", "Shelf", "filled"), Some("shelf.filled"));
}

#[test]
fn a_long_model_action_is_found_and_a_prefix_of_it_is_not() {
    let action = "archived_after_the_shop_closed_after_the_shop_closed_after_the_shop_closed_after_the_shop_closed_after_the_shop_closed_after_the_shop_closed_after_the_shop_closed_after_the_shop_closed_after_the_shop_closed_after_the_shop_closed_after_the_shop_closed_after_the_shop_closed";
    assert!("bookstore".len() + "Book".len() + action.len() + 2 > 256);
    assert_eq!(
        long_action::EVENTS
            .for_action("bookstore", "Book", action)
            .map(|e| e.name),
        Some("book.archived")
    );
    let shorter = &action[..action.len() - 1];
    assert_eq!(
        long_action::EVENTS.for_action("bookstore", "Book", shorter),
        None
    );
}

#[test]
fn parts_with_zero_bytes_find_nothing() {
    // Keys are `app NUL model NUL action`: these put the same bytes in other parts.
    assert_eq!(EVENTS.for_action("bookstore\0Book", "created", ""), None);
    assert_eq!(EVENTS.for_action("bookstore\0Book\0created", "", ""), None);
    assert_eq!(EVENTS.for_action("bookstore", "Book\0created", ""), None);
    assert_eq!(
        EVENTS
            .for_action("bookstore", "Book", "created")
            .map(|e| e.name),
        Some("book.added")
    );
}

#[test]
fn plus_marks_actions_for_every_owner() {
    assert_eq!(
        EVENTS.all_owners("bookstore", "Book", "updated"),
        Some(true)
    );
    assert_eq!(
        EVENTS.all_owners("bookstore", "Book", "created"),
        Some(false)
    );
    assert_eq!(EVENTS.all_owners("catalog", "Genre", "created"), Some(true));
    assert!(!EVENTS.get("user.logged_in").unwrap().all_owners());
}

#[test]
fn event_structs_carry_name_model_and_plus() {
    fn model_event<E: Event<Model = M>, M: HookModel>(_: E) -> (&'static str, bool, &'static str) {
        (E::NAME, E::ALL_OWNERS, M::MODEL)
    }
    fn raw_event<E: Event<Model = Raw>>(_: E) -> &'static str {
        E::NAME
    }
    assert_eq!(model_event(BookAdded), ("book.added", false, "Book"));
    assert_eq!(model_event(BookChanged), ("book.changed", true, "Book"));
    assert_eq!(model_event(BookRemoved), ("book.removed", false, "Book"));
    assert_eq!(model_event(BookRead), ("book.read", false, "Book"));
    assert_eq!(model_event(GenreAdded), ("genre.added", true, "Genre"));
    assert_eq!(model_event(NovelAdded), ("novel.added", false, "Novel"));
    assert_eq!(model_event(ShelfFilled), ("shelf.filled", false, "Shelf"));
    assert_eq!(raw_event(UserLoggedIn), "user.logged_in");
    assert_eq!(raw_event(Event404Seen), "404.seen");
    assert_eq!(raw_event(EventSelf), "self");
}

#[test]
fn tables_may_be_empty_or_have_no_trailing_comma() {
    assert!(empty::EVENTS.events().is_empty());
    assert_eq!(empty::EVENTS.get("book.added"), None);
    assert_eq!(
        empty::EVENTS.for_action("bookstore", "Book", "created"),
        None
    );
    assert_eq!(
        one_without_comma::EVENTS.get("only.one").map(|e| e.name),
        Some("only.one")
    );
    assert_eq!(one_without_comma::OnlyOne::NAME, "only.one");
}

#[test]
fn derived_models_have_labels_and_owners() {
    let book = Book {
        id: 7,
        title: "Dune".into(),
        user: 42,
    };
    assert_eq!(
        (Book::APP, Book::MODEL, Book::HAS_OWNER),
        ("bookstore", "Book", true)
    );
    assert_eq!(book.owner().as_deref(), Some("42"));

    let genre = Genre { name: "sf".into() };
    assert_eq!(
        (Genre::APP, Genre::MODEL, Genre::HAS_OWNER),
        ("catalog", "Genre", false)
    );
    assert_eq!(genre.owner(), None);

    let novel = NovelRow {
        author: "frank".into(),
    };
    assert_eq!(NovelRow::MODEL, "Novel");
    assert_eq!(novel.owner().as_deref(), Some("frank"));
}

#[test]
fn the_default_payload_is_hook_and_data() {
    let book = Book {
        id: 7,
        title: "Dune".into(),
        user: 42,
    };
    let hook = HookInfo {
        id: "h1",
        event: "book.added",
        target: "https://example.com/in",
    };
    assert_eq!(
        book.payload(&hook).unwrap(),
        json!({
            "hook": {"id": "h1", "event": "book.added", "target": "https://example.com/in"},
            "data": {"id": 7, "title": "Dune", "user": 42},
        })
    );
}

#[test]
fn a_model_implemented_by_hand_sends_its_own_payload() {
    let shelf = Shelf {
        items: vec![1u8, 2, 3],
        owner: "ann",
    };
    let hook = HookInfo {
        id: "h2",
        event: "shelf.filled",
        target: "https://example.com/in",
    };
    assert_eq!(
        shelf.payload(&hook).unwrap(),
        json!({"shelf_event": "shelf.filled", "count": 3})
    );
    assert_eq!(shelf.owner().as_deref(), Some("ann"));
}

/// A table in a module of its own, whose events the crate re-exports: the
/// structs `hook_events!` emits are `pub`, as its `EVENTS` is.
mod shop {
    use rest_hooks::HookModel;

    /// An order.
    #[derive(serde::Serialize, HookModel)]
    #[hook(app = "shop", owner = customer)]
    pub struct Order {
        customer: String,
    }

    rest_hooks::hook_events! {
        "order.placed" => shop.Order.created,
    }
}

pub use shop::{EVENTS as SHOP_EVENTS, OrderPlaced};

#[test]
fn a_tables_events_can_be_re_exported() {
    assert_eq!(OrderPlaced::NAME, "order.placed");
    assert!(SHOP_EVENTS.get(OrderPlaced::NAME).is_some());
}
