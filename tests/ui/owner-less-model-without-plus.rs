use rest_hooks::HookModel;

#[derive(serde::Serialize, HookModel)]
#[hook(app = "bookstore", owner = user)]
pub struct Book {
    user: u64,
}

#[derive(serde::Serialize, HookModel)]
#[hook(app = "catalog")]
pub struct Genre {
    name: String,
}

rest_hooks::hook_events! {
    "genre.added" => catalog.Genre.created+,
    "genre.renamed" => catalog.Genre.updated,
    "genre.removed" => catalog.Genre.deleted,
}
fn main() {}
