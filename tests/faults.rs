//! The faults the library survives, each made real: receivers that misbehave at
//! the TCP level, a SQLite file on a full disk (a small tmpfs of the test's own),
//! and a PostgreSQL server restarted while events are fired and delivered.
//!
//! One test binary of its own, because restarting the server would break the
//! PostgreSQL tests of any other file running beside it; cargo runs test binaries
//! one after another.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::Receiver;
use rest_hooks::delivery::RetrySchedule;
use rest_hooks::store::{MemoryStore, Store};
use rest_hooks::{AttemptResult, Error, HookModel, Hooks, HooksBuilder, NewHook, Outcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

/// A book, owned by the user who added it.
#[derive(Debug, Clone, serde::Serialize, HookModel)]
#[hook(app = "bookstore", owner = user)]
pub struct Book {
    id: u64,
    user: String,
}

rest_hooks::hook_events! {
    "book.added" => bookstore.Book.created,
}

fn book(id: u64) -> Book {
    Book {
        id,
        user: "ann".into(),
    }
}

fn builder(store: impl Store) -> HooksBuilder {
    Hooks::builder(&EVENTS, store)
        .target_policy(common::loopback_policy())
        .poll_interval(Duration::from_millis(20))
}

async fn subscribe(hooks: &Hooks, target: String) {
    hooks
        .subscribe(NewHook::new("ann", "book.added", target))
        .await
        .unwrap();
}

/// How a receiver misbehaves, once it has read (some of) the request.
#[derive(Debug, Clone, Copy)]
enum Misbehaviour {
    /// `200`, then a body of 1,000 bytes a byte a second.
    Trickle,
    /// `200`, then chunks of body for as long as the client reads.
    Endless,
    /// `200` and 1 MB of headers.
    HugeHeaders,
    /// Accepts the connection and never answers.
    Silent,
}

impl Misbehaviour {
    fn path(self) -> &'static str {
        match self {
            Misbehaviour::Trickle => "trickle",
            Misbehaviour::Endless => "endless",
            Misbehaviour::HugeHeaders => "huge-headers",
            Misbehaviour::Silent => "silent",
        }
    }
}

/// A TCP server on loopback that misbehaves so on every connection; its target
/// URL.
async fn misbehaving(how: Misbehaviour) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/{}", listener.local_addr().unwrap(), how.path());
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(misbehave(how, socket));
        }
    });
    url
}

