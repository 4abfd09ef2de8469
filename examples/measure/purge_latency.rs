//! What a purge costs the callers of `fire`: fire latency at a steady rate while
//! nothing is purged, and then while a large purge runs.
//!
//! ```sh
//! cargo run --release --example purge_latency -- --store sqlite --rows 200000 --rate 500
//! cargo run --release --example purge_latency -- --store postgres --database-url postgres://postgres@127.0.0.1:5432/test \
//!     --rows 200000 --rate 500
//! ```
//!
//! Queues `--rows` deliveries that were delivered two hours ago (written through
//! the store, as the delivery log of a busy past), then fires `--rate` events a
//! second to one hook on a receiver on loopback: first for as long as the purge
//! will take (at most 30 s) with nothing to purge meanwhile, then while
//! `purge_now` deletes the old rows with a retention of one hour. It prints the
//! fire latency of each phase, and last
//! `purge_latency store=<s> rows=<n> purge_s=<x> fire_p50_ms_without=<a>
//! fire_p99_ms_without=<b> fire_p50_ms_during=<c> fire_p99_ms_during=<d>`.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rest_hooks::store::{PgStore, SqliteStore, Store};
use rest_hooks::target_policy::TargetPolicy;
use rest_hooks::{Delivery, DeliveryState, HookModel, Hooks, NewHook};
use support::{CountingReceiver, PgSchema, arg, arg_or, count_arg, open_loop, usage};
use tokio::sync::watch;
use tokio::time::Instant;

/// One fired event.
#[derive(serde::Serialize, HookModel)]
#[hook(app = "purge", owner = owner)]
pub struct Order {
    id: u64,
    owner: String,
    items: [&'static str; 3],
}

rest_hooks::hook_events! {
    "order.placed" => purge.Order.created,
}

#[tokio::main]
async fn main() {
    let store = arg("--store").unwrap_or_else(|| usage("--store sqlite|postgres is needed"));
    let rows: u64 = arg_or("--rows", 200_000);
    let rate: u32 = count_arg("--rate", 500);
    let dir = tempfile::tempdir().expect("a temp dir");
    match store.as_str() {
        "sqlite" => {
            let path = dir.path().join("purge.db");
            let store = SqliteStore::open(path).await.expect("open SQLite");
            measure("sqlite", store, rows, rate).await;
        }
        "postgres" => {
            let schema = PgSchema::create("purge").await;
            let store = PgStore::connect_with(schema.options.clone())
                .await
                .expect("connect PostgreSQL");
            measure("postgres", store, rows, rate).await;
            schema.drop().await;
        }
        other => usage(&format!(
            "unknown store `{other}`: expected sqlite or postgres"
        )),
    }
}

async fn measure(name: &str, store: impl Store + Clone, rows: u64, rate: u32) {
    let receiver = CountingReceiver::start(Duration::ZERO).await;
    // Purged by hand only: the background task runs once, at build, on an empty
    // log.
    let hooks = Hooks::builder(&EVENTS, store.clone())
        .target_policy(TargetPolicy::default().allow_ip([127, 0, 0, 1].into()))
        .retention(Duration::from_secs(3600))
        .purge_interval(Duration::from_secs(24 * 3600))
        .build()
        .await
        .expect("hooks");
    let hook = hooks
        .subscribe(NewHook::new(
            "purge",
            "order.placed",
            format!("{}/in", receiver.url),
        ))
        .await
        .expect("subscribe");

    let filled = Instant::now();
    fill(&store, &hook, rows).await;
    println!(
        "queued {rows} deliveries delivered two hours ago in {:.1} s",
        filled.elapsed().as_secs_f64()
    );

    // The purge's length, measured first on its own would change what is
    // purged; a first run of fire alone lasts as long as the purge will, up to
    // 30 s, estimated at 20,000 rows a second.
    let without_for = Duration::from_secs_f64((rows as f64 / 20_000.0).clamp(5.0, 30.0));
    let (stop_tx, stop) = watch::channel(false);
    let firing = tokio::spawn(fire_at(hooks.clone(), rate, stop));
    tokio::time::sleep(without_for).await;
    stop_tx.send_replace(true);
    let without = firing.await.expect("firing");

    let (stop_tx, stop) = watch::channel(false);
    let firing = tokio::spawn(fire_at(hooks.clone(), rate, stop));
    let purge_started = Instant::now();
    let purged = hooks.purge_now().await.expect("purge");
    let purge_s = purge_started.elapsed().as_secs_f64();
    stop_tx.send_replace(true);
    let during = firing.await.expect("firing");
    hooks.shutdown(Duration::from_secs(5)).await;

    let (p50_without, p99_without) = percentiles(without);
    let (p50_during, p99_during) = percentiles(during);
    println!(
        "purged {purged} deliveries in {purge_s:.1} s ({:.0} a second)",
        purged as f64 / purge_s
    );
    println!(
        "purge_latency store={name} rows={rows} purge_s={purge_s:.1} fire_p50_ms_without={p50_without:.2} fire_p99_ms_without={p99_without:.2} fire_p50_ms_during={p50_during:.2} fire_p99_ms_during={p99_during:.2}"
    );
}

/// Writes `rows` deliveries to `hook`, delivered, with ids and times of two
/// hours ago, 5,000 a statement.
async fn fill(store: &impl Store, hook: &rest_hooks::Hook, rows: u64) {
    let fired = time::OffsetDateTime::now_utc() - time::Duration::hours(2);
    let millis = u64::try_from(fired.unix_timestamp_nanos() / 1_000_000).expect("a time");
    let payload = br#"{"data":{"id":1,"owner":"purge","items":["book","pen","lamp"]}}"#;
    let mut written = 0;
    while written < rows {
        let chunk: Vec<Delivery> = (written..rows.min(written + 5_000))
            .map(|n| {
                let mut random = [0; 10];
                random[..8].copy_from_slice(&n.to_be_bytes());
                Delivery {
                    id: uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid(),
                    state: DeliveryState::Delivered,
                    attempts: 1,
                    created_at: fired,
                    ..Delivery::new(hook, payload.to_vec())
                }
            })
            .collect();
        written += chunk.len() as u64;
        store.enqueue(chunk).await.expect("queue old deliveries");
    }
}

/// Fires `rate` events a second (the open loop) until `stop`; the latency of
/// each `fire` call.
async fn fire_at(hooks: Hooks, rate: u32, mut stop: watch::Receiver<bool>) -> Vec<Duration> {
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let stopped = async move {
        let _ = stop.changed().await;
    };
    open_loop(rate, stopped, |id| {
        let (hooks, latencies) = (hooks.clone(), Arc::clone(&latencies));
        async move {
            let order = Order {
                id,
                owner: "purge".into(),
                items: ["book", "pen", "lamp"],
            };
            let started = Instant::now();
            hooks.created(&order).await.expect("fire");
            latencies.lock().expect("latencies").push(started.elapsed());
        }
    })
    .await;
    std::mem::take(&mut *latencies.lock().expect("latencies"))
}

/// p50 and p99, in milliseconds.
fn percentiles(mut all: Vec<Duration>) -> (f64, f64) {
    all.sort_unstable();
    let at = |q: f64| {
        let i = ((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1));
        all.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    (at(0.50), at(0.99))
}
