//! Subscribing and firing, against every store, with a real HTTP receiver on
//! loopback: what arrives, and for whom.

mod common;

use std::time::Duration;

use common::Receiver;
use rest_hooks::store::Store;
use rest_hooks::{Audience, Error, HookInfo, HookModel, Hooks, NewHook};
use serde_json::{Value, json};

/// A book, owned by the user who added it.
#[derive(Debug, Clone, serde::Serialize, HookModel)]
#[hook(app = "bookstore", owner = user)]
pub struct Book {
    id: u64,
    title: String,
    user: String,
}

/// A model with a payload of its own.
#[derive(serde::Serialize)]
pub struct Author {
    name: String,
    owner: String,
}

impl HookModel for Author {
    const APP: &'static str = "bookstore";
    const MODEL: &'static str = "Author";
    const HAS_OWNER: bool = true;

    fn owner(&self) -> Option<String> {
        Some(self.owner.clone())
    }

    fn payload(&self, hook: &HookInfo<'_>) -> serde_json::Result<Value> {
        Ok(json!({"author": self.name, "for": hook.event}))
    }
}

/// A model that counts how often it is serialized, and fails to be when told to.
#[derive(HookModel)]
#[hook(app = "bookstore", owner = owner)]
pub struct Counted {
    owner: String,
    fails: bool,
    serialized: std::sync::atomic::AtomicUsize,
}

impl serde::Serialize for Counted {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.serialized
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.fails {
            return Err(serde::ser::Error::custom("this value cannot be serialized"));
        }
        serializer.serialize_str(&self.owner)
    }
}

rest_hooks::hook_events! {
    "counted.added"  => bookstore.Counted.created,
    "book.added"     => bookstore.Book.created,
    "book.changed"   => bookstore.Book.updated+,
    "book.removed"   => bookstore.Book.deleted,
    "book.read"      => bookstore.Book.read,
    "author.added"   => bookstore.Author.created,
    "user.logged_in" => None,
}

fn book(id: u64, title: &str, user: &str) -> Book {
    Book {
        id,
        title: title.into(),
        user: user.into(),
    }
}

async fn hooks_on(store: impl Store) -> Hooks {
    Hooks::builder(&EVENTS, store)
        .target_policy(common::loopback_policy())
        .poll_interval(Duration::from_millis(50))
        .build()
        .await
        .unwrap()
}

/// Fires a raw event to a hook of its own and checks that it is the next thing the
/// receiver gets: whatever was fired before it and sent nothing stays unsent.
async fn assert_nothing_else_arrives(hooks: &Hooks, receiver: &Receiver) {
    let sentinel = hooks
        .subscribe(NewHook::new(
            "sentinel",
            "user.logged_in",
            receiver.target("sentinel"),
        ))
        .await
        .unwrap();
    assert_eq!(
        hooks
            .fire_raw(
                UserLoggedIn,
                &json!({"end": true}),
                Audience::Owner("sentinel")
            )
            .await
            .unwrap(),
        1
    );
    let next = receiver.next().await;
    assert_eq!(
        next.path, "/sentinel",
        "something else arrived: {:?}",
        next.body
    );
    assert_eq!(receiver.pending(), 0);
    hooks.unsubscribe("sentinel", sentinel.id).await.unwrap();
}

async fn with_no_hook_creating_a_model_sends_nothing(store: impl Store) {
    let receiver = Receiver::start().await;
    let hooks = hooks_on(store).await;
    assert_eq!(hooks.created(&book(1, "Dune", "ann")).await.unwrap(), 0);
    assert_nothing_else_arrives(&hooks, &receiver).await;
    hooks.shutdown(Duration::from_secs(5)).await;
}

