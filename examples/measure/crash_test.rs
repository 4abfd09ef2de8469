//! Crash safety: no fired event is lost when the process delivering it is killed.
//!
//! ```sh
//! cargo run --release --example crash_test
//! cargo run --release --example crash_test -- --store postgres --database-url postgres://postgres@127.0.0.1/test
//! ```
//!
//! A child process fires 10,000 events (`--events N`) to a receiver on loopback
//! that answers slowly, and is killed with SIGKILL while it delivers them. A second
//! process opens the same store and finishes. The last line is
//! `crash_test lost=<L> duplicates=<D> delivered=<N>`; the exit status is non-zero
//! unless nothing was lost. Duplicates are expected: delivery is at-least-once, and
//! what was in flight at the kill is sent again.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use rest_hooks::store::{PgStore, SqliteStore};
use rest_hooks::target_policy::TargetPolicy;
use rest_hooks::{HookModel, Hooks, NewHook};
use support::{CountingReceiver, arg, arg_or, now_us, pg_exec, usage};
use tokio::io::{AsyncBufReadExt, BufReader};

/// One fired event.
#[derive(serde::Serialize, HookModel)]
#[hook(app = "crash", owner = owner)]
pub struct Tick {
    n: u64,
    fired_us: u64,
    owner: String,
}

rest_hooks::hook_events! {
    "tick.fired" => crash.Tick.created,
}

/// Where the store is: a SQLite file, or a PostgreSQL schema.
#[derive(Clone)]
enum Location {
    Sqlite(String),
    Postgres { url: String, schema: String },
}

impl Location {
    fn args(&self) -> Vec<String> {
        match self {
            Location::Sqlite(path) => vec![
                "--store".into(),
                "sqlite".into(),
                "--path".into(),
                path.clone(),
            ],
            Location::Postgres { url, schema } => vec![
                "--store".into(),
                "postgres".into(),
                "--database-url".into(),
                url.clone(),
                "--schema".into(),
                schema.clone(),
            ],
        }
    }

    fn from_args() -> Self {
        match arg("--store").as_deref() {
            Some("postgres") => Location::Postgres {
                url: arg("--database-url").expect("--database-url"),
                schema: arg("--schema").expect("--schema"),
            },
            _ => Location::Sqlite(arg("--path").expect("--path")),
        }
    }

    async fn hooks(&self) -> Hooks {
        let builder = match self {
            Location::Sqlite(path) => {
                Hooks::builder(&EVENTS, SqliteStore::open(path).await.expect("open SQLite"))
            }
            Location::Postgres { url, schema } => {
                let options: sqlx::postgres::PgConnectOptions =
                    url.parse().expect("a PostgreSQL URL");
                let options = options.options([("search_path", schema.as_str())]);
                Hooks::builder(
                    &EVENTS,
                    PgStore::connect_with(options)
                        .await
                        .expect("connect PostgreSQL"),
                )
            }
        };
        builder
            .target_policy(TargetPolicy::default().allow_ip([127, 0, 0, 1].into()))
            .concurrency(64)
            .timeout(Duration::from_secs(2))
            .lease(Duration::from_secs(5))
            .poll_interval(Duration::from_millis(200))
            .build()
            .await
            .expect("hooks")
    }
}

#[tokio::main]
async fn main() {
    match arg("--child").as_deref() {
        Some("fire") => fire(arg_or("--events", 10_000)).await,
        Some("finish") => {
            let _hooks = Location::from_args().hooks().await;
            std::future::pending::<()>().await;
        }
        _ => std::process::exit(parent().await),
    }
}

/// The first child: fires every event, says so, and delivers until it is killed.
async fn fire(events: u64) {
    let hooks = Location::from_args().hooks().await;
    for n in 0..events {
        let tick = Tick {
            n,
            fired_us: now_us(),
            owner: "crash".into(),
        };
        hooks.created(&tick).await.expect("fire");
    }
    println!("fired {events}");
    std::future::pending::<()>().await;
}

async fn parent() -> i32 {
    let events: u64 = arg_or("--events", 10_000);
    let receiver = CountingReceiver::start(Duration::from_millis(20)).await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let location = match arg("--store").as_deref() {
        Some("postgres") => {
            let url = arg("--database-url")
                .unwrap_or_else(|| usage("--store postgres needs --database-url URL"));
            let schema = format!("crash_test_{}", uuid::Uuid::now_v7().simple());
            pg_exec(&url, &format!("CREATE SCHEMA {schema}")).await;
            Location::Postgres { url, schema }
        }
        None | Some("sqlite") => {
            Location::Sqlite(dir.path().join("hooks.db").display().to_string())
        }
        Some(other) => usage(&format!(
            "unknown store `{other}`: expected sqlite or postgres"
        )),
    };

    let setup = location.hooks().await;
    setup
        .subscribe(NewHook::new(
            "crash",
            "tick.fired",
            format!("{}/in", receiver.url),
        ))
        .await
        .expect("subscribe");
    setup.shutdown(Duration::ZERO).await;

    // The first process: fire everything, then get killed while delivering.
    let mut first = child("fire", &location, events);
    let stdout = first.stdout.take().expect("the child's stdout");
    let mut lines = BufReader::new(stdout).lines();
    let fired: u64 = loop {
        match lines.next_line().await.expect("the child's output") {
            Some(line) if line.starts_with("fired ") => break line[6..].parse().expect("a count"),
            Some(_) => {}
            None => panic!("the first child ended before it fired everything"),
        }
    };
    let started = Instant::now();
    while receiver.counts().0 < fired / 4 && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.start_kill().expect("SIGKILL the first child");
    first.wait().await.expect("the first child ended");
    let at_kill = receiver.counts();
    println!(
        "killed the first process after {} of {fired} deliveries",
        at_kill.0
    );

    // The second process: open the same store and finish.
    let mut second = child("finish", &location, events);
    let deadline = Instant::now() + Duration::from_secs(300);
    while receiver.counts().0 < fired && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.start_kill().expect("stop the second child");
    second.wait().await.expect("the second child ended");

    if let Location::Postgres { url, schema } = &location {
        pg_exec(url, &format!("DROP SCHEMA {schema} CASCADE")).await;
    }
    let (delivered, requests) = receiver.counts();
    let lost = fired.saturating_sub(delivered);
    println!(
        "crash_test lost={lost} duplicates={} delivered={delivered}",
        requests - delivered
    );
    i32::from(lost != 0)
}

fn child(mode: &str, location: &Location, events: u64) -> tokio::process::Child {
    tokio::process::Command::new(std::env::current_exe().expect("this program"))
        .args(["--child", mode, "--events", &events.to_string()])
        .args(location.args())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn a child process")
}
