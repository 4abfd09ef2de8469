use rest_hooks::HookModel;

#[derive(serde::Serialize, HookModel)]
#[hook(app = "bookstore", owner = user)]
pub struct Book {
    user: u64,
}

rest_hooks::hook_events! {
    "book.added" =>,
}
fn main() {}