async fn a_created_hook_receives_the_hook_and_the_model(store: impl Store) {
    let receiver = Receiver::start().await;
    let hooks = hooks_on(store).await;
    let target = receiver.target("ann/added");
    let hook = hooks
        .subscribe(NewHook::new("ann", "book.added", &target))
        .await
        .unwrap();

    assert_eq!(hooks.created(&book(7, "Dune", "ann")).await.unwrap(), 1);
    let got = receiver.next().await;
    assert_eq!(got.path, "/ann/added");
    assert_eq!(got.headers["content-type"], "application/json");
    assert_eq!(
        got.body,
        json!({
            "hook": {"id": hook.id.to_string(), "event": "book.added", "target": target},
            "data": {"id": 7, "title": "Dune", "user": "ann"},
        })
    );
    hooks.shutdown(Duration::from_secs(5)).await;
}

async fn a_model_with_its_own_payload_sends_exactly_it(store: impl Store) {
    let receiver = Receiver::start().await;
    let hooks = hooks_on(store).await;
    hooks
        .subscribe(NewHook::new(
            "ann",
            "author.added",
            receiver.target("author"),
        ))
        .await
        .unwrap();
    let author = Author {
        name: "Frank Herbert".into(),
        owner: "ann".into(),
    };
    assert_eq!(hooks.created(&author).await.unwrap(), 1);
    assert_eq!(
        receiver.next().await.body,
        json!({"author": "Frank Herbert", "for": "author.added"})
    );
    hooks.shutdown(Duration::from_secs(5)).await;
}

async fn create_update_delete_arrive_as_their_events(store: impl Store) {
    let receiver = Receiver::start().await;
    let hooks = hooks_on(store).await;
    for (event, path) in [
        ("book.added", "added"),
        ("book.changed", "changed"),
        ("book.removed", "removed"),
    ] {
        hooks
            .subscribe(NewHook::new("ann", event, receiver.target(path)))
            .await
            .unwrap();
    }

    let mut dune = book(1, "Dune", "ann");
    hooks.created(&dune).await.unwrap();
    let added = receiver.next().await;
    dune.title = "Dune Messiah".into();
    hooks.updated(&dune).await.unwrap();
    let changed = receiver.next().await;
    hooks.deleted(&dune).await.unwrap();
    let removed = receiver.next().await;

    assert_eq!(
        (added.path.as_str(), &added.body["hook"]["event"]),
        ("/added", &json!("book.added"))
    );
    assert_eq!(added.body["data"]["title"], "Dune");
    assert_eq!(
        (changed.path.as_str(), &changed.body["hook"]["event"]),
        ("/changed", &json!("book.changed"))
    );
    assert_eq!(changed.body["data"]["title"], "Dune Messiah");
    assert_eq!(
        (removed.path.as_str(), &removed.body["hook"]["event"]),
        ("/removed", &json!("book.removed"))
    );
    assert_eq!(
        removed.body["data"],
        json!({"id": 1, "title": "Dune Messiah", "user": "ann"})
    );
    hooks.shutdown(Duration::from_secs(5)).await;
}

async fn custom_actions_and_raw_events_arrive(store: impl Store) {
    let receiver = Receiver::start().await;
    let hooks = hooks_on(store).await;
    hooks
        .subscribe(NewHook::new("ann", "book.read", receiver.target("read")))
        .await
        .unwrap();
    hooks
        .subscribe(NewHook::new(
            "ann",
            "user.logged_in",
            receiver.target("ann/login"),
        ))
        .await
        .unwrap();
    hooks
        .subscribe(NewHook::new(
            "bob",
            "user.logged_in",
            receiver.target("bob/login"),
        ))
        .await
        .unwrap();

    assert_eq!(
        hooks.fire(BookRead, &book(3, "Emma", "ann")).await.unwrap(),
        1
    );
    let read = receiver.next().await;
    assert_eq!(
        (read.path.as_str(), &read.body["data"]["title"]),
        ("/read", &json!("Emma"))
    );
    assert_eq!(read.body["hook"]["event"], "book.read");

    let login = json!({"user": "ann", "ip": "127.0.0.1"});
    assert_eq!(
        hooks
            .fire_raw(UserLoggedIn, &login, Audience::Owner("ann"))
            .await
            .unwrap(),
        1
    );
    let got = receiver.next().await;
    assert_eq!(got.path, "/ann/login");
    assert_eq!(got.body["data"], login);
    assert_eq!(got.body["hook"]["event"], "user.logged_in");

    // Without an owner, a raw event goes to every owner's hooks.
    assert_eq!(
        hooks
            .fire_raw(UserLoggedIn, &json!({"all": 1}), Audience::Everyone)
            .await
            .unwrap(),
        2
    );
    let mut paths: Vec<_> = receiver.take(2).await.into_iter().map(|r| r.path).collect();
    paths.sort();
    assert_eq!(paths, ["/ann/login", "/bob/login"]);
    hooks.shutdown(Duration::from_secs(5)).await;
}

