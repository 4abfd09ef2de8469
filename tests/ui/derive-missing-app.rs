#[derive(serde::Serialize, rest_hooks::HookModel)]
#[hook(owner = user)]
pub struct Book {
    user: u64,
}

fn main() {}