/// Ends when the client hangs up (a write fails) or the connection is dropped.
async fn misbehave(how: Misbehaviour, mut socket: TcpStream) {
    let mut request = vec![0; 64 * 1024];
    if socket.read(&mut request).await.is_err() {
        return;
    }
    match how {
        Misbehaviour::Trickle => {
            let head = b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n";
            if socket.write_all(head).await.is_err() {
                return;
            }
            loop {
                if socket.write_all(b"x").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        Misbehaviour::Endless => {
            let head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
            if socket.write_all(head).await.is_err() {
                return;
            }
            let chunk = format!("2000\r\n{}\r\n", "x".repeat(0x2000));
            while socket.write_all(chunk.as_bytes()).await.is_ok() {}
        }
        Misbehaviour::HugeHeaders => {
            let mut head = String::from("HTTP/1.1 200 OK\r\n");
            let mut n = 0;
            while head.len() < 1_000_000 {
                head.push_str(&format!("x-filler-{n}: {}\r\n", "y".repeat(100)));
                n += 1;
            }
            head.push_str("content-length: 0\r\n\r\n");
            let _ = socket.write_all(head.as_bytes()).await;
            // Holds the connection until the client lets it go.
            let _ = socket.read(&mut request).await;
        }
        Misbehaviour::Silent => {
            // Reads what else comes until the client hangs up; answers nothing.
            while matches!(socket.read(&mut request).await, Ok(n) if n > 0) {}
        }
    }
}

/// The next `n` outcomes, waiting for them.
async fn outcomes(observed: &mut broadcast::Receiver<Outcome>, n: usize) -> Vec<Outcome> {
    let wait = async {
        let mut all = Vec::with_capacity(n);
        while all.len() < n {
            all.push(observed.recv().await.expect("outcomes"));
        }
        all
    };
    tokio::time::timeout(common::PATIENCE, wait)
        .await
        .expect("the attempts did not all end")
}

/// Four receivers misbehave at once, each for ten deliveries: every attempt ends
/// (within the 5 s timeout, or sooner where the deliverer stops reading), and a
/// well-behaved receiver gets all of its deliveries before the first attempt that
/// waits out its timeout has ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_receivers_are_cut_off_and_delay_no_one_else() {
    let timeout = Duration::from_secs(5);
    let hooks = builder(MemoryStore::new())
        .timeout(timeout)
        .retry_schedule(RetrySchedule::new([]))
        .build()
        .await
        .unwrap();
    let mut observed = hooks.observe();
    let good = Receiver::start().await;
    subscribe(&hooks, good.target("good")).await;
    let kinds = [
        Misbehaviour::Trickle,
        Misbehaviour::Endless,
        Misbehaviour::HugeHeaders,
        Misbehaviour::Silent,
    ];
    for how in kinds {
        subscribe(&hooks, misbehaving(how).await).await;
    }

    let events = 10;
    for id in 0..events {
        assert_eq!(hooks.created(&book(id)).await.unwrap(), 5);
    }
    let arrived = good.take(events as usize).await;
    assert_eq!(arrived.len(), events as usize);
    // None of the attempts that wait out the timeout has ended yet, whichever
    // outcomes came meanwhile.
    let mut ended = Vec::new();
    while let Ok(outcome) = observed.try_recv() {
        ended.push(outcome);
    }
    let waited_out = |o: &Outcome| {
        o.delivery.target.ends_with("/silent") || o.delivery.target.ends_with("/trickle")
    };
    assert!(
        !ended.iter().any(waited_out),
        "an attempt that must wait out the timeout ended before the good receiver got its deliveries"
    );

    let rest = outcomes(&mut observed, 5 * events as usize - ended.len()).await;
    ended.extend(rest);
    for how in kinds {
        let results: Vec<&AttemptResult> = ended
            .iter()
            .filter(|o| o.delivery.target.ends_with(how.path()))
            .map(|o| &o.attempt.result)
            .collect();
        assert_eq!(results.len(), events as usize, "{how:?}");
        for result in results {
            let expected = match how {
                // The status came; the body is cut off by the timeout.
                Misbehaviour::Trickle => matches!(result, AttemptResult::Status(200)),
                Misbehaviour::Endless => matches!(result, AttemptResult::Status(200)),
                Misbehaviour::HugeHeaders => matches!(result, AttemptResult::Error(_)),
                Misbehaviour::Silent => matches!(result, AttemptResult::Timeout),
            };
            assert!(expected, "{how:?}: {result:?}");
        }
    }
    // The endless body was read no further than the log keeps (4 KiB).
    for outcome in ended
        .iter()
        .filter(|o| o.delivery.target.ends_with("/endless"))
    {
        let body = outcome.attempt.response_body.as_deref().unwrap_or("");
        assert!(body.len() <= 4096, "{} bytes kept", body.len());
    }
    hooks.shutdown(Duration::from_secs(1)).await;
}

/// A tmpfs of its own, mounted on a temporary directory and unmounted when
/// dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts a tmpfs of `size` (`4m`); `None`, with a notice, where this cannot
    /// be done (mounting takes root).
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status();
        match mounted {
            Ok(status) if status.success() => Some(Self { dir }),
            _ => {
                eprintln!(
                    "notice: cannot mount a tmpfs here (it takes root); the full-disk test is skipped"
                );
                None
            }
        }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// SQLite on a full disk: firing returns `Error::Store` and queues nothing,
/// what was queued before stays whole, and once there is room again firing and
/// delivering go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_new_events_and_loses_none_queued_before() {
    let Some(disk) = SmallDisk::mount("8m") else {
        return;
    };
    let store = rest_hooks::store::SqliteStore::open(disk.path().join("hooks.db"))
        .await
        .unwrap();
    let receiver = Receiver::start().await;
    // It fires only, at first: what is queued stays queued while the disk fills.
    let firing = builder(store.clone()).concurrency(0).build().await.unwrap();
    subscribe(&firing, receiver.target("in")).await;
    let filler = disk.path().join("filler");
    std::fs::write(&filler, vec![0; 4 << 20]).unwrap();

    let mut fired = 0;
    let full = loop {
        match firing.created(&book(fired)).await {
            Ok(queued) => {
                assert_eq!(queued, 1);
                fired += 1;
            }
            Err(error) => break error,
        }
        assert!(fired < 100_000, "the disk never filled");
    };
    assert!(matches!(full, Error::Store(_)), "{full:?}");
    assert!(fired > 0);
    assert!(matches!(
        firing.created(&book(fired)).await,
        Err(Error::Store(_))
    ));

    std::fs::remove_file(&filler).unwrap();
    firing.created(&book(fired)).await.unwrap();
    fired += 1;
    firing.shutdown(Duration::from_secs(1)).await;
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(check, "ok");

    let delivering = builder(store).build().await.unwrap();
    let mut ids = BTreeSet::new();
    while ids.len() < fired as usize {
        let received = receiver.next().await;
        ids.insert(received.body["data"]["id"].as_u64().unwrap());
    }
    assert_eq!(ids, (0..fired).collect());
    delivering.shutdown(Duration::from_secs(1)).await;
}