async fn plus_events_reach_every_owner_and_plain_ones_only_the_models(store: impl Store) {
    let receiver = Receiver::start().await;
    let hooks = hooks_on(store).await;
    for owner in ["ann", "bob"] {
        for (event, kind) in [("book.changed", "changed"), ("book.added", "added")] {
            hooks
                .subscribe(NewHook::new(
                    owner,
                    event,
                    receiver.target(&format!("{owner}/{kind}")),
                ))
                .await
                .unwrap();
        }
    }

    assert_eq!(hooks.updated(&book(1, "Dune", "ann")).await.unwrap(), 2);
    let mut paths: Vec<_> = receiver.take(2).await.into_iter().map(|r| r.path).collect();
    paths.sort();
    assert_eq!(paths, ["/ann/changed", "/bob/changed"]);

    assert_eq!(hooks.created(&book(2, "Emma", "ann")).await.unwrap(), 1);
    assert_eq!(receiver.next().await.path, "/ann/added");
    assert_nothing_else_arrives(&hooks, &receiver).await;
    hooks.shutdown(Duration::from_secs(5)).await;
}

async fn bad_subscriptions_are_typed_errors_and_store_nothing(store: impl Store) {
    let hooks = hooks_on(store).await;
    let subscribe = |event: &str, target: &str| hooks.subscribe(NewHook::new("ann", event, target));

    assert!(matches!(
        subscribe("book.sold", "https://example.com/in").await,
        Err(Error::UnknownEvent(e)) if e == "book.sold"
    ));
    for target in [
        "/relative/path",
        "ftp://example.com/in",
        "",
        "https://",
        "mailto:ann@example.com",
        "https://exa mple.com/",
        "not a url",
    ] {
        let result = subscribe("book.added", target).await;
        assert!(
            matches!(&result, Err(Error::InvalidTarget { target: t, .. }) if t == target),
            "{target:?} gave {result:?}"
        );
    }
    let long = format!("https://example.com/{}", "a".repeat(2048));
    assert!(matches!(
        subscribe("book.added", &long).await,
        Err(Error::InvalidTarget { .. })
    ));
    let bad_secret =
        NewHook::new("ann", "book.added", "https://example.com/in").secret("whsec_short");
    assert!(matches!(
        hooks.subscribe(bad_secret).await,
        Err(Error::InvalidSecret)
    ));

    assert_eq!(hooks.list_hooks("ann", None, 1000).await.unwrap(), []);
    hooks.shutdown(Duration::from_secs(5)).await;
}

async fn owners_cannot_reach_each_others_hooks(store: impl Store) {
    let receiver = Receiver::start().await;
    let hooks = hooks_on(store).await;
    let ann = hooks
        .subscribe(NewHook::new("ann", "book.added", receiver.target("ann")))
        .await
        .unwrap();
    let bob = hooks
        .subscribe(NewHook::new("bob", "book.added", receiver.target("bob")))
        .await
        .unwrap();

    assert!(
        matches!(hooks.get_hook("bob", ann.id).await, Err(Error::HookNotFound(id)) if id == ann.id)
    );
    assert_eq!(
        hooks.list_hooks("bob", None, 1000).await.unwrap(),
        std::slice::from_ref(&bob)
    );
    assert!(matches!(
        hooks.unsubscribe("bob", ann.id).await,
        Err(Error::HookNotFound(_))
    ));
    assert_eq!(hooks.get_hook("ann", ann.id).await.unwrap(), ann);

    assert_eq!(hooks.created(&book(1, "Dune", "ann")).await.unwrap(), 1);
    assert_eq!(receiver.next().await.path, "/ann");
    assert_nothing_else_arrives(&hooks, &receiver).await;
    hooks.shutdown(Duration::from_secs(5)).await;
}

