//! Event-table lookups: (app, model, action) → event and name → spec, through the
//! perfect-hash `Registry`, a `std::collections::HashMap` and a linear scan over the
//! same entries, for tables of 10, 100 and 1,000 events.
//!
//! `cargo bench -p rest-hooks --bench lookup`

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rest_hooks::{EventSpec, Registry};

// The generated tables declare `pub` models, as a table's models must be; here
// they sit in private modules.
#[allow(unreachable_pub)]
mod table_10 {
    include!("tables/table_10.rs");
}
#[allow(unreachable_pub)]
mod table_100 {
    include!("tables/table_100.rs");
}
#[allow(unreachable_pub)]
mod table_1000 {
    include!("tables/table_1000.rs");
}

type ActionKey = (&'static str, &'static str, &'static str);

/// One table and the keys to look up in it, every entry once.
struct Table {
    registry: &'static Registry,
    names: Vec<&'static str>,
    actions: Vec<ActionKey>,
}

impl Table {
    fn new(registry: &'static Registry) -> Self {
        let events = registry.events();
        Self {
            registry,
            names: events.iter().map(|e| e.name).collect(),
            actions: events
                .iter()
                .filter_map(|e| e.action.map(|a| (a.app, a.model, a.action)))
                .collect(),
        }
    }
}

/// Looks up every key in turn, so that no single entry stays hot in the caches.
fn cycle<K: Copy, R>(keys: &[K], mut lookup: impl FnMut(K) -> R) -> impl FnMut() -> R {
    let mut i = 0;
    move || {
        i += 1;
        if i == keys.len() {
            i = 0;
        }
        lookup(black_box(keys[i]))
    }
}

fn by_action(c: &mut Criterion, tables: &[Table]) {
    let mut group = c.benchmark_group("lookup/action");
    for table in tables {
        let size = table.names.len();
        let events = table.registry.events();
        let map: HashMap<ActionKey, &EventSpec> = events
            .iter()
            .filter_map(|e| e.action.map(|a| ((a.app, a.model, a.action), e)))
            .collect();
        group.bench_function(BenchmarkId::new("phf", size), |b| {
            b.iter(cycle(&table.actions, |(app, model, action)| {
                table.registry.for_action(app, model, action)
            }))
        });
        group.bench_function(BenchmarkId::new("hashmap", size), |b| {
            b.iter(cycle(&table.actions, |key| map.get(&key).copied()))
        });
        group.bench_function(BenchmarkId::new("linear", size), |b| {
            b.iter(cycle(&table.actions, |(app, model, action)| {
                events.iter().find(|e| {
                    e.action
                        .is_some_and(|a| a.app == app && a.model == model && a.action == action)
                })
            }))
        });
    }
    group.finish();
}

fn by_name(c: &mut Criterion, tables: &[Table]) {
    let mut group = c.benchmark_group("lookup/name");
    for table in tables {
        let size = table.names.len();
        let events = table.registry.events();
        let map: HashMap<&str, &EventSpec> = events.iter().map(|e| (e.name, e)).collect();
        group.bench_function(BenchmarkId::new("phf", size), |b| {
            b.iter(cycle(&table.names, |name| table.registry.get(name)))
        });
        group.bench_function(BenchmarkId::new("hashmap", size), |b| {
            b.iter(cycle(&table.names, |name| map.get(name).copied()))
        });
        group.bench_function(BenchmarkId::new("linear", size), |b| {
            b.iter(cycle(&table.names, |name| {
                events.iter().find(|e| e.name == name)
            }))
        });
    }
    group.finish();
}

fn lookup(c: &mut Criterion) {
    let tables = [
        Table::new(&table_10::EVENTS),
        Table::new(&table_100::EVENTS),
        Table::new(&table_1000::EVENTS),
    ];
    for table in &tables {
        assert_eq!(table.names.len(), table.actions.len());
    }
    by_action(c, &tables);
    by_name(c, &tables);
}

criterion_group!(benches, lookup);
criterion_main!(benches);
