#[derive(serde::Serialize, rest_hooks::HookModel)]
#[hook(app = "bookstore", owner = usr, label = "x")]
pub struct Book {
    user: u64,
}

#[derive(serde::Serialize, rest_hooks::HookModel)]
#[hook(app = "book store", model = "Book")]
pub struct Shelf {
    user: u64,
}

fn main() {}
