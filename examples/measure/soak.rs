//! Bounded storage over time: the store stops growing once the retention purges
//! as much as is fired.
//!
//! ```sh
//! cargo run --release --example soak -- --store sqlite --minutes 6 --retention-seconds 60 --rate 500
//! cargo run --release --example soak -- --store postgres --database-url postgres://postgres@127.0.0.1:5432/test \
//!     --minutes 6 --retention-seconds 60 --rate 500
//! ```
//!
//! Fires `--rate` events a second, on a fixed schedule, to one hook on a receiver
//! on loopback for `--minutes`, with the retention set to `--retention-seconds`
//! (purged every sixth of it, at least every second). Every minute it prints the
//! database's size (SQLite: the file and its WAL; PostgreSQL: the total relation
//! size of the schema's tables), its rows, the process's RSS and the deliveries
//! behind. Then it waits for the last deliveries and prints last
//! `soak store=<s> minutes=<m> rate=<r> db_mb_first_half=<mb> db_mb_last=<mb>
//! growth_second_half_pct=<%> rss_mb_max=<mb> lost=<n>`, where the first size is
//! the one at half time and `lost` counts events fired without error that never
//! arrived.

mod support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use rest_hooks::store::{PgStore, SqliteStore};
use rest_hooks::target_policy::TargetPolicy;
use rest_hooks::{HookModel, Hooks, HooksBuilder, NewHook};
use support::{PgSchema, arg, arg_or, count_arg, open_loop, peak_rss_mib, rss_mib, usage};
use tokio::time::Instant;

