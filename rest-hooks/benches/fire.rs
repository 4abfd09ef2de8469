//! Firing: an event no hook matches, and an event with one matching hook up to the
//! hand-off to the delivery side (payload built, delivery written to the queue),
//! on the memory and SQLite stores. No worker runs: nothing is sent.
//!
//! `cargo bench -p rest-hooks --bench fire`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rest_hooks::store::{MemoryStore, SqliteStore, Store};
use rest_hooks::target_policy::TargetPolicy;
use rest_hooks::{HookModel, Hooks, NewHook};

/// A book, owned by the user who added it.
#[derive(serde::Serialize, HookModel)]
#[hook(app = "bookstore", owner = user)]
pub struct Book {
    id: u64,
    title: String,
    user: u64,
}

rest_hooks::hook_events! {
    "book.added"   => bookstore.Book.created,
    "book.changed" => bookstore.Book.updated+,
    "book.removed" => bookstore.Book.deleted,
}

async fn hooks_on(store: impl Store) -> Hooks {
    let hooks = Hooks::builder(&EVENTS, store)
        .target_policy(TargetPolicy::default().allow_host("example.com"))
        .concurrency(0)
        .build()
        .await
        .expect("hooks");
    // Other owners' hooks on the event: an owner without hooks still misses.
    for owner in 1000..2000 {
        let new = NewHook::new(owner.to_string(), "book.removed", "https://example.com/in");
        hooks.subscribe(new).await.expect("subscribe");
    }
    hooks
        .subscribe(NewHook::new("7", "book.added", "https://example.com/in"))
        .await
        .expect("subscribe");
    hooks
}

fn bench_store(c: &mut Criterion, name: &str, runtime: &tokio::runtime::Runtime, hooks: &Hooks) {
    let mine = Book {
        id: 1,
        title: "Dune".into(),
        user: 7,
    };
    let theirs = Book {
        user: 8,
        ..Book {
            id: 2,
            title: "Emma".into(),
            user: 0,
        }
    };
    let mut group = c.benchmark_group(format!("fire/{name}"));
    group.bench_function("no_hook_on_the_event", |b| {
        b.to_async(runtime)
            .iter(|| async { hooks.updated(black_box(&theirs)).await.expect("fire") })
    });
    group.bench_function("no_hook_of_the_owner", |b| {
        b.to_async(runtime)
            .iter(|| async { hooks.deleted(black_box(&theirs)).await.expect("fire") })
    });
    group.bench_function("one_matching_hook", |b| {
        b.to_async(runtime).iter(|| async {
            let queued = hooks.created(black_box(&mine)).await.expect("fire");
            assert_eq!(queued, 1);
        })
    });
    group.finish();
}

fn fire(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let dir = tempfile::tempdir().expect("a temp dir");

    let memory = runtime.block_on(hooks_on(MemoryStore::new()));
    bench_store(c, "memory", &runtime, &memory);

    let sqlite = runtime.block_on(async {
        hooks_on(
            SqliteStore::open(dir.path().join("bench.db"))
                .await
                .expect("open SQLite"),
        )
        .await
    });
    bench_store(c, "sqlite", &runtime, &sqlite);
}

criterion_group!(benches, fire);
criterion_main!(benches);
