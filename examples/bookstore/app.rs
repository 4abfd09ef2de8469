//! What the bookstore example does, as a function that a test runs too.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use rest_hooks::api::BearerKeys;
use rest_hooks::portal::Portal;
use rest_hooks::store::{PgStore, SqliteStore};
use rest_hooks::target_policy::TargetPolicy;
use rest_hooks::{Audience, HookModel, Hooks};
use serde_json::{Value, json};
use tokio::sync::mpsc;

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// A failure and its causes, each once (some errors write their cause into
/// their own message): "the store failed: error with configuration: relative
/// URL without a base".
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_message = cause.to_string();
        if !message.ends_with(&cause_message) {
            message.push_str(": ");
            message.push_str(&cause_message);
        }
        source = cause.source();
    }
    message
}

/// A book, owned by the user who added it.
#[derive(Debug, Clone, serde::Serialize, HookModel)]
#[hook(app = "bookstore", owner = user)]
pub struct Book {
    pub id: u64,
    pub title: String,
    pub user: String,
}

rest_hooks::hook_events! {
    "book.added"     => bookstore.Book.created,
    "book.changed"   => bookstore.Book.updated+,
    "book.removed"   => bookstore.Book.deleted,
    "book.read"      => bookstore.Book.read,
    "user.logged_in" => None,
}

/// One request as the receiver got it.
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

/// The bookstore's hooks, on PostgreSQL at `database_url` or on SQLite in `dir`.
async fn bookstore_hooks(
    out: &mut dyn Write,
    database_url: Option<&str>,
    dir: &tempfile::TempDir,
) -> Result<Hooks, Failure> {
    let builder = match database_url {
        Some(url) => {
            writeln!(out, "store: PostgreSQL")?;
            Hooks::builder(&EVENTS, PgStore::connect(url).await?)
        }
        None => {
            let path = dir.path().join("bookstore.db");
            writeln!(out, "store: SQLite, {}", path.display())?;
            Hooks::builder(&EVENTS, SqliteStore::open(&path).await?)
        }
    };
    let hooks = builder
        // The receiver of this example listens on 127.0.0.1, which the default
        // policy refuses.
        .target_policy(TargetPolicy::default().allow_ip([127, 0, 0, 1].into()))
        .poll_interval(Duration::from_millis(100))
        .build()
        .await?;
    Ok(hooks)
}

/// The API keys of the bookstore's two owners.
fn keys() -> BearerKeys {
    BearerKeys::new([
        ("ann-key".to_owned(), "ann".to_owned()),
        ("bob-key".to_owned(), "bob".to_owned()),
    ])
}

/// Serves the management API (on `port`, or one of its own when 0) and a
/// receiver that takes every delivery, until Ctrl-C: to try the API with curl, or
/// to fuzz it.
pub async fn serve_until_stopped(
    out: &mut dyn Write,
    database_url: Option<String>,
    port: u16,
) -> Result<(), Failure> {
    let dir = tempfile::tempdir()?;
    let hooks = bookstore_hooks(out, database_url.as_deref(), &dir).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let api = format!("http://{}", listener.local_addr()?);
    // The owners' portal beside the API, signing its links with a key of this
    // run (an application keeps its own, so that links outlive a restart).
    let mut portal_key = [0; 32];
    getrandom::fill(&mut portal_key).map_err(|e| std::io::Error::other(e.to_string()))?;
    let portal = Portal::new(hooks.clone(), portal_key).mounted_at("/portal");
    let day = Duration::from_secs(24 * 3600);
    let links = [
        ("ann", portal.link("ann", day)),
        ("bob", portal.link("bob", day)),
    ];
    let app = rest_hooks::api::router(hooks.clone(), keys()).merge(portal.router());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (receiver, mut inbox) = start_receiver().await?;
    // What arrives is taken and dropped: the receiver only answers 200.
    tokio::spawn(async move { while inbox.recv().await.is_some() {} });
    writeln!(out, "management API: {api}")?;
    writeln!(out, "OpenAPI document: {api}/openapi.json")?;
    writeln!(out, "receiver: {receiver}/<any path>")?;
    writeln!(out, "API keys: ann-key (owner ann), bob-key (owner bob)")?;
    for (owner, link) in links {
        writeln!(out, "portal for {owner} (for 24 hours): {api}{link}")?;
    }
    writeln!(
        out,
        "try: curl -H 'Authorization: Bearer ann-key' {api}/events"
    )?;
    writeln!(out, "serving until Ctrl-C")?;
    out.flush()?;
    tokio::signal::ctrl_c().await?;
    hooks.shutdown(Duration::from_secs(5)).await;
    writeln!(out, "shut down cleanly")?;
    Ok(())
}

