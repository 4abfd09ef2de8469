//! What the measuring examples share: a counting receiver on loopback, the store
//! named on the command line, and reading the process's peak memory.

#![allow(dead_code, reason = "each example uses a part of this module")]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

/// A receiver that counts deliveries by `webhook-id` and answers 200, after
/// `delay` when it is not zero.
#[derive(Clone)]
pub(crate) struct CountingReceiver {
    pub url: String,
    inner: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    by_id: Mutex<HashMap<String, u32>>,
    distinct: AtomicU64,
    requests: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
    delay: Duration,
}

impl CountingReceiver {
    pub(crate) async fn start(delay: Duration) -> Self {
        let inner = Arc::new(Counts {
            delay,
            ..Counts::default()
        });
        let app = axum::Router::new()
            .route("/{*path}", axum::routing::post(receive))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, inner }
    }

    /// (distinct deliveries, requests in all).
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.inner.distinct.load(Ordering::Relaxed),
            self.inner.requests.load(Ordering::Relaxed),
        )
    }

    /// Fire-to-receipt latencies seen so far, in microseconds, sorted.
    pub(crate) fn latencies_us(&self) -> Vec<u64> {
        let mut all = self.inner.latencies_us.lock().expect("latencies").clone();
        all.sort_unstable();
        all
    }
}

async fn receive(State(counts): State<Arc<Counts>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let received_us = now_us();
    if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
        let first = {
            let mut by_id = counts.by_id.lock().expect("counts");
            let seen = by_id.entry(id.to_owned()).or_default();
            *seen += 1;
            *seen == 1
        };
        if first {
            counts.distinct.fetch_add(1, Ordering::Relaxed);
        }
        counts.requests.fetch_add(1, Ordering::Relaxed);
    }
    if let Ok(payload) = serde_json::from_slice::<serde_json::Value>(&body)
        && let Some(fired_us) = payload["data"]["fired_us"].as_u64()
    {
        counts
            .latencies_us
            .lock()
            .expect("latencies")
            .push(received_us.saturating_sub(fired_us));
    }
    if !counts.delay.is_zero() {
        tokio::time::sleep(counts.delay).await;
    }
    StatusCode::OK
}

/// Microseconds since the Unix epoch.
pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// CPU time the process has used so far, user and system, all threads
/// (`/proc/self/stat`, in the kernel's fixed 100 ticks a second).
pub(crate) fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces:
    // state is the first, utime the 12th and stime the 13th.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|field| field.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// The process's peak resident memory (VmHWM), in MiB.
/// `total` shared out over `count` (at least one), in µs.
pub(crate) fn micros_each(total: Duration, count: u64) -> f64 {
    total.as_secs_f64() * 1e6 / count.max(1) as f64
}

pub(crate) fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

/// The process's resident memory now (VmRSS), in MiB.
pub(crate) fn rss_mib() -> f64 {
    status_mib("VmRSS:")
}

/// A field of `/proc/self/status` given in kB, in MiB.
fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The open loop: starts `fire(n)` for n = 0, 1, 2, … `rate` times a second on
/// a fixed schedule, each in a task of its own, whether or not the earlier ones
/// have ended, until `stop` is done; then waits for the last ones. How many it
/// started.
pub(crate) async fn open_loop<F, Fut>(rate: u32, stop: impl Future<Output = ()>, mut fire: F) -> u64
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut running = tokio::task::JoinSet::new();
    let mut started = 0;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            biased;
            () = &mut stop => break,
            _ = ticks.tick() => {}
        }
        running.spawn(fire(started));
        started += 1;
        // A finished task keeps its memory until it is joined.
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
    started
}

/// The value after `--name` on the command line.
pub(crate) fn arg(name: &str) -> Option<String> {
    let mut args = std::env::args();
    while let Some(arg) = args.next() {
        if arg == name {
            return args.next();
        }
    }
    None
}

/// The value after `--name`, or `default`; ends the process with a usage error
/// when it is 0, a count the run cannot do without.
pub(crate) fn count_arg<T: std::str::FromStr + PartialEq + From<u8>>(name: &str, default: T) -> T {
    let value = arg_or(name, default);
    if value == T::from(0) {
        usage(&format!("{name} must be at least 1"));
    }
    value
}

pub(crate) fn arg_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match arg(name) {
        None => default,
        Some(value) => value
            .parse()
            .unwrap_or_else(|_| usage(&format!("{name} `{value}` is not a valid value"))),
    }
}

/// Ends the process with `message` and status 2, as for a wrong command line.
pub(crate) fn usage(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2)
}

/// A schema of its own for one run, on the PostgreSQL server that
/// `--database-url` names: the options that connect into it, and what dropping
/// it takes.
pub(crate) struct PgSchema {
    url: String,
    name: String,
    pub options: sqlx::postgres::PgConnectOptions,
}

impl PgSchema {
    /// Creates the schema `<prefix>_<a new UUID>`; without `--database-url`, ends
    /// the process with a usage error.
    pub(crate) async fn create(prefix: &str) -> Self {
        let url = arg("--database-url")
            .unwrap_or_else(|| usage("--store postgres needs --database-url URL"));
        let name = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
        pg_exec(&url, &format!("CREATE SCHEMA {name}")).await;
        let options: sqlx::postgres::PgConnectOptions = url.parse().expect("a PostgreSQL URL");
        let options = options.options([("search_path", name.as_str())]);
        Self { url, name, options }
    }

    /// Drops the schema and everything in it.
    pub(crate) async fn drop(self) {
        pg_exec(&self.url, &format!("DROP SCHEMA {} CASCADE", self.name)).await;
    }
}

/// Runs one SQL statement on the PostgreSQL server at `url`.
pub(crate) async fn pg_exec(url: &str, sql: &str) {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .expect("connect PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .expect("run SQL");
}