/// One fired event, numbered in firing order.
#[derive(serde::Serialize, HookModel)]
#[hook(app = "soak", owner = owner)]
pub struct Order {
    seq: u64,
    owner: String,
    items: [&'static str; 3],
}

rest_hooks::hook_events! {
    "order.placed" => soak.Order.created,
}

/// Which events arrived, one bit each by `seq`.
#[derive(Default)]
struct Arrivals {
    bits: Mutex<Vec<u64>>,
    distinct: AtomicU64,
}

impl Arrivals {
    fn mark(&self, seq: u64) {
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        let mut bits = self.bits.lock().expect("arrivals");
        if bits.len() <= word {
            bits.resize(word + 1, 0);
        }
        if bits[word] & (1 << bit) == 0 {
            bits[word] |= 1 << bit;
            self.distinct.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn has(&self, seq: u64) -> bool {
        let bits = self.bits.lock().expect("arrivals");
        bits.get((seq / 64) as usize)
            .is_some_and(|word| word & (1 << (seq % 64)) != 0)
    }
}

async fn receive(State(arrivals): State<Arc<Arrivals>>, body: axum::body::Bytes) -> StatusCode {
    let payload: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    match payload["data"]["seq"].as_u64() {
        Some(seq) => {
            arrivals.mark(seq);
            StatusCode::OK
        }
        None => StatusCode::BAD_REQUEST,
    }
}

/// Where the soak keeps its store, to measure it.
enum Measured {
    Sqlite {
        path: PathBuf,
        pool: sqlx::SqlitePool,
    },
    Postgres {
        pool: sqlx::PgPool,
    },
}

impl Measured {
    /// The database's size in MiB, and its deliveries and attempts.
    async fn size(&self) -> (f64, i64, i64) {
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        match self {
            Measured::Sqlite { path, pool } => {
                let len = |p: PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
                let wal = PathBuf::from(format!("{}-wal", path.display()));
                let bytes = len(path.clone()) + len(wal);
                let (deliveries, attempts): (i64, i64) = sqlx::query_as(ROWS)
                    .fetch_one(pool)
                    .await
                    .expect("row counts");
                (mib(bytes), deliveries, attempts)
            }
            Measured::Postgres { pool } => {
                let bytes: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::int8
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = current_schema() AND c.relkind = 'r'",
                )
                .fetch_one(pool)
                .await
                .expect("the tables' size");
                let (deliveries, attempts): (i64, i64) = sqlx::query_as(ROWS)
                    .fetch_one(pool)
                    .await
                    .expect("row counts");
                (mib(u64::try_from(bytes).unwrap_or(0)), deliveries, attempts)
            }
        }
    }
}

/// Counts the deliveries and the attempts.
const ROWS: &str = "SELECT (SELECT COUNT(*) FROM rest_hooks_deliveries), (SELECT COUNT(*) FROM rest_hooks_attempts)";

#[tokio::main]
async fn main() {
    let store = arg("--store").unwrap_or_else(|| usage("--store sqlite|postgres is needed"));
    let minutes: u64 = count_arg("--minutes", 6);
    let retention = Duration::from_secs(arg_or("--retention-seconds", 60));
    let rate: u32 = count_arg("--rate", 500);

    let arrivals = Arc::new(Arrivals::default());
    let app = axum::Router::new()
        .route("/in", axum::routing::post(receive))
        .with_state(Arc::clone(&arrivals));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let target = format!("http://{}/in", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().expect("a temp dir");
    let mut schema = None;
    let (builder, measured) = match store.as_str() {
        "sqlite" => {
            let path = dir.path().join("soak.db");
            let store = SqliteStore::open(&path).await.expect("open SQLite");
            let url = format!("sqlite://{}?mode=ro", path.display());
            let pool = sqlx::SqlitePool::connect(&url).await.expect("read SQLite");
            (hooks_builder(store), Measured::Sqlite { path, pool })
        }
        "postgres" => {
            let created = PgSchema::create("soak").await;
            let store = PgStore::connect_with(created.options.clone())
                .await
                .expect("connect PostgreSQL");
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect_with(created.options.clone())
                .await
                .expect("connect PostgreSQL");
            schema = Some(created);
            (hooks_builder(store), Measured::Postgres { pool })
        }
        other => usage(&format!(
            "unknown store `{other}`: expected sqlite or postgres"
        )),
    };
    let purge_interval = (retention / 6).max(Duration::from_secs(1));
    let hooks = builder
        .retention(retention)
        .purge_interval(purge_interval)
        .build()
        .await
        .expect("hooks");
    hooks
        .subscribe(NewHook::new("soak", "order.placed", target))
        .await
        .expect("subscribe");
    println!(
        "soak: store={store} rate={rate}/s minutes={minutes} retention={}s purge_interval={}s",
        retention.as_secs(),
        purge_interval.as_secs_f64()
    );

    let fired = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(Mutex::new(Vec::new()));
    let firing = tokio::spawn(fire_at(
        hooks.clone(),
        rate,
        Duration::from_secs(minutes * 60),
        Arc::clone(&fired),
        Arc::clone(&failed),
    ));

    let started = Instant::now();
    let mut sizes = Vec::new();
    let mut rss_max: f64 = 0.0;
    for minute in 1..=minutes {
        tokio::time::sleep_until(started + Duration::from_secs(minute * 60)).await;
        let (mib, deliveries, attempts) = measured.size().await;
        let rss = rss_mib();
        rss_max = rss_max.max(rss);
        let behind = hooks.health().await.queue.map_or(0, |q| q.due + q.leased);
        println!(
            "minute={minute} db_mb={mib:.1} deliveries={deliveries} attempts={attempts} rss_mb={rss:.1} behind={behind} fired={} arrived={}",
            fired.load(Ordering::Relaxed),
            arrivals.distinct.load(Ordering::Relaxed)
        );
        sizes.push(mib);
    }
    let sent = firing.await.expect("the firing task");
    let failed = failed.lock().expect("failures").clone();

    // The last deliveries: everything fired without error must arrive.
    let deadline = Instant::now() + Duration::from_secs(120);
    let ok_fired = sent - failed.len() as u64;
    while arrivals.distinct.load(Ordering::Relaxed) < ok_fired && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lost = (0..sent)
        .filter(|seq| !failed.contains(seq) && !arrivals.has(*seq))
        .count();
    hooks.shutdown(Duration::from_secs(5)).await;
    if let Some(schema) = schema {
        schema.drop().await;
    }

    let half = sizes[(sizes.len() / 2).max(1) - 1];
    let last = sizes[sizes.len() - 1];
    let growth = if half > 0.0 {
        (last - half) / half * 100.0
    } else {
        0.0
    };
    println!(
        "fired={sent} failed_fires={} arrived={}",
        failed.len(),
        arrivals.distinct.load(Ordering::Relaxed)
    );
    println!(
        "soak store={store} minutes={minutes} rate={rate} db_mb_first_half={half:.1} db_mb_last={last:.1} growth_second_half_pct={growth:.1} rss_mb_max={:.1} lost={lost}",
        rss_max.max(peak_rss_mib())
    );
}

fn hooks_builder(store: impl rest_hooks::store::Store) -> HooksBuilder {
    Hooks::builder(&EVENTS, store)
        .target_policy(TargetPolicy::default().allow_ip([127, 0, 0, 1].into()))
}

/// Fires `rate` events a second for `period` (the open loop); how many it
/// fired. The numbers of those that failed go to `failed`.
async fn fire_at(
    hooks: Hooks,
    rate: u32,
    period: Duration,
    fired: Arc<AtomicU64>,
    failed: Arc<Mutex<Vec<u64>>>,
) -> u64 {
    open_loop(rate, tokio::time::sleep(period), |seq| {
        let (hooks, fired, failed) = (hooks.clone(), Arc::clone(&fired), Arc::clone(&failed));
        async move {
            let order = Order {
                seq,
                owner: "soak".into(),
                items: ["book", "pen", "lamp"],
            };
            if hooks.created(&order).await.is_err() {
                failed.lock().expect("failures").push(seq);
            }
            fired.fetch_add(1, Ordering::Relaxed);
        }
    })
    .await
}
