//! Several processes on one PostgreSQL: every event is delivered once, whichever
//! process fired it and whichever is alive.
//!
//! ```sh
//! cargo run --release --example cluster -- --database-url postgres://postgres@127.0.0.1/test --processes 2 --events 10000 --hooks 5
//! cargo run --release --example cluster -- --database-url postgres://postgres@127.0.0.1/test --processes 2 --no-kill
//! ```
//!
//! Starts P worker processes (children of this one, each with its own `Hooks` on
//! one schema). They fire N events between them to K hooks on a loopback receiver,
//! then all deliver from the shared queue. Once half of the deliveries have
//! arrived, one process is killed with SIGKILL (unless `--no-kill`); its leases
//! expire and the others take them over (with one process, a new one is started,
//! as a supervisor would). The last line is
//! `cluster processes=<P> lost=<L> duplicates=<D> delivered=<X> deliveries_per_s=<R>`,
//! `R` counted from the start of delivery to the last arrival; the exit status is
//! non-zero unless nothing was lost. Duplicates are what the killed process had
//! sent but not recorded; without a kill there should be none.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use rest_hooks::store::PgStore;
use rest_hooks::target_policy::TargetPolicy;
use rest_hooks::{HookModel, Hooks, NewHook};
use support::{CountingReceiver, arg, arg_or, count_arg, now_us, pg_exec, usage};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};
use tokio::task::JoinSet;

/// One fired event.
#[derive(serde::Serialize, HookModel)]
#[hook(app = "cluster", owner = owner)]
pub struct Tick {
    n: u64,
    fired_us: u64,
    owner: String,
}

rest_hooks::hook_events! {
    "tick.fired" => cluster.Tick.created,
}

/// How long a killed process's deliveries stay leased before others take them.
const LEASE: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() {
    if arg("--child").is_some() {
        child().await;
    } else {
        std::process::exit(parent().await);
    }
}

async fn hooks(url: &str, schema: &str, concurrency: usize) -> Hooks {
    let options: sqlx::postgres::PgConnectOptions = url.parse().expect("a PostgreSQL URL");
    let store = PgStore::connect_with(options.options([("search_path", schema)]))
        .await
        .expect("connect PostgreSQL");
    Hooks::builder(&EVENTS, store)
        .target_policy(TargetPolicy::default().allow_ip([127, 0, 0, 1].into()))
        .concurrency(concurrency)
        .timeout(Duration::from_secs(2))
        .lease(LEASE)
        .build()
        .await
        .expect("hooks")
}

/// A worker process: says it is ready, fires its share of the events when told
/// to, says so, and when told to, delivers until its stdin closes or it is killed.
async fn child() {
    let url = arg("--database-url").expect("--database-url");
    let schema = arg("--schema").expect("--schema");
    let (first, count): (u64, u64) = (arg_or("--first", 0), arg_or("--count", 0));
    let hooks = hooks(&url, &schema, 0).await;
    println!("ready");
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let _fire = stdin.next_line().await;

    // A few firing tasks, as the request handlers of an application would be.
    let mut firing = JoinSet::new();
    for task in 0..8 {
        let hooks = hooks.clone();
        firing.spawn(async move {
            for n in (first + task..first + count).step_by(8) {
                let tick = Tick {
                    n,
                    fired_us: now_us(),
                    owner: "cluster".into(),
                };
                hooks.created(&tick).await.expect("fire");
            }
        });
    }
    while let Some(done) = firing.join_next().await {
        done.expect("a firing task");
    }
    println!("fired {count}");

    let _deliver = stdin.next_line().await;
    let delivering = self::hooks(&url, &schema, 64).await;
    while let Ok(Some(_)) = stdin.next_line().await {}
    delivering.shutdown(Duration::from_secs(5)).await;
}

