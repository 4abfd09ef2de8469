use rest_hooks::HookModel;

#[derive(serde::Serialize, HookModel)]
#[hook(app = "bookstore", owner = user)]
pub struct Book {
    user: u64,
}

#[derive(serde::Serialize, HookModel)]
#[hook(app = "bookstore", model = "Novel", owner = user)]
pub struct NovelRow {
    user: u64,
}

rest_hooks::hook_events! {
    "novel.added" => bookstore.NovelRow.created,
}
fn main() {}
