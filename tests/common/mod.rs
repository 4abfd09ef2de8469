//! What the workspace tests share: a real webhook receiver on loopback, and each
//! store made fresh for one test.

#![allow(dead_code, reason = "each test file uses a part of this module")]

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use rest_hooks::store::{MemoryStore, PgStore, SqliteStore};
use rest_hooks::target_policy::TargetPolicy;
use tokio::sync::Notify;

/// How long a test waits for something that should happen at once, before it
/// fails. Not a timing: a bound on a hang.
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// One request as the receiver got it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    /// The request's path, which tells the test which hook it was for.
    pub path: String,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
    pub raw: Bytes,
}

/// An HTTP server on 127.0.0.1 that records every POST it gets and answers 200.
#[derive(Clone)]
pub(crate) struct Receiver {
    pub url: String,
    inner: Arc<Inbox>,
}

#[derive(Default)]
struct Inbox {
    received: Mutex<VecDeque<Received>>,
    arrived: Notify,
    /// Replies to give, per path, in turn; 200 once they run out.
    script: Mutex<HashMap<String, VecDeque<Reply>>>,
    /// Requests being answered now, and the most there were at once.
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub delay: Duration,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    pub(crate) fn status(status: u16) -> Self {
        Self {
            status,
            delay: Duration::ZERO,
            headers: Vec::new(),
            body: "ok".into(),
        }
    }

    /// Answers with this body instead of `ok`.
    pub(crate) fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    /// Answers only after `delay`, as a slow receiver does.
    pub(crate) fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        let inbox = Arc::new(Inbox::default());
        let app = axum::Router::new()
            .route("/{*path}", axum::routing::post(record))
            .route("/", axum::routing::post(record))
            .with_state(Arc::clone(&inbox));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("a bound address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, inner: inbox }
    }

    /// A target URL on this receiver.
    pub(crate) fn target(&self, path: &str) -> String {
        format!("{}/{}", self.url, path.trim_start_matches('/'))
    }

    /// The next request, waiting for it.
    pub(crate) async fn next(&self) -> Received {
        let wait = async {
            loop {
                let arrived = self.inner.arrived.notified();
                if let Some(received) = self.inner.received.lock().unwrap().pop_front() {
                    return received;
                }
                arrived.await;
            }
        };
        tokio::time::timeout(PATIENCE, wait)
            .await
            .expect("the receiver got no request in time")
    }

    /// The next `n` requests.
    pub(crate) async fn take(&self, n: usize) -> Vec<Received> {
        let mut all = Vec::with_capacity(n);
        for _ in 0..n {
            all.push(self.next().await);
        }
        all
    }

    /// Answers the next requests to `path` with `replies`, in turn.
    pub(crate) fn script(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        self.inner
            .script
            .lock()
            .unwrap()
            .entry(path.to_owned())
            .or_default()
            .extend(replies);
    }

    /// What arrived and was not taken yet.
    pub(crate) fn pending(&self) -> usize {
        self.inner.received.lock().unwrap().len()
    }

    /// The most requests it was answering at once.
    pub(crate) fn most_in_flight(&self) -> usize {
        self.inner.most_in_flight.load(Ordering::SeqCst)
    }
}

async fn record(
    State(inbox): State<Arc<Inbox>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let now = inbox.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    inbox.most_in_flight.fetch_max(now, Ordering::SeqCst);
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let request_headers_secret = headers.get("x-hook-secret").cloned();
    let path = uri.path().to_owned();
    let reply = inbox
        .script
        .lock()
        .unwrap()
        .get_mut(&path)
        .and_then(VecDeque::pop_front)
        .unwrap_or(Reply::status(200));
    inbox.received.lock().unwrap().push_back(Received {
        path,
        headers,
        body: json,
        raw: body,
    });
    inbox.arrived.notify_waiters();
    tokio::time::sleep(reply.delay).await;
    inbox.in_flight.fetch_sub(1, Ordering::SeqCst);
    let echo = request_headers_secret;
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    // A target that wants its deliveries confirms the handshake.
    if let Some(secret) = echo {
        response.headers_mut().insert("x-hook-secret", secret);
    }
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

/// The target policy of the tests: the default, plus 127.0.0.1 where the
/// receivers listen.
pub(crate) fn loopback_policy() -> TargetPolicy {
    TargetPolicy::default().allow_ip([127, 0, 0, 1].into())
}

/// A store for one test, with what must outlive it (a temp dir, a schema).
pub(crate) struct TestStore<S> {
    pub store: S,
    _guard: Box<dyn Send>,
}

pub(crate) async fn memory_store() -> TestStore<MemoryStore> {
    TestStore {
        store: MemoryStore::new(),
        _guard: Box::new(()),
    }
}

pub(crate) async fn sqlite_store() -> TestStore<SqliteStore> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = SqliteStore::open(dir.path().join("hooks.db"))
        .await
        .expect("open a SQLite store");
    TestStore {
        store,
        _guard: Box::new(dir),
    }
}

/// A PostgreSQL store in a schema of its own, dropped when the test ends; `None`
/// (with a notice) when `REST_HOOKS_TEST_DATABASE_URL` is not set.
pub(crate) async fn pg_store() -> Option<TestStore<PgStore>> {
    let schema = PgSchema::create().await?;
    let store = PgStore::connect_with(schema.options())
        .await
        .expect("connect a PgStore");
    Some(TestStore {
        store,
        _guard: Box::new(schema),
    })
}

/// A fresh PostgreSQL schema; dropped with the value.
pub(crate) struct PgSchema {
    pub url: String,
    pub name: String,
}

impl PgSchema {
    pub(crate) async fn create() -> Option<Self> {
        let Ok(url) = std::env::var("REST_HOOKS_TEST_DATABASE_URL") else {
            // Straight to stderr: the test harness captures `eprintln!` of passing
            // tests, and this notice is for whoever runs them.
            static NOTICE: std::sync::Once = std::sync::Once::new();
            NOTICE.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "notice: REST_HOOKS_TEST_DATABASE_URL is not set; the PostgreSQL tests of this file are skipped"
                );
            });
            return None;
        };
        let name = format!("rh_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap_or_else(|e| {
                panic!("REST_HOOKS_TEST_DATABASE_URL is set, but PostgreSQL is not reachable: {e}")
            });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut conn)
            .await
            .expect("create a test schema");
        Some(Self { url, name })
    }

    /// Connection options whose `search_path` is this schema.
    pub(crate) fn options(&self) -> sqlx::postgres::PgConnectOptions {
        let options: sqlx::postgres::PgConnectOptions = self.url.parse().expect("a PostgreSQL URL");
        options.options([("search_path", self.name.as_str())])
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: drop the
        // schema from a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
                    .await
                    .map_err(std::io::Error::other)?;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {name} CASCADE")))
                    .execute(&mut conn)
                    .await
                    .map_err(std::io::Error::other)?;
                Ok::<_, std::io::Error>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test schema {}", self.name);
        }
    }
}

/// Implements one `#[tokio::test]` per store for an `async fn(store)` of the
/// test file: `store_tests!(name, other_name);`
#[macro_export]
macro_rules! store_tests {
    ($($test:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let store = $crate::common::memory_store().await;
                    super::$test(store.store).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let store = $crate::common::sqlite_store().await;
                    super::$test(store.store.clone()).await;
                    drop(store);
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(store) = $crate::common::pg_store().await else { return };
                    super::$test(store.store.clone()).await;
                    drop(store);
                }
            )*
        }
    };
}
