//! The event table of the bookstore, and what it answers.
//!
//! `cargo run --example event_table`

use rest_hooks::{Event, HookModel};

/// A book in the store, owned by the user who added it.
#[derive(serde::Serialize, HookModel)]
#[hook(app = "bookstore", owner = user)]
pub struct Book {
    id: u64,
    title: String,
    user: u64,
}

rest_hooks::hook_events! {
    "book.added"     => bookstore.Book.created,
    "book.changed"   => bookstore.Book.updated+,
    "book.removed"   => bookstore.Book.deleted,
    "book.read"      => bookstore.Book.read,
    "user.logged_in" => None,
}

fn main() {
    println!("{:<16} {:<26} raw   every owner", "event", "mapping");
    for event in EVENTS.events() {
        let mapping = event
            .action
            .map(|a| {
                format!(
                    "{}.{}.{}{}",
                    a.app,
                    a.model,
                    a.action,
                    if a.all_owners { "+" } else { "" }
                )
            })
            .unwrap_or_else(|| "None".to_owned());
        println!(
            "{:<16} {:<26} {:<5} {}",
            event.name,
            mapping,
            event.is_raw(),
            event.all_owners()
        );
    }

    let book = Book {
        id: 1,
        title: "Dune".into(),
        user: 42,
    };
    let hook = rest_hooks::HookInfo {
        id: "1",
        event: BookAdded::NAME,
        target: "https://example.com/hooks",
    };
    let created = EVENTS
        .for_action(Book::APP, Book::MODEL, "created")
        .map(|e| e.name);
    println!(
        "\n{}.{}.created fires {:?}",
        Book::APP,
        Book::MODEL,
        created
    );
    println!(
        "payload to owner {:?}: {}",
        book.owner(),
        book.payload(&hook).expect("a book serializes")
    );
}
