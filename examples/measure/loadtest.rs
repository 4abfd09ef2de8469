//! Throughput against the limit of this machine.
//!
//! ```sh
//! cargo run --release --example loadtest -- --store memory --events 20000 --hooks 10 --concurrency 64
//! cargo run --release --example loadtest -- --store sqlite --events 20000 --hooks 10 --concurrency 64
//! cargo run --release --example loadtest -- --store postgres --database-url postgres://postgres@127.0.0.1/test \
//!     --events 20000 --hooks 10 --concurrency 64
//! cargo run --release --example loadtest -- --store sqlite --events 100000 --hooks 10 --receiver-down --seconds 30
//! cargo run --release --example loadtest -- --store sqlite --rate 500 --seconds 30 --hooks 10 --concurrency 64
//! ```
//!
//! Starts a receiver on loopback (axum on hyper, counting and answering 200),
//! subscribes K hooks to it, fires N events from `--firers` tasks (C by default, as
//! many request handlers as attempts in flight; each fires its next event once the
//! last is queued) and waits until all N×K deliveries have arrived. Then, against the same receiver, it measures the limit: a plain reqwest
//! POST loop of the same body at the same concurrency. It prints how many were
//! delivered while firing, p50/p99 fire-to-receipt latency, how many were sent
//! more than once, peak RSS, and last the line
//! `loadtest store=<s> deliveries_per_s=<x> limit_per_s=<y> ratio=<x/y> p99_ms=<z>`.
//!
//! With `--rate R --seconds S` (an open loop), it fires R events a second on a
//! fixed schedule for S seconds, whether or not earlier ones were delivered, and
//! prints fire-to-receipt p50, p99 and p99.9, the deliveries behind when firing
//! stopped, and last `loadtest-rate store=<s> rate=<events/s>
//! achieved=<events/s> p50_ms=<x> p99_ms=<y> p999_ms=<z>`.
//!
//! With `--receiver-down`, the hooks point at a port nothing listens on: it fires
//! N×K deliveries into the queue, lets the engine work on the backlog for
//! `--seconds`, and prints the peak RSS.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rest_hooks::store::{MemoryStore, PgStore, SqliteStore};
use rest_hooks::target_policy::TargetPolicy;
use rest_hooks::{HookModel, Hooks, HooksBuilder, NewHook};
use support::{
    CountingReceiver, PgSchema, arg, arg_or, count_arg, cpu_time, micros_each, now_us, open_loop,
    peak_rss_mib, usage,
};
use tokio::sync::broadcast;

