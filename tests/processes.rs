//! Several processes on one PostgreSQL: each test runs two `Hooks` on one schema,
//! each with its own connections, as two application processes have. Their
//! engines poll once an hour, so whatever they deliver promptly they were woken
//! for by `LISTEN/NOTIFY`.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{PATIENCE, PgSchema, Receiver, Reply};
use rest_hooks::store::PgStore;
use rest_hooks::{DeliveryFilter, Error, HookModel, Hooks, IndexChange, NewHook};
use tokio::sync::broadcast;

/// An order, owned by the customer who placed it.
#[derive(Debug, Clone, serde::Serialize, HookModel)]
#[hook(app = "shop", owner = customer)]
pub struct Order {
    id: u64,
    customer: String,
}

rest_hooks::hook_events! {
    "order.placed" => shop.Order.created,
}

fn order(id: u64) -> Order {
    Order {
        id,
        customer: "ann".into(),
    }
}

/// One process's hooks on the schema; `name` is its connections'
/// `application_name`, by which a test can cut them.
async fn process(schema: &PgSchema, name: &str, concurrency: usize) -> Hooks {
    let store = PgStore::connect_with(schema.options().application_name(name))
        .await
        .unwrap();
    Hooks::builder(&EVENTS, store)
        .target_policy(common::loopback_policy())
        .concurrency(concurrency)
        .poll_interval(Duration::from_secs(3600))
        .build()
        .await
        .unwrap()
}

/// A process that fires (`web`) and one that delivers (`worker`) on a fresh
/// schema, with a hook subscribed through `web` that `worker` has indexed, and
/// `worker`'s index changes; `None` without PostgreSQL.
async fn web_and_worker() -> Option<(
    PgSchema,
    Receiver,
    Hooks,
    Hooks,
    broadcast::Receiver<IndexChange>,
    rest_hooks::Hook,
)> {
    let schema = PgSchema::create().await?;
    let receiver = Receiver::start().await;
    let web = process(&schema, "web", 0).await;
    let worker = process(&schema, "worker", 16).await;
    let mut changes = worker.index_changes();
    let hook = subscribe(&web, &receiver).await;
    seen(&mut changes, IndexChange::Added(hook.id)).await;
    Some((schema, receiver, web, worker, changes, hook))
}

/// Waits for `change` in an index, and says how long it took.
async fn seen(changes: &mut broadcast::Receiver<IndexChange>, change: IndexChange) -> Duration {
    let started = Instant::now();
    let wait = async { while changes.recv().await.unwrap() != change {} };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .unwrap_or_else(|_| panic!("the index never saw {change:?}"));
    started.elapsed()
}

