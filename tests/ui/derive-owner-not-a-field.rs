#[derive(serde::Serialize, rest_hooks::HookModel)]
#[hook(app = "bookstore", owner = user)]
pub struct Book {
    id: u64,
}

fn main() {}