/// The command that restarts the PostgreSQL server of the tests (Debian's
/// `pg_ctlcluster`, as root); `None`, with a notice, where there is none, and a
/// failure under `CI=true`.
fn restart_command() -> Option<std::process::Command> {
    let version = std::fs::read_dir("/etc/postgresql")
        .ok()
        .and_then(|mut versions| versions.next())
        .and_then(|entry| entry.ok())
        .map(|entry| entry.file_name());
    let Some(version) = version else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true, but there is no PostgreSQL cluster under /etc/postgresql to restart"
        );
        eprintln!("notice: no PostgreSQL cluster to restart here; the restart test is skipped");
        return None;
    };
    let mut command = std::process::Command::new("pg_ctlcluster");
    command
        .arg("--skip-systemctl-redirect")
        .arg(version)
        .args(["main", "restart"]);
    Some(command)
}

/// PostgreSQL restarted while 8 tasks fire events as fast as they can and the
/// engine delivers them: no `fire` fails (each waits for the server instead,
/// under the default `reconnect_within`), and every event fired arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_while_firing_and_delivering_fails_no_fire_and_loses_nothing() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let Some(schema) = common::PgSchema::create().await else {
        return;
    };
    let Some(mut restart) = restart_command() else {
        return;
    };
    let store = rest_hooks::store::PgStore::connect_with(schema.options())
        .await
        .unwrap();
    let receiver = Receiver::start().await;
    // Deliveries whose outcome could not be recorded go again when their lease
    // ends.
    let hooks = builder(store)
        .lease(Duration::from_secs(5))
        .build()
        .await
        .unwrap();
    subscribe(&hooks, receiver.target("in")).await;

    // Each task fires books of its own million until the restart is over and
    // it has fired at least 400.
    let tasks = 8_u64;
    let fired = Arc::new(AtomicU64::new(0));
    let restarting = Arc::new(AtomicBool::new(false));
    let restarted = Arc::new(AtomicBool::new(false));
    let during_restart = Arc::new(AtomicU64::new(0));
    let firers: Vec<_> = (0..tasks)
        .map(|task| {
            let (hooks, fired) = (hooks.clone(), Arc::clone(&fired));
            let (restarting, restarted) = (Arc::clone(&restarting), Arc::clone(&restarted));
            let during = Arc::clone(&during_restart);
            tokio::spawn(async move {
                let mut failures = Vec::new();
                let mut n = 0;
                while n < 400 || !restarted.load(Ordering::SeqCst) {
                    if restarting.load(Ordering::SeqCst) {
                        during.fetch_add(1, Ordering::SeqCst);
                    }
                    if let Err(error) = hooks.created(&book(task * 1_000_000 + n)).await {
                        failures.push(error.to_string());
                    }
                    n += 1;
                    fired.fetch_add(1, Ordering::SeqCst);
                }
                (task, n, failures)
            })
        })
        .collect();
    while fired.load(Ordering::SeqCst) < 400 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    restarting.store(true, Ordering::SeqCst);
    let status = tokio::task::spawn_blocking(move || restart.status())
        .await
        .unwrap()
        .unwrap();
    restarting.store(false, Ordering::SeqCst);
    restarted.store(true, Ordering::SeqCst);
    assert!(status.success(), "pg_ctlcluster restart: {status}");

    let mut failures = Vec::new();
    let mut expected = BTreeSet::new();
    for firer in firers {
        let (task, n, failed) = firer.await.unwrap();
        expected.extend((0..n).map(|n| task * 1_000_000 + n));
        failures.extend(failed);
    }
    assert_eq!(failures, Vec::<String>::new(), "fire calls failed");
    assert!(
        during_restart.load(Ordering::SeqCst) > 0,
        "no event was fired while the server restarted"
    );
    let mut ids = BTreeSet::new();
    while ids.len() < expected.len() {
        let received = receiver.next().await;
        ids.insert(received.body["data"]["id"].as_u64().unwrap());
    }
    assert_eq!(ids, expected);
    eprintln!(
        "fired {} events across the restart, {} of them while it ran; all arrived",
        expected.len(),
        during_restart.load(Ordering::SeqCst)
    );
    hooks.shutdown(Duration::from_secs(1)).await;
}