/// A worker process started by the parent.
struct Worker {
    process: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Worker {
    fn start(url: &str, schema: &str, first: u64, count: u64) -> Self {
        let mut process =
            tokio::process::Command::new(std::env::current_exe().expect("this program"))
                .args([
                    "--child",
                    "worker",
                    "--database-url",
                    url,
                    "--schema",
                    schema,
                ])
                .args(["--first", &first.to_string(), "--count", &count.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .expect("spawn a worker process");
        let stdout = process.stdout.take().expect("the worker's stdout");
        Self {
            process,
            lines: BufReader::new(stdout).lines(),
        }
    }

    /// Waits for a line that starts with `prefix`.
    async fn said(&mut self, prefix: &str) {
        loop {
            match self.lines.next_line().await.expect("the worker's output") {
                Some(line) if line.starts_with(prefix) => return,
                Some(_) => {}
                None => panic!("a worker ended before it said `{prefix}`"),
            }
        }
    }

    async fn tell(&mut self, line: &str) {
        let stdin = self.process.stdin.as_mut().expect("the worker's stdin");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write to a worker");
    }

    /// Closes its stdin, which stops it, and waits for it.
    async fn stop(mut self) {
        drop(self.process.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(30), self.process.wait()).await;
    }
}

async fn parent() -> i32 {
    let url = arg("--database-url")
        .unwrap_or_else(|| usage("--database-url URL of a PostgreSQL database is needed"));
    let processes: u64 = count_arg("--processes", 2);
    let events: u64 = arg_or("--events", 10_000);
    let hook_count: u64 = arg_or("--hooks", 5);
    let kill = !std::env::args().any(|a| a == "--no-kill");
    let expected = events * hook_count;

    let receiver = CountingReceiver::start(Duration::ZERO).await;
    let schema = format!("cluster_{}", uuid::Uuid::now_v7().simple());
    pg_exec(&url, &format!("CREATE SCHEMA {schema}")).await;
    let setup = hooks(&url, &schema, 0).await;
    for k in 0..hook_count {
        setup
            .subscribe(NewHook::new(
                "cluster",
                "tick.fired",
                format!("{}/hook/{k}", receiver.url),
            ))
            .await
            .expect("subscribe");
    }
    drop(setup);

    let share = events.div_ceil(processes);
    let mut workers: Vec<Worker> = (0..processes)
        .map(|p| {
            let first = p * share;
            Worker::start(
                &url,
                &schema,
                first,
                share.min(events.saturating_sub(first)),
            )
        })
        .collect();
    for worker in &mut workers {
        worker.said("ready").await;
    }
    let firing = Instant::now();
    for worker in &mut workers {
        worker.tell("fire").await;
    }
    for worker in &mut workers {
        worker.said("fired").await;
    }
    let fired_in = firing.elapsed().as_secs_f64();
    println!(
        "fired {events} events ({expected} deliveries) in {fired_in:.1} s: {:.0} events/s",
        events as f64 / fired_in
    );

    let started = Instant::now();
    for worker in &mut workers {
        worker.tell("deliver").await;
    }

    let deadline = Instant::now() + Duration::from_secs(600);
    if kill {
        while receiver.counts().0 < expected / 2 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut killed = workers.remove(0);
        killed.process.start_kill().expect("SIGKILL a worker");
        let _ = killed.process.wait().await;
        println!(
            "killed a worker after {} of {expected} deliveries",
            receiver.counts().0
        );
        if workers.is_empty() {
            let mut replacement = Worker::start(&url, &schema, 0, 0);
            replacement.said("ready").await;
            replacement.tell("fire").await;
            replacement.said("fired").await;
            replacement.tell("deliver").await;
            workers.push(replacement);
        }
    }

    // Done when every delivery arrived and the store has none pending: after
    // that, nothing more can be sent, so the duplicates counted are all there are.
    let mut all_arrived = None;
    loop {
        let arrived = receiver.counts().0;
        if arrived >= expected && all_arrived.is_none() {
            all_arrived = Some(started.elapsed());
        }
        if all_arrived.is_some() && pending(&url, &schema).await == 0 {
            break;
        }
        if Instant::now() >= deadline {
            println!("gave up waiting with {arrived} of {expected} deliveries arrived");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for worker in workers {
        worker.stop().await;
    }
    pg_exec(&url, &format!("DROP SCHEMA {schema} CASCADE")).await;

    let (delivered, requests) = receiver.counts();
    let lost = expected.saturating_sub(delivered);
    let per_s = all_arrived.map_or(0.0, |took| expected as f64 / took.as_secs_f64());
    println!(
        "cluster processes={processes} lost={lost} duplicates={} delivered={delivered} deliveries_per_s={per_s:.0}",
        requests - delivered
    );
    i32::from(lost != 0)
}

/// Deliveries in the schema not delivered yet.
async fn pending(url: &str, schema: &str) -> i64 {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .expect("connect PostgreSQL");
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {schema}.rest_hooks_deliveries WHERE state <> 'delivered'"
    )))
    .fetch_one(&mut conn)
    .await
    .expect("count pending deliveries")
}
