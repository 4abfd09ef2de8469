use rest_hooks::HookModel;

#[derive(serde::Serialize, HookModel)]
#[hook(app = "bookstore", owner = user)]
pub struct Book {
    user: u64,
}

#[derive(serde::Serialize)]
pub struct Author {
    user: u64,
}

rest_hooks::hook_events! {
    "author.added" => bookstore.Author.created,
}
fn main() {}
