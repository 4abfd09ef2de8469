// One mistake in the derive gives one error: the table that names the model does
// not add a second one.
use rest_hooks::HookModel;

#[derive(serde::Serialize, HookModel)]
#[hook(app = "bookstore", owner = usr)]
pub struct Book {
    user: u64,
}

rest_hooks::hook_events! {
    "book.added" => bookstore.Book.created,
}

fn main() {}