async fn an_unsubscribed_hook_gets_nothing_more(store: impl Store) {
    let receiver = Receiver::start().await;
    let hooks = hooks_on(store).await;
    let hook = hooks
        .subscribe(NewHook::new("ann", "book.added", receiver.target("ann")))
        .await
        .unwrap();
    assert_eq!(hooks.created(&book(1, "Dune", "ann")).await.unwrap(), 1);
    assert_eq!(receiver.next().await.path, "/ann");

    hooks.unsubscribe("ann", hook.id).await.unwrap();
    assert_eq!(hooks.created(&book(2, "Emma", "ann")).await.unwrap(), 0);
    assert_nothing_else_arrives(&hooks, &receiver).await;
    assert!(matches!(
        hooks.get_hook("ann", hook.id).await,
        Err(Error::HookNotFound(_))
    ));
    hooks.shutdown(Duration::from_secs(5)).await;
}

async fn hooks_built_later_index_what_the_store_has(store: impl Store + Clone) {
    let receiver = Receiver::start().await;
    let first = hooks_on(store.clone()).await;
    first
        .subscribe(NewHook::new("ann", "book.added", receiver.target("ann")))
        .await
        .unwrap();
    first.shutdown(Duration::from_secs(5)).await;

    let second = hooks_on(store).await;
    assert_eq!(second.created(&book(1, "Dune", "ann")).await.unwrap(), 1);
    assert_eq!(receiver.next().await.path, "/ann");
    second.shutdown(Duration::from_secs(5)).await;
}

async fn a_custom_finder_filters_on_metadata(store: impl Store) {
    /// Skips the hooks whose metadata says they are paused.
    struct SkipPaused;
    impl rest_hooks::finder::Finder for SkipPaused {
        fn find(
            &self,
            firing: &rest_hooks::finder::Firing<'_>,
            subscribers: rest_hooks::finder::Subscribers<'_>,
        ) -> Vec<std::sync::Arc<rest_hooks::Hook>> {
            let mut hooks = rest_hooks::finder::DefaultFinder.find(firing, subscribers);
            hooks.retain(|h| h.metadata["paused"] != true);
            hooks
        }
    }

    let receiver = Receiver::start().await;
    let hooks = Hooks::builder(&EVENTS, store)
        .target_policy(common::loopback_policy())
        .finder(SkipPaused)
        .build()
        .await
        .unwrap();
    let paused = NewHook::new("ann", "book.added", receiver.target("paused"))
        .metadata(json!({"paused": true}));
    hooks.subscribe(paused).await.unwrap();
    let live = NewHook::new("ann", "book.added", receiver.target("live"))
        .metadata(json!({"paused": false}));
    hooks.subscribe(live).await.unwrap();

    assert_eq!(hooks.created(&book(1, "Dune", "ann")).await.unwrap(), 1);
    assert_eq!(receiver.next().await.path, "/live");
    assert_nothing_else_arrives(&hooks, &receiver).await;
    hooks.shutdown(Duration::from_secs(5)).await;
}

store_tests!(
    a_custom_finder_filters_on_metadata,
    with_no_hook_creating_a_model_sends_nothing,
    a_created_hook_receives_the_hook_and_the_model,
    a_model_with_its_own_payload_sends_exactly_it,
    create_update_delete_arrive_as_their_events,
    custom_actions_and_raw_events_arrive,
    plus_events_reach_every_owner_and_plain_ones_only_the_models,
    bad_subscriptions_are_typed_errors_and_store_nothing,
    owners_cannot_reach_each_others_hooks,
    an_unsubscribed_hook_gets_nothing_more,
    hooks_built_later_index_what_the_store_has,
);