/// One fired event; `fired_us` lets the receiver measure latency.
#[derive(serde::Serialize, HookModel)]
#[hook(app = "load", owner = owner)]
pub struct Order {
    id: u64,
    fired_us: u64,
    owner: String,
    items: [&'static str; 3],
}

impl Order {
    /// Order `id`, stamped with the time it is fired.
    fn fired_now(id: u64) -> Self {
        Self {
            id,
            fired_us: now_us(),
            owner: "load".into(),
            items: ["book", "pen", "lamp"],
        }
    }
}

rest_hooks::hook_events! {
    "order.placed" => load.Order.created,
}

#[tokio::main]
async fn main() {
    let store = arg("--store").unwrap_or_else(|| "memory".into());
    // With none of one of these, nothing is delivered and the run would never end.
    let events: u64 = count_arg("--events", 20_000);
    let hook_count: u64 = count_arg("--hooks", 10);
    let concurrency: usize = count_arg("--concurrency", 64);
    let firers: u64 = count_arg("--firers", concurrency as u64);
    let receiver_down = std::env::args().any(|a| a == "--receiver-down");

    let receiver = CountingReceiver::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut schema = None;
    let opened = match store.as_str() {
        "memory" => Opened::Memory(MemoryStore::new()),
        "sqlite" => Opened::Sqlite(
            SqliteStore::open(dir.path().join("load.db"))
                .await
                .expect("open SQLite"),
        ),
        "postgres" => {
            let created = PgSchema::create("loadtest").await;
            let store = PgStore::connect_with(created.options.clone())
                .await
                .expect("connect PostgreSQL");
            schema = Some(created);
            Opened::Postgres(store)
        }
        other => usage(&format!(
            "unknown store `{other}`: expected memory, sqlite or postgres"
        )),
    };
    // With the receiver down, the queue is filled first and worked on after.
    let firing_concurrency = if receiver_down { 0 } else { concurrency };
    let hooks = opened
        .builder(firing_concurrency)
        .build()
        .await
        .expect("hooks");

    let target = if receiver_down {
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let url = format!("http://{}", closed.local_addr().expect("an address"));
        drop(closed);
        url
    } else {
        receiver.url.clone()
    };
    for k in 0..hook_count {
        let new = NewHook::new("load", "order.placed", format!("{target}/in/{k}"));
        hooks.subscribe(new).await.expect("subscribe");
    }

    if let Some(rate) = arg("--rate") {
        let rate: u32 = rate
            .parse()
            .ok()
            .filter(|&r| r > 0)
            .unwrap_or_else(|| usage("--rate must be a number of events a second, at least 1"));
        let seconds: u64 = arg_or("--seconds", 30);
        at_rate(&store, &hooks, &receiver, rate, seconds, hook_count).await;
        hooks.shutdown(Duration::from_secs(5)).await;
        drop_schema(schema).await;
        return;
    }

    let expected = events * hook_count;
    let started = Instant::now();
    let cpu_at_start = cpu_time();
    fire_all(&hooks, events, firers).await;
    let fired_in = started.elapsed();
    println!(
        "fired {events} events ({expected} deliveries) in {:.2} s; {} delivered meanwhile",
        fired_in.as_secs_f64(),
        receiver.counts().0
    );

    if receiver_down {
        let seconds: u64 = arg_or("--seconds", 30);
        println!(
            "peak RSS after queueing {expected} deliveries: {:.1} MiB",
            peak_rss_mib()
        );
        let delivering = opened.builder(concurrency).build().await.expect("hooks");
        let mut observed = delivering.observe();
        let attempts = tokio::spawn(async move {
            let mut attempts = 0u64;
            loop {
                match observed.recv().await {
                    Ok(_) => attempts += 1,
                    Err(broadcast::error::RecvError::Lagged(missed)) => attempts += missed,
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
            attempts
        });
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        delivering.shutdown(Duration::from_secs(5)).await;
        drop(delivering);
        let attempts = attempts.await.unwrap_or_default();
        println!("the engine made {attempts} attempts on the backlog in {seconds} s");
        println!(
            "loadtest backlog store={store} queued={expected} seconds={seconds} peak_rss_mib={:.1}",
            peak_rss_mib()
        );
        drop_schema(schema).await;
        return;
    }

    while receiver.counts().0 < expected {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    let delivering_cpu = cpu_time().saturating_sub(cpu_at_start);
    let cpu_us_per_delivery = micros_each(delivering_cpu, expected);
    let deliveries_per_s = expected as f64 / elapsed.as_secs_f64();
    hooks.shutdown(Duration::from_secs(5)).await;
    let latencies = receiver.latencies_us();
    let (p50, p99) = (
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.99),
    );
    let (distinct, requests) = receiver.counts();
    println!(
        "delivered {expected} in {:.2} s: {deliveries_per_s:.0}/s, fire-to-receipt p50 {p50:.1} ms, p99 {p99:.1} ms; {} sent more than once",
        elapsed.as_secs_f64(),
        requests.saturating_sub(distinct)
    );

    let cpu_before_limit = cpu_time();
    let limit_started = Instant::now();
    let limit_per_s = limit(&receiver.url, expected, concurrency).await;
    let limit_cpu = cpu_time().saturating_sub(cpu_before_limit);
    let cpu_us_per_request = micros_each(limit_cpu, expected);
    let limit_elapsed = limit_started.elapsed();
    println!("limit: a plain reqwest POST loop at concurrency {concurrency}: {limit_per_s:.0}/s");
    // Steadier than the rates when the machine's speed wanders between runs.
    println!(
        "CPU time: {cpu_us_per_delivery:.1} µs a delivery (firing included), {cpu_us_per_request:.1} µs a request of the limit; cores busy {:.2} delivering, {:.2} in the limit",
        delivering_cpu.as_secs_f64() / elapsed.as_secs_f64(),
        limit_cpu.as_secs_f64() / limit_elapsed.as_secs_f64(),
    );
    println!("peak RSS: {:.1} MiB", peak_rss_mib());
    drop_schema(schema).await;
    println!(
        "loadtest store={store} deliveries_per_s={deliveries_per_s:.0} limit_per_s={limit_per_s:.0} ratio={:.2} p99_ms={p99:.1}",
        deliveries_per_s / limit_per_s
    );
}

/// The store named on the command line; each `Hooks` built on it shares it.
enum Opened {
    Memory(MemoryStore),
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Opened {
    fn builder(&self, concurrency: usize) -> HooksBuilder {
        let builder = match self {
            Opened::Memory(store) => Hooks::builder(&EVENTS, store.clone()),
            Opened::Sqlite(store) => Hooks::builder(&EVENTS, store.clone()),
            Opened::Postgres(store) => Hooks::builder(&EVENTS, store.clone()),
        };
        builder
            .target_policy(TargetPolicy::default().allow_ip([127, 0, 0, 1].into()))
            .concurrency(concurrency)
            .per_host(concurrency.max(1))
            .poll_interval(Duration::from_millis(100))
    }
}

/// Fires `events` events from `firers` tasks, as request handlers would.
async fn fire_all(hooks: &Hooks, events: u64, firers: u64) {
    let tasks: Vec<_> = (0..firers)
        .map(|t| {
            let hooks = hooks.clone();
            tokio::spawn(async move {
                for id in (t..events).step_by(firers as usize) {
                    hooks.created(&Order::fired_now(id)).await.expect("fire");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a firing task");
    }
}

/// The open loop: fires `rate` events a second on a fixed schedule for
/// `seconds`, each from a task of its own, whether or not earlier ones were
/// delivered; then waits (up to a minute) for the deliveries still behind, and
/// prints fire-to-receipt p50, p99 and p99.9.
async fn at_rate(
    store: &str,
    hooks: &Hooks,
    receiver: &CountingReceiver,
    rate: u32,
    seconds: u64,
    hook_count: u64,
) {
    let started = Instant::now();
    let stop = tokio::time::sleep(Duration::from_secs(seconds));
    let fired = open_loop(rate, stop, |id| {
        let hooks = hooks.clone();
        async move {
            hooks.created(&Order::fired_now(id)).await.expect("fire");
        }
    })
    .await;
    let achieved = fired as f64 / started.elapsed().as_secs_f64();
    let expected = fired * hook_count;
    let behind = expected.saturating_sub(receiver.counts().0);
    let drain = Instant::now();
    while receiver.counts().0 < expected && drain.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let latencies = receiver.latencies_us();
    let [p50, p99, p999] = [0.50, 0.99, 0.999].map(|p| percentile_ms(&latencies, p));
    println!(
        "fired {fired} events ({expected} deliveries) at {achieved:.0}/s for {seconds} s; {behind} deliveries behind when firing stopped, {} never arrived",
        expected.saturating_sub(receiver.counts().0)
    );
    println!("fire-to-receipt p50 {p50:.1} ms, p99 {p99:.1} ms, p99.9 {p999:.1} ms");
    println!(
        "loadtest-rate store={store} rate={rate} achieved={achieved:.0} p50_ms={p50:.2} p99_ms={p99:.2} p999_ms={p999:.2}"
    );
}

/// The `p` quantile of latencies sorted in microseconds, in milliseconds.
fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    sorted_us
        .get((sorted_us.len().saturating_sub(1) as f64 * p) as usize)
        .map_or(0.0, |&us| us as f64 / 1000.0)
}

/// Requests per second of a plain reqwest POST loop of a delivery's body and
/// headers: a fresh `webhook-id` each, as the receiver counts them, and a
/// signature of the same shape, which it does not check. What the library does for
/// a delivery (queue, lease, sign, record) is all that the two figures differ by.
async fn limit(url: &str, requests: u64, concurrency: usize) -> f64 {
    let client = reqwest::Client::new();
    let body = serde_json::to_vec(&serde_json::json!({
        "hook": {"id": uuid::Uuid::now_v7(), "event": "order.placed", "target": url},
        "data": {"id": 1, "fired_us": 0, "owner": "load", "items": ["book", "pen", "lamp"]},
    }))
    .expect("a body");
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, body, next, url) = (
                client.clone(),
                body.clone(),
                Arc::clone(&next),
                format!("{url}/limit"),
            );
            tokio::spawn(async move {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < requests {
                    let response = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("user-agent", "rest-hooks/limit")
                        .header("webhook-id", uuid::Uuid::now_v7().to_string())
                        .header("webhook-timestamp", now_us() / 1_000_000)
                        .header(
                            "webhook-signature",
                            "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
                        )
                        .body(body.clone())
                        .send()
                        .await
                        .expect("a POST");
                    assert!(response.status().is_success());
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a POST task");
    }
    requests as f64 / started.elapsed().as_secs_f64()
}

/// Drops the load test's PostgreSQL schema, if it made one.
async fn drop_schema(schema: Option<PgSchema>) {
    if let Some(schema) = schema {
        schema.drop().await;
    }
}
