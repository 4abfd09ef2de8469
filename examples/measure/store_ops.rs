//! The CPU a row of each queue operation of a store, apart from delivery: what
//! the engine asks of the store for each delivery, at the batch sizes it asks in.
//!
//! ```sh
//! cargo run --release --example store_ops -- --store sqlite
//! cargo run --release --example store_ops -- --store postgres --database-url postgres://postgres@127.0.0.1:5432/test
//! ```
//!
//! Queues `--rows` deliveries (100,000) to ten hooks in `enqueue` calls of
//! `--enqueue-batch` (160), then leases them `--lease-batch` (54) at a time and
//! records each leased batch as delivered, keeping about `--in-flight` (128)
//! leased and not yet recorded, as the engine's workers do; records go in calls of
//! `--record-batch` (70). The defaults are the sizes of the SQLite store's calls
//! in the load test (N = 20,000, K = 10, C = 64): a group commit of 16 firing
//! calls of 10 deliveries, and the lease and record batches counted there. It
//! prints the process's CPU time a row of each operation (PostgreSQL's server
//! apart), and last `store_ops store=<s> enqueue_us=<x> lease_us=<y> record_us=<z>`.

mod support;

use std::collections::VecDeque;
use std::time::Duration;

use rest_hooks::delivery::Next;
use rest_hooks::store::{Disable, MemoryStore, PgStore, Recorded, SqliteStore, Store};
use rest_hooks::{Attempt, AttemptResult, Delivery, Hook};
use support::{PgSchema, arg, arg_or, count_arg, cpu_time, micros_each, usage};
use time::OffsetDateTime;

/// The batch sizes and the number of rows.
struct Sizes {
    rows: usize,
    enqueue: usize,
    lease: usize,
    record: usize,
    in_flight: usize,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let store = arg("--store").unwrap_or_else(|| "sqlite".into());
    let sizes = Sizes {
        rows: count_arg("--rows", 100_000),
        enqueue: count_arg("--enqueue-batch", 160),
        lease: count_arg("--lease-batch", 54),
        record: count_arg("--record-batch", 70),
        in_flight: arg_or("--in-flight", 128),
    };
    let dir = tempfile::tempdir().expect("a temp dir");
    let figures = match store.as_str() {
        "memory" => measure(MemoryStore::new(), &sizes).await,
        "sqlite" => {
            let opened = SqliteStore::open(dir.path().join("ops.db"))
                .await
                .expect("open SQLite");
            measure(opened, &sizes).await
        }
        "postgres" => {
            let schema = PgSchema::create("store_ops").await;
            let opened = PgStore::connect_with(schema.options.clone())
                .await
                .expect("connect PostgreSQL");
            let figures = measure(opened, &sizes).await;
            schema.drop().await;
            figures
        }
        other => usage(&format!(
            "unknown store `{other}`: expected memory, sqlite or postgres"
        )),
    };
    let [enqueue, lease, record] = figures;
    println!(
        "store_ops store={store} enqueue_us={enqueue:.1} lease_us={lease:.1} record_us={record:.1}"
    );
}

/// Runs the three operations on `store`; their CPU time a row, in µs.
async fn measure(store: impl Store, sizes: &Sizes) -> [f64; 3] {
    let hooks: Vec<Hook> = (0..10).map(hook).collect();
    for h in &hooks {
        store
            .insert_hook(h, usize::MAX)
            .await
            .expect("insert a hook");
    }
    let payload = br#"{"hook":{"id":"019ae5b4-1c2f-7a7e-9c1e-3f2b5d6a7b8c","event":"order.placed","target":"http://127.0.0.1:9/in/3"},"data":{"id":12345,"total_cents":4999,"customer":"c-77"}}"#;
    let all: Vec<Delivery> = (0..sizes.rows)
        .map(|i| Delivery::new(&hooks[i % hooks.len()], payload.to_vec()))
        .collect();

    let before = cpu_time();
    for chunk in all.chunks(sizes.enqueue) {
        store.enqueue(chunk.to_vec()).await.expect("enqueue");
    }
    let enqueue = cpu_time().saturating_sub(before);
    println!("enqueue: {} rows in calls of {}", sizes.rows, sizes.enqueue);

    let (mut lease, mut record) = (Duration::ZERO, Duration::ZERO);
    let (mut leased, mut recorded) = (0, 0);
    let mut in_flight: VecDeque<Recorded> = VecDeque::new();
    let never = Disable {
        after: Duration::MAX,
    };
    loop {
        let before = cpu_time();
        let batch = store
            .lease(sizes.lease, Duration::from_secs(600))
            .await
            .expect("lease");
        lease += cpu_time().saturating_sub(before);
        leased += batch.len();
        let drained = batch.is_empty();
        in_flight.extend(batch.iter().map(|o| delivered(&o.delivery)));
        while in_flight.len() > sizes.in_flight || (drained && !in_flight.is_empty()) {
            let calls: Vec<Recorded> = in_flight
                .drain(..sizes.record.min(in_flight.len()))
                .collect();
            let before = cpu_time();
            store.record(&calls, &never).await.expect("record");
            record += cpu_time().saturating_sub(before);
            recorded += calls.len();
        }
        if drained {
            break;
        }
    }
    println!(
        "leased {leased} in calls of {}, recorded {recorded} in calls of {}",
        sizes.lease, sizes.record
    );
    [
        micros_each(enqueue, sizes.rows as u64),
        micros_each(lease, leased as u64),
        micros_each(record, recorded as u64),
    ]
}

fn hook(k: usize) -> Hook {
    Hook {
        id: uuid::Uuid::now_v7(),
        owner: "load".into(),
        event: "order.placed".into(),
        target: format!("http://127.0.0.1:9/in/{k}"),
        secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0".into(),
        active: true,
        disabled_reason: None,
        created_at: OffsetDateTime::now_utc(),
        metadata: serde_json::json!({}),
        headers: Default::default(),
    }
}

fn delivered(delivery: &Delivery) -> Recorded {
    Recorded {
        attempt: Attempt {
            delivery_id: delivery.id,
            hook_id: delivery.hook_id,
            attempted_at: OffsetDateTime::now_utc(),
            result: AttemptResult::Status(200),
            duration_ms: 1,
            response_body: None,
        },
        next: Next::Delivered,
    }
}
