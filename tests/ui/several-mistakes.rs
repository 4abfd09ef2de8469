use rest_hooks::HookModel;

#[derive(serde::Serialize, HookModel)]
#[hook(app = "bookstore", owner = user)]
pub struct Book {
    user: u64,
}

rest_hooks::hook_events! {
    "Book.Added" => bookstore.Book.created,
    "book.changed" bookstore.Book.updated,
    "book.removed" => bookstore.Book.deleted,
    "book.gone" => bookstore.Book.deleted,
    "book.read" => library.Book.read,
}
fn main() {}