/// Runs the whole example, writing its log to `out`.
pub async fn run(out: &mut dyn Write, database_url: Option<String>) -> Result<(), Failure> {
    let dir = tempfile::tempdir()?;
    let hooks = bookstore_hooks(out, database_url.as_deref(), &dir).await?;
    let api = serve(rest_hooks::api::router(hooks.clone(), keys())).await?;
    let (receiver, mut inbox) = start_receiver().await?;
    writeln!(out, "management API on {api}, receiver on {receiver}")?;

    // Owners subscribe through the API, as a client such as Zapier would.
    let client = reqwest::Client::new();
    let mut secrets: HashMap<String, (String, String)> = HashMap::new();
    let mut ann_added = String::new();
    writeln!(out, "\nsubscribed through POST /hooks:")?;
    for (owner, event) in [
        ("ann", "book.added"),
        ("ann", "book.changed"),
        ("ann", "book.removed"),
        ("ann", "book.read"),
        ("ann", "user.logged_in"),
        ("bob", "book.changed"),
    ] {
        let target = format!("{receiver}/{owner}/{event}");
        let response = client
            .post(format!("{api}/hooks"))
            .bearer_auth(format!("{owner}-key"))
            .json(&json!({"event": event, "target": target}))
            .send()
            .await?;
        let status = response.status();
        let hook: Value = response.json().await?;
        if status != StatusCode::CREATED {
            return Err(format!("subscribing {owner} to {event} answered {status}: {hook}").into());
        }
        let id = hook["id"].as_str().unwrap_or_default().to_owned();
        writeln!(out, "  {owner:<4}{event:<16}{status}  hook {id}")?;
        if (owner, event) == ("ann", "book.added") {
            ann_added = id.clone();
        }
        secrets.insert(
            id,
            (
                owner.to_owned(),
                hook["secret"].as_str().unwrap_or_default().to_owned(),
            ),
        );
    }

    let mut book = Book {
        id: 1,
        title: "Dune".into(),
        user: "ann".into(),
    };
    writeln!(out, "\nann adds \"{}\"", book.title)?;
    hooks.created(&book).await?;
    show(out, &mut inbox, &secrets, 1).await?;

    book.title = "Dune Messiah".into();
    writeln!(
        out,
        "\nann renames it \"{}\" (book.changed is `+`: every owner's hooks)",
        book.title
    )?;
    hooks.updated(&book).await?;
    show(out, &mut inbox, &secrets, 2).await?;

    writeln!(out, "\nann reads it (a custom action)")?;
    hooks.fire(BookRead, &book).await?;
    show(out, &mut inbox, &secrets, 1).await?;

    writeln!(out, "\nann logs in (a raw event)")?;
    hooks
        .fire_raw(
            UserLoggedIn,
            &json!({"user": "ann", "ip": "127.0.0.1"}),
            Audience::Owner("ann"),
        )
        .await?;
    show(out, &mut inbox, &secrets, 1).await?;

    writeln!(
        out,
        "\nann removes it (the payload carries the last values)"
    )?;
    hooks.deleted(&book).await?;
    show(out, &mut inbox, &secrets, 1).await?;

    // The engine records an outcome just after the receiver answers; shutting down
    // waits for the records, so the log below is complete.
    hooks.shutdown(Duration::from_secs(5)).await;
    writeln!(
        out,
        "\ndelivery log of ann's book.added hook, GET /hooks/{ann_added}/deliveries:"
    )?;
    let log: Value = client
        .get(format!("{api}/hooks/{ann_added}/deliveries"))
        .bearer_auth("ann-key")
        .send()
        .await?
        .json()
        .await?;
    for delivery in log["deliveries"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "  {}  {}  {} attempt(s), last: {} in {} ms",
            delivery["id"].as_str().unwrap_or_default(),
            delivery["state"].as_str().unwrap_or_default(),
            delivery["attempts"],
            delivery["log"][0]["result"],
            delivery["log"][0]["duration_ms"],
        )?;
    }
    writeln!(out, "\nshut down cleanly")?;
    Ok(())
}

/// Waits for `count` deliveries and writes each: event, owner, webhook-id, whether
/// the signature verifies with the hook's secret, and the body.
async fn show(
    out: &mut dyn Write,
    inbox: &mut mpsc::UnboundedReceiver<Received>,
    secrets: &HashMap<String, (String, String)>,
    count: usize,
) -> Result<(), Failure> {
    let mut got = Vec::with_capacity(count);
    for _ in 0..count {
        let received = tokio::time::timeout(Duration::from_secs(20), inbox.recv())
            .await
            .map_err(|_| "no delivery arrived within 20 s")?
            .ok_or("the receiver stopped")?;
        got.push(received);
    }
    // Deliveries of one firing arrive in any order; show them by owner.
    let body = |r: &Received| serde_json::from_slice::<Value>(&r.body).unwrap_or(Value::Null);
    got.sort_by_key(|r| {
        body(r)["hook"]["target"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    });
    for received in got {
        let payload = body(&received);
        let hook = payload["hook"]["id"].as_str().unwrap_or_default();
        let (owner, secret) = secrets.get(hook).cloned().unwrap_or_default();
        let verified =
            rest_hooks::delivery::sign::verify(&secret, &received.headers, &received.body).is_ok();
        let id = received
            .headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        writeln!(
            out,
            "  <- {:<15} to {owner:<4} webhook-id {id}  signature verified: {}",
            payload["hook"]["event"].as_str().unwrap_or_default(),
            if verified { "yes" } else { "NO" },
        )?;
        writeln!(out, "     {payload}")?;
    }
    Ok(())
}

async fn receive(
    State(inbox): State<Arc<Mutex<mpsc::UnboundedSender<Received>>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let sent = inbox
        .lock()
        .map(|sender| sender.send(Received { headers, body }).is_ok())
        .unwrap_or(false);
    if sent {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// A webhook receiver on a loopback port of its own: its base URL, and what it
/// receives on any path.
async fn start_receiver() -> Result<(String, mpsc::UnboundedReceiver<Received>), Failure> {
    let (sender, inbox) = mpsc::unbounded_channel();
    let receiver = serve(
        axum::Router::new()
            .route("/{*path}", axum::routing::post(receive))
            .with_state(Arc::new(Mutex::new(sender))),
    )
    .await?;
    Ok((receiver, inbox))
}

/// Serves `app` on a loopback port of its own; its base URL.
async fn serve(app: axum::Router) -> Result<String, Failure> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}