async fn subscribe(hooks: &Hooks, receiver: &Receiver) -> rest_hooks::Hook {
    hooks
        .subscribe(NewHook::new(
            "ann",
            "order.placed",
            receiver.target("orders"),
        ))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_fired_on_either_process_is_delivered_exactly_once() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let receiver = Receiver::start().await;
    let a = process(&schema, "a", 16).await;
    let b = process(&schema, "b", 16).await;
    let mut b_changes = b.index_changes();
    let hook = subscribe(&a, &receiver).await;
    seen(&mut b_changes, IndexChange::Added(hook.id)).await;

    for id in 0..100 {
        assert_eq!(a.created(&order(id)).await.unwrap(), 1);
        assert_eq!(b.created(&order(100 + id)).await.unwrap(), 1);
    }
    let ids: HashSet<String> = receiver
        .take(200)
        .await
        .iter()
        .map(|r| r.headers["webhook-id"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 200);

    // Once both have stopped, nothing more can arrive: what did not, never will.
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
    assert_eq!(receiver.pending(), 0, "a delivery arrived twice");
    let deliveries = a
        .list_deliveries("ann", &DeliveryFilter::of_hook(hook.id), None, 500)
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 200);
    assert!(deliveries.iter().all(|d| d.attempts == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_committed_by_a_process_that_does_not_deliver_wake_another_one() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let receiver = Receiver::start().await;
    let web = process(&schema, "web", 0).await;
    let worker = process(&schema, "worker", 16).await;
    let mut worker_changes = worker.index_changes();
    subscribe(&web, &receiver).await;
    seen(
        &mut worker_changes,
        IndexChange::Added(web.list_hooks("ann", None, 1000).await.unwrap()[0].id),
    )
    .await;

    // Queued in the application's transaction, and no `wake()`: the commit's
    // notification is what wakes the worker, which would otherwise poll in an hour.
    let store = PgStore::connect_with(schema.options()).await.unwrap();
    let mut tx = store.pool().begin().await.unwrap();
    assert_eq!(web.created_in(&mut *tx, &order(1)).await.unwrap(), 1);
    tx.commit().await.unwrap();
    assert_eq!(web.created(&order(2)).await.unwrap(), 1);

    let mut got: Vec<u64> = receiver
        .take(2)
        .await
        .iter()
        .map(|r| r.body["data"]["id"].as_u64().unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, [1, 2]);
    worker.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_made_through_one_process_is_in_the_others_index_within_a_second() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let receiver = Receiver::start().await;
    let a = process(&schema, "a", 0).await;
    let b = process(&schema, "b", 0).await;
    let mut b_changes = b.index_changes();

    assert_eq!(b.created(&order(1)).await.unwrap(), 0);
    let hook = subscribe(&a, &receiver).await;
    let took = seen(&mut b_changes, IndexChange::Added(hook.id)).await;
    eprintln!("the other process's index had the subscription after {took:?}");
    assert!(took < Duration::from_secs(1), "it took {took:?}");
    assert_eq!(b.created(&order(2)).await.unwrap(), 1);

    a.unsubscribe("ann", hook.id).await.unwrap();
    seen(&mut b_changes, IndexChange::Removed(hook.id)).await;
    assert_eq!(b.created(&order(3)).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_seen_by_one_process_stops_delivery_in_both() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let receiver = Receiver::start().await;
    receiver.script("/orders", [Reply::status(410)]);
    let delivering = process(&schema, "delivering", 16).await;
    let firing = process(&schema, "firing", 0).await;
    let mut delivering_changes = delivering.index_changes();
    let mut firing_changes = firing.index_changes();
    let hook = subscribe(&firing, &receiver).await;
    seen(&mut delivering_changes, IndexChange::Added(hook.id)).await;

    assert_eq!(firing.created(&order(1)).await.unwrap(), 1);
    assert_eq!(receiver.next().await.path, "/orders");
    seen(&mut delivering_changes, IndexChange::Removed(hook.id)).await;
    seen(&mut firing_changes, IndexChange::Removed(hook.id)).await;

    assert_eq!(firing.created(&order(2)).await.unwrap(), 0);
    assert_eq!(delivering.created(&order(3)).await.unwrap(), 0);
    assert!(matches!(
        firing.get_hook("ann", hook.id).await,
        Err(Error::HookNotFound(_))
    ));
    delivering.shutdown(Duration::from_secs(5)).await;
    assert_eq!(receiver.pending(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_whose_connections_are_cut_reconnects_listens_again_and_loses_nothing() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let receiver = Receiver::start().await;
    let cut_name = format!("cut_{}", schema.name);
    let cut = process(&schema, &cut_name, 16).await;
    let other = process(&schema, "other", 0).await;
    let mut cut_changes = cut.index_changes();

    // Every connection of the process, its listener's too, is ended by the server.
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&schema.url)
        .await
        .unwrap();
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(&cut_name)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(!ended.is_empty() && ended.iter().all(|&e| e));

    // It notices, listens again, and reloads what it may have missed.
    seen(&mut cut_changes, IndexChange::Reloaded).await;
    // It hears what the other process does after that.
    let hook = subscribe(&other, &receiver).await;
    seen(&mut cut_changes, IndexChange::Added(hook.id)).await;
    for id in 0..20 {
        assert_eq!(other.created(&order(id)).await.unwrap(), 1);
    }
    // And its own connections work again.
    assert_eq!(cut.created(&order(20)).await.unwrap(), 1);

    let mut got: Vec<u64> = receiver
        .take(21)
        .await
        .iter()
        .map(|r| r.body["data"]["id"].as_u64().unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, (0..21).collect::<Vec<_>>());
    cut.shutdown(Duration::from_secs(5)).await;
    assert_eq!(receiver.pending(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_or_re_enabled_hook_reaches_the_other_process_index() {
    let Some((schema, receiver, web, worker, mut changes, hook)) = web_and_worker().await else {
        return;
    };

    // Written the way a change by another process is: straight to the row. Only
    // the trigger tells the worker.
    let store = PgStore::connect_with(schema.options()).await.unwrap();
    let moved = receiver.target("/moved");
    sqlx::query("UPDATE rest_hooks_hooks SET target = $1 WHERE id = $2")
        .bind(&moved)
        .bind(hook.id.to_string())
        .execute(store.pool())
        .await
        .unwrap();
    seen(&mut changes, IndexChange::Changed(hook.id)).await;
    assert_eq!(worker.created(&order(1)).await.unwrap(), 1);
    assert_eq!(receiver.next().await.path, "/moved");

    for (active, change) in [
        (false, IndexChange::Removed(hook.id)),
        (true, IndexChange::Added(hook.id)),
    ] {
        sqlx::query("UPDATE rest_hooks_hooks SET active = $1 WHERE id = $2")
            .bind(active)
            .bind(hook.id.to_string())
            .execute(store.pool())
            .await
            .unwrap();
        seen(&mut changes, change).await;
    }
    assert_eq!(worker.created(&order(2)).await.unwrap(), 1);
    assert_eq!(receiver.next().await.body["data"]["id"], 2);

    web.shutdown(Duration::from_secs(5)).await;
    worker.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_paused_and_moved_through_one_process_is_so_in_the_other() {
    let Some((_schema, receiver, web, worker, mut changes, hook)) = web_and_worker().await else {
        return;
    };

    let pause = rest_hooks::HookPatch::new().active(false);
    web.update_hook("ann", hook.id, pause).await.unwrap();
    seen(&mut changes, IndexChange::Removed(hook.id)).await;
    assert_eq!(worker.created(&order(1)).await.unwrap(), 0);

    let back = rest_hooks::HookPatch::new()
        .active(true)
        .target(receiver.target("/elsewhere"));
    web.update_hook("ann", hook.id, back).await.unwrap();
    seen(&mut changes, IndexChange::Added(hook.id)).await;
    assert_eq!(worker.created(&order(2)).await.unwrap(), 1);
    let received = receiver.next().await;
    assert_eq!(
        (received.path.as_str(), received.body["data"]["id"].as_u64()),
        ("/elsewhere", Some(2))
    );

    web.shutdown(Duration::from_secs(5)).await;
    worker.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_makes_one_hook_whichever_process_gets_the_request() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let receiver = Receiver::start().await;
    let a = process(&schema, "a", 0).await;
    let b = process(&schema, "b", 0).await;
    let new = || NewHook::new("ann", "order.placed", receiver.target("/in"));
    let (first, second) = tokio::join!(
        a.subscribe_once(new(), "k-1"),
        b.subscribe_once(new(), "k-1")
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.0.id, second.0.id);
    assert_ne!(
        first.1, second.1,
        "one made it, the other answered it again"
    );
    assert_eq!(a.list_hooks("ann", None, 10).await.unwrap().len(), 1);
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}