/// The default payload's `data` is serialized once for all the hooks of an event,
/// and not at all for an event no hook is on.
#[tokio::test]
async fn a_model_is_serialized_once_for_all_its_hooks_and_not_for_none() {
    let receiver = Receiver::start().await;
    let hooks = hooks_on(rest_hooks::store::MemoryStore::new()).await;
    let counted = |fails| Counted {
        owner: "ann".into(),
        fails,
        serialized: 0.into(),
    };
    let value = counted(true);
    assert_eq!(hooks.created(&value).await.unwrap(), 0);
    assert_eq!(value.serialized.into_inner(), 0);

    for k in 0..3 {
        hooks
            .subscribe(NewHook::new(
                "ann",
                "counted.added",
                receiver.target(&format!("in/{k}")),
            ))
            .await
            .unwrap();
    }
    let value = counted(false);
    assert_eq!(hooks.created(&value).await.unwrap(), 3);
    assert_eq!(value.serialized.into_inner(), 1);
    let mut got: Vec<Value> = Vec::new();
    for _ in 0..3 {
        let arrived = receiver.next().await;
        assert_eq!(
            arrived.body["hook"]["target"],
            receiver.target(&arrived.path[1..])
        );
        got.push(arrived.body["data"].clone());
    }
    assert_eq!(got, vec![json!("ann"); 3]);

    // A value that cannot be serialized is an error, and queues nothing.
    let value = counted(true);
    assert!(matches!(
        hooks.created(&value).await,
        Err(Error::Payload(_))
    ));
    assert_eq!(value.serialized.into_inner(), 1);
    assert_nothing_else_arrives(&hooks, &receiver).await;
    hooks.shutdown(Duration::from_secs(5)).await;
}

/// `fire_in`: deliveries written in the caller's transaction exist if and only if
/// it commits.
async fn transactions_decide_whether_deliveries_exist<DB>(pool: sqlx::Pool<DB>, store: impl Store)
where
    DB: sqlx::Database,
    DB::Connection: rest_hooks::store::WriteDeliveries,
{
    let receiver = Receiver::start().await;
    let hooks = hooks_on(store).await;
    hooks
        .subscribe(NewHook::new("ann", "book.added", receiver.target("added")))
        .await
        .unwrap();
    hooks
        .subscribe(NewHook::new("ann", "book.read", receiver.target("read")))
        .await
        .unwrap();

    let mut tx = pool.begin().await.unwrap();
    assert_eq!(
        hooks
            .created_in(&mut *tx, &book(1, "Rolled back", "ann"))
            .await
            .unwrap(),
        1
    );
    tx.rollback().await.unwrap();

    let mut tx = pool.begin().await.unwrap();
    assert_eq!(
        hooks
            .created_in(&mut *tx, &book(2, "Committed", "ann"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        hooks
            .fire_in(&mut *tx, BookRead, &book(2, "Committed", "ann"))
            .await
            .unwrap(),
        1
    );
    tx.commit().await.unwrap();
    hooks.wake();

    let mut got: Vec<_> = receiver
        .take(2)
        .await
        .into_iter()
        .map(|r| (r.path, r.body["data"]["title"].clone()))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            ("/added".to_owned(), json!("Committed")),
            ("/read".to_owned(), json!("Committed"))
        ]
    );
    assert_nothing_else_arrives(&hooks, &receiver).await;
    hooks.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_transactions_decide_whether_deliveries_exist() {
    let store = common::sqlite_store().await;
    transactions_decide_whether_deliveries_exist(store.store.pool().clone(), store.store.clone())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_transactions_decide_whether_deliveries_exist() {
    let Some(store) = common::pg_store().await else {
        return;
    };
    transactions_decide_whether_deliveries_exist(store.store.pool().clone(), store.store.clone())
        .await;
}
