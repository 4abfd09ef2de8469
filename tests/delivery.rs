//! The delivery engine against real loopback receivers: retries, timeouts, refused
//! connections, `410 Gone`, `Retry-After`, exhaustion and retry by hand, slow
//! receivers, signatures (checked with the independent `standardwebhooks` crate),
//! the target policy, and shutdown.

mod common;

use std::time::Duration;

use common::{Receiver, Reply};
use rest_hooks::delivery::{Next, RetrySchedule};
use rest_hooks::store::{MemoryStore, Store};
use rest_hooks::target_policy::TargetPolicy;
use rest_hooks::{
    AttemptResult, DeliveryFilter, DeliveryState, Error, HookModel, HookPatch, HookState, Hooks,
    HooksBuilder, NewHook, Outcome,
};
use tokio::sync::broadcast;

/// A book, owned by the user who added it.
#[derive(Debug, Clone, serde::Serialize, HookModel)]
#[hook(app = "bookstore", owner = user)]
pub struct Book {
    id: u64,
    title: String,
    user: String,
}

rest_hooks::hook_events! {
    "book.added" => bookstore.Book.created,
}

fn book(id: u64) -> Book {
    Book {
        id,
        title: format!("Book {id}"),
        user: "ann".into(),
    }
}

fn fast_retries(n: usize) -> RetrySchedule {
    RetrySchedule::new(vec![Duration::from_millis(20); n]).jitter(0.0)
}

fn builder(store: impl Store) -> HooksBuilder {
    Hooks::builder(&EVENTS, store)
        .target_policy(common::loopback_policy())
        .poll_interval(Duration::from_millis(20))
        .retry_schedule(fast_retries(3))
        .timeout(Duration::from_secs(5))
}

/// The next outcome of an attempt at the delivery to `path`.
async fn outcome(observed: &mut broadcast::Receiver<Outcome>, path: &str) -> Outcome {
    let wait = async {
        loop {
            let outcome = observed.recv().await.expect("outcomes");
            if outcome.delivery.target.ends_with(path) {
                return outcome;
            }
        }
    };
    tokio::time::timeout(common::PATIENCE, wait)
        .await
        .expect("no outcome in time")
}

async fn subscribe(hooks: &Hooks, target: String) -> rest_hooks::Hook {
    hooks
        .subscribe(NewHook::new("ann", "book.added", target))
        .await
        .unwrap()
}

async fn responses_are_logged_with_their_body_cut_at_4_kib(store: impl Store) {
    let receiver = Receiver::start().await;
    receiver.script(
        "/chatty",
        [
            Reply::status(500).body("x".repeat(10_000)),
            Reply::status(200).body(""),
        ],
    );
    let hooks = builder(store).build().await.unwrap();
    let mut observed = hooks.observe();
    subscribe(&hooks, receiver.target("chatty")).await;

    hooks.created(&book(1)).await.unwrap();
    let first = outcome(&mut observed, "/chatty").await;
    let second = outcome(&mut observed, "/chatty").await;
    assert_eq!(second.next, Next::Delivered);
    let logged: Vec<_> = hooks
        .list_attempts("ann", &[first.delivery.id])
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.result.status(), a.response_body))
        .collect();
    assert_eq!(
        logged,
        [(Some(200), None), (Some(500), Some("x".repeat(4096)))]
    );
    hooks.shutdown(Duration::from_secs(5)).await;
}

async fn two_500s_then_200_deliver_on_the_third_attempt(store: impl Store) {
    let receiver = Receiver::start().await;
    receiver.script("/flaky", [Reply::status(500), Reply::status(500)]);
    let hooks = builder(store).build().await.unwrap();
    let mut observed = hooks.observe();
    subscribe(&hooks, receiver.target("flaky")).await;

    hooks.created(&book(1)).await.unwrap();
    assert!(matches!(
        outcome(&mut observed, "/flaky").await.next,
        Next::RetryAt(_)
    ));
    assert!(matches!(
        outcome(&mut observed, "/flaky").await.next,
        Next::RetryAt(_)
    ));
    let done = outcome(&mut observed, "/flaky").await;
    assert_eq!(done.next, Next::Delivered);

    let ids: Vec<_> = receiver
        .take(3)
        .await
        .iter()
        .map(|r| r.headers["webhook-id"].clone())
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "webhook-id changed across retries: {ids:?}"
    );
    assert_eq!(ids[0], done.delivery.id.to_string());

    let delivery = hooks.get_delivery("ann", done.delivery.id).await.unwrap();
    assert_eq!(
        (delivery.state, delivery.attempts),
        (DeliveryState::Delivered, 3)
    );
    let statuses: Vec<_> = hooks
        .list_attempts("ann", &[delivery.id])
        .await
        .unwrap()
        .iter()
        .map(|a| a.result.status())
        .collect();
    assert_eq!(statuses, [Some(200), Some(500), Some(500)]);
    hooks.shutdown(Duration::from_secs(5)).await;
}

async fn a_timeout_is_retried(store: impl Store) {
    let receiver = Receiver::start().await;
    receiver.script("/slow", [Reply::status(200).after(Duration::from_secs(3))]);
    let hooks = builder(store)
        .timeout(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let mut observed = hooks.observe();
    subscribe(&hooks, receiver.target("slow")).await;

    hooks.created(&book(1)).await.unwrap();
    let first = outcome(&mut observed, "/slow").await;
    assert_eq!(first.attempt.result, AttemptResult::Timeout);
    assert!(matches!(first.next, Next::RetryAt(_)));
    assert_eq!(outcome(&mut observed, "/slow").await.next, Next::Delivered);
    hooks.shutdown(Duration::from_secs(5)).await;
}

async fn a_refused_connection_is_retried_then_fails(store: impl Store) {
    // A port that nothing listens on any more.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/gone-away", closed.local_addr().unwrap());
    drop(closed);
    let hooks = builder(store)
        .retry_schedule(fast_retries(1))
        .build()
        .await
        .unwrap();
    let mut observed = hooks.observe();
    subscribe(&hooks, target).await;

    hooks.created(&book(1)).await.unwrap();
    let first = outcome(&mut observed, "/gone-away").await;
    assert!(
        matches!(first.attempt.result, AttemptResult::Connect(_)),
        "{:?}",
        first.attempt.result
    );
    assert!(matches!(first.next, Next::RetryAt(_)));
    let second = outcome(&mut observed, "/gone-away").await;
    assert!(matches!(second.attempt.result, AttemptResult::Connect(_)));
    assert_eq!(second.next, Next::Failed);
    hooks.shutdown(Duration::from_secs(5)).await;
}

async fn a_410_deletes_the_hook_without_retrying(store: impl Store) {
    let receiver = Receiver::start().await;
    receiver.script("/unsubscribed", [Reply::status(410)]);
    let hooks = builder(store).build().await.unwrap();
    let mut observed = hooks.observe();
    let hook = subscribe(&hooks, receiver.target("unsubscribed")).await;

    hooks.created(&book(1)).await.unwrap();
    assert_eq!(
        outcome(&mut observed, "/unsubscribed").await.next,
        Next::HookGone
    );
    assert!(matches!(
        hooks.get_hook("ann", hook.id).await,
        Err(Error::HookNotFound(_))
    ));
    assert_eq!(
        hooks.created(&book(2)).await.unwrap(),
        0,
        "the index forgot the hook"
    );
    assert_eq!(receiver.take(1).await.len(), 1);
    assert_eq!(receiver.pending(), 0);
    hooks.shutdown(Duration::from_secs(5)).await;
}

async fn retry_after_on_a_429_is_honoured(store: impl Store) {
    let receiver = Receiver::start().await;
    receiver.script("/busy", [Reply::status(429).header("retry-after", "1")]);
    let schedule = RetrySchedule::new([Duration::from_millis(600)]).jitter(0.0);
    let hooks = builder(store)
        .retry_schedule(schedule)
        .build()
        .await
        .unwrap();
    let mut observed = hooks.observe();
    subscribe(&hooks, receiver.target("busy")).await;

    hooks.created(&book(1)).await.unwrap();
    let first = outcome(&mut observed, "/busy").await;
    assert_eq!(first.attempt.result, AttemptResult::Status(429));
    let Next::RetryAt(at) = first.next else {
        panic!("a 429 is retried, not {:?}", first.next)
    };
    // Asked for 1 s; the step is 600 ms, so anything in [600 ms, 1.2 s] is allowed,
    // and the 1 s asked for is in it. Without `Retry-After` it would be 600 ms.
    let spent = Duration::from_millis(first.attempt.duration_ms);
    let waited = at - first.attempt.attempted_at - spent;
    assert!(
        waited >= Duration::from_millis(1000),
        "retried after {waited}"
    );
    // A loose upper bound: the time between the answer and the decision is not the
    // test's to control.
    assert!(
        waited <= Duration::from_millis(3000),
        "retried after {waited}"
    );
    assert_eq!(outcome(&mut observed, "/busy").await.next, Next::Delivered);
    hooks.shutdown(Duration::from_secs(5)).await;
}

async fn an_exhausted_delivery_fails_and_can_be_redelivered_by_hand(store: impl Store) {
    let receiver = Receiver::start().await;
    receiver.script(
        "/down",
        [Reply::status(502), Reply::status(503), Reply::status(500)],
    );
    let hooks = builder(store)
        .retry_schedule(fast_retries(2))
        .build()
        .await
        .unwrap();
    let mut observed = hooks.observe();
    let hook = subscribe(&hooks, receiver.target("down")).await;

    hooks.created(&book(1)).await.unwrap();
    outcome(&mut observed, "/down").await;
    outcome(&mut observed, "/down").await;
    let last = outcome(&mut observed, "/down").await;
    assert_eq!(last.next, Next::Failed);
    let failed = hooks
        .list_deliveries("ann", &DeliveryFilter::of_hook(hook.id), None, 10)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (failed[0].state, failed[0].attempts),
        (DeliveryState::Failed, 3)
    );

    assert!(matches!(
        hooks.redeliver("bob", failed[0].id).await,
        Err(Error::DeliveryNotFound(_))
    ));
    hooks.redeliver("ann", failed[0].id).await.unwrap();
    assert_eq!(outcome(&mut observed, "/down").await.next, Next::Delivered);
    assert_eq!(
        hooks.get_delivery("ann", failed[0].id).await.unwrap().state,
        DeliveryState::Delivered
    );
    hooks.shutdown(Duration::from_secs(5)).await;
}

async fn a_slow_receiver_does_not_delay_a_fast_one(store: impl Store) {
    let slow = Receiver::start().await;
    let fast = Receiver::start().await;
    slow.script(
        "/slow",
        vec![Reply::status(200).after(Duration::from_secs(30)); 5],
    );
    let hooks = builder(store)
        .timeout(Duration::from_secs(10))
        .build()
        .await
        .unwrap();
    let mut observed = hooks.observe();
    subscribe(&hooks, slow.target("slow")).await;
    subscribe(&hooks, fast.target("fast")).await;

    for id in 0..5 {
        hooks.created(&book(id)).await.unwrap();
    }
    // Every delivery to the fast receiver is done before the first slow attempt
    // times out.
    let mut fast_done = 0;
    while fast_done < 5 {
        let outcome = observed.recv().await.unwrap();
        assert!(
            outcome.delivery.target.ends_with("/fast"),
            "a slow attempt ended first"
        );
        assert_eq!(outcome.next, Next::Delivered);
        fast_done += 1;
    }
    hooks.shutdown(Duration::ZERO).await;
}

async fn signatures_verify_with_standardwebhooks_across_a_secret_rotation(store: impl Store) {
    let receiver = Receiver::start().await;
    let hooks = builder(store).build().await.unwrap();
    let hook = subscribe(&hooks, receiver.target("signed")).await;

    hooks.created(&book(1)).await.unwrap();
    let got = receiver.next().await;
    let verifier = standardwebhooks::Webhook::new(&hook.secret).unwrap();
    verifier
        .verify(&got.raw, &got.headers)
        .expect("signed with the hook's secret");
    rest_hooks::delivery::sign::verify(&hook.secret, &got.headers, &got.raw).unwrap();
    assert!(
        rest_hooks::delivery::sign::verify(&hook.secret, &got.headers, b"{\"tampered\":1}")
            .is_err()
    );

    let rotated = hooks.rotate_secret("ann", hook.id).await.unwrap();
    assert_ne!(rotated.secret, hook.secret);
    hooks.created(&book(2)).await.unwrap();
    let got = receiver.next().await;
    let signatures = got.headers["webhook-signature"].to_str().unwrap();
    assert_eq!(
        signatures.split(' ').count(),
        2,
        "old and new secret sign: {signatures}"
    );
    for secret in [&rotated.secret, &hook.secret] {
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(&got.raw, &got.headers)
            .expect("both secrets verify during the grace period");
    }
    let stranger = "whsec_c3RyYW5nZXItc3RyYW5nZXItc3RyYW5nZXItc3RyYW5nZXI=";
    assert!(
        standardwebhooks::Webhook::new(stranger)
            .unwrap()
            .verify(&got.raw, &got.headers)
            .is_err()
    );
    hooks.shutdown(Duration::from_secs(5)).await;
}

async fn shutdown_with_work_in_flight_loses_nothing(store: impl Store + Clone) {
    let receiver = Receiver::start().await;
    receiver.script(
        "/slow",
        vec![Reply::status(200).after(Duration::from_secs(30)); 5],
    );
    let hooks = builder(store.clone()).build().await.unwrap();
    let hook = subscribe(&hooks, receiver.target("slow")).await;
    for id in 0..5 {
        hooks.created(&book(id)).await.unwrap();
    }
    receiver.take(5).await; // all five are in flight
    hooks.shutdown(Duration::from_millis(100)).await;
    let pending = hooks
        .list_deliveries("ann", &DeliveryFilter::of_hook(hook.id), None, 10)
        .await
        .unwrap();
    assert!(
        pending.iter().all(|d| d.state == DeliveryState::Pending),
        "{pending:?}"
    );

    // The next start delivers them (the slow replies are used up: it answers 200).
    let restarted = builder(store).build().await.unwrap();
    let mut again: Vec<String> = receiver
        .take(5)
        .await
        .iter()
        .map(|r| r.headers["webhook-id"].to_str().unwrap().to_owned())
        .collect();
    let mut ids: Vec<String> = pending.iter().map(|d| d.id.to_string()).collect();
    again.sort();
    ids.sort();
    assert_eq!(
        again, ids,
        "the next start sends each delivery that was in flight"
    );
    // Shutting down records the outcomes of the attempts it waited for.
    restarted.shutdown(Duration::from_secs(5)).await;
    let all = restarted
        .list_deliveries("ann", &DeliveryFilter::of_hook(hook.id), None, 10)
        .await
        .unwrap();
    assert_eq!(all.len(), 5);
    assert!(
        all.iter().all(|d| d.state == DeliveryState::Delivered),
        "{all:?}"
    );
}

async fn a_payload_over_the_limit_is_refused_and_nothing_queued(store: impl Store) {
    let receiver = Receiver::start().await;
    let hooks = builder(store).max_payload(1024).build().await.unwrap();
    let hook = subscribe(&hooks, receiver.target("big")).await;
    let mut big = book(1);
    big.title = "x".repeat(2000);
    assert!(matches!(
        hooks.created(&big).await,
        Err(Error::PayloadTooLarge { limit: 1024, .. })
    ));
    assert_eq!(
        hooks
            .list_deliveries("ann", &DeliveryFilter::of_hook(hook.id), None, 10)
            .await
            .unwrap(),
        []
    );
    hooks.shutdown(Duration::from_secs(5)).await;
}

async fn a_disabled_hook_holds_its_events_and_sends_them_in_order_when_enabled(store: impl Store) {
    let receiver = Receiver::start().await;
    receiver.script("/broken", [Reply::status(500)]);
    // Disabled as soon as it fails: the period is zero. One attempt at a time, so
    // that the order they are sent in is the order they arrive in.
    let hooks = builder(store)
        .disable_after(Duration::ZERO)
        .concurrency(1)
        .build()
        .await
        .unwrap();
    let mut observed = hooks.observe();
    let hook = subscribe(&hooks, receiver.target("broken")).await;

    hooks.created(&book(1)).await.unwrap();
    assert!(matches!(
        outcome(&mut observed, "/broken").await.next,
        Next::RetryAt(_)
    ));
    receiver.next().await;
    let disabled = hooks.get_hook("ann", hook.id).await.unwrap();
    assert_eq!(disabled.state(), HookState::Disabled);
    assert_eq!(
        disabled.disabled_reason.as_deref(),
        Some("every delivery failed for 0 s")
    );
    for id in 2..=4 {
        assert_eq!(
            hooks.created(&book(id)).await.unwrap(),
            1,
            "held, not dropped"
        );
    }
    let log = hooks
        .list_deliveries("ann", &DeliveryFilter::of_hook(hook.id), None, 10)
        .await
        .unwrap();
    assert_eq!(log.len(), 4);
    assert!(
        log.iter().all(|d| d.state == DeliveryState::Held),
        "{log:?}"
    );

    hooks
        .update_hook("ann", hook.id, HookPatch::new().active(true))
        .await
        .unwrap();
    let ids: Vec<u64> = receiver
        .take(4)
        .await
        .iter()
        .map(|r| r.body["data"]["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2, 3, 4]);
    hooks.shutdown(Duration::from_secs(5)).await;
}

async fn enabling_without_replay_discards_what_was_held(store: impl Store) {
    let receiver = Receiver::start().await;
    receiver.script("/broken", [Reply::status(500)]);
    let hooks = builder(store)
        .disable_after(Duration::ZERO)
        .retry_schedule(fast_retries(0))
        .build()
        .await
        .unwrap();
    let mut observed = hooks.observe();
    let hook = subscribe(&hooks, receiver.target("broken")).await;
    hooks.created(&book(1)).await.unwrap();
    assert_eq!(outcome(&mut observed, "/broken").await.next, Next::Failed);
    receiver.next().await;
    hooks.created(&book(2)).await.unwrap();

    let patch = HookPatch::new().active(true).replay(false);
    hooks.update_hook("ann", hook.id, patch).await.unwrap();
    hooks.created(&book(3)).await.unwrap();
    assert_eq!(receiver.next().await.body["data"]["id"], 3);
    // Recorded before it is observed.
    assert_eq!(
        outcome(&mut observed, "/broken").await.next,
        Next::Delivered
    );
    let log = hooks
        .list_deliveries("ann", &DeliveryFilter::of_hook(hook.id), None, 10)
        .await
        .unwrap();
    let states: Vec<DeliveryState> = log.iter().map(|d| d.state).collect();
    // Newest first: 3 sent, 2 discarded, 1 failed before the hook was disabled.
    assert_eq!(
        states,
        [
            DeliveryState::Delivered,
            DeliveryState::Discarded,
            DeliveryState::Failed
        ]
    );
    assert_eq!(receiver.pending(), 0);
    hooks.shutdown(Duration::from_secs(5)).await;
}

async fn a_paused_hook_gets_nothing_and_custom_headers_go_with_every_delivery(store: impl Store) {
    let receiver = Receiver::start().await;
    let hooks = builder(store).build().await.unwrap();
    let hook = hooks
        .subscribe(
            NewHook::new("ann", "book.added", receiver.target("in")).header("x-api-key", "k-1"),
        )
        .await
        .unwrap();
    let paused = hooks
        .update_hook("ann", hook.id, HookPatch::new().active(false))
        .await
        .unwrap();
    assert_eq!(paused.state(), HookState::Paused);
    assert_eq!(
        hooks.created(&book(1)).await.unwrap(),
        0,
        "paused: nothing queued"
    );
    let headers = [("x-api-key".to_owned(), "k-2".to_owned())].into();
    hooks
        .update_hook(
            "ann",
            hook.id,
            HookPatch::new().active(true).headers(headers),
        )
        .await
        .unwrap();
    assert_eq!(hooks.created(&book(2)).await.unwrap(), 1);
    let received = receiver.next().await;
    assert_eq!(received.body["data"]["id"], 2);
    assert_eq!(received.headers["x-api-key"], "k-2");
    assert_eq!(receiver.pending(), 0);
    hooks.shutdown(Duration::from_secs(5)).await;
}

/// Waits until the owner's delivery is gone from the log.
async fn until_purged(hooks: &Hooks, id: uuid::Uuid) {
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    while hooks.get_delivery("ann", id).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the delivery is still in the log"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn the_log_older_than_the_retention_is_purged_in_the_background(store: impl Store) {
    let receiver = Receiver::start().await;
    receiver.script("/kept", [Reply::status(500)]);
    // Kept for no time at all, and purged every 20 ms: a delivery goes once it has
    // ended (it waits for its retry 500 ms, pending).
    let hooks = builder(store)
        .retry_schedule(RetrySchedule::new(vec![Duration::from_millis(500)]).jitter(0.0))
        .retention(Duration::ZERO)
        .purge_interval(Duration::from_millis(20))
        .build()
        .await
        .unwrap();
    let mut observed = hooks.observe();
    subscribe(&hooks, receiver.target("kept")).await;
    hooks.created(&book(1)).await.unwrap();
    let first = outcome(&mut observed, "/kept").await;
    assert!(matches!(first.next, Next::RetryAt(_)));

    let done = outcome(&mut observed, "/kept").await;
    assert_eq!(done.next, Next::Delivered);
    until_purged(&hooks, done.delivery.id).await;
    let attempts = hooks.list_attempts("ann", &[done.delivery.id]).await;
    assert_eq!(attempts.unwrap(), []);
    hooks.shutdown(Duration::from_secs(5)).await;
}

async fn purge_now_deletes_what_the_retention_no_longer_keeps(store: impl Store) {
    let receiver = Receiver::start().await;
    // No background purge after the first, at build.
    let hooks = builder(store)
        .retention(Duration::ZERO)
        .purge_interval(Duration::from_secs(3600))
        .build()
        .await
        .unwrap();
    let mut observed = hooks.observe();
    subscribe(&hooks, receiver.target("now")).await;
    hooks.created(&book(1)).await.unwrap();
    let done = outcome(&mut observed, "/now").await;
    assert_eq!(done.next, Next::Delivered);
    assert!(hooks.purge_now().await.unwrap() <= 1);
    let gone = hooks.get_delivery("ann", done.delivery.id).await;
    assert!(matches!(gone, Err(Error::DeliveryNotFound(_))), "{gone:?}");
    assert_eq!(hooks.purge_now().await.unwrap(), 0);
    hooks.shutdown(Duration::from_secs(5)).await;
}

store_tests!(
    the_log_older_than_the_retention_is_purged_in_the_background,
    purge_now_deletes_what_the_retention_no_longer_keeps,
    a_disabled_hook_holds_its_events_and_sends_them_in_order_when_enabled,
    enabling_without_replay_discards_what_was_held,
    a_paused_hook_gets_nothing_and_custom_headers_go_with_every_delivery,
    two_500s_then_200_deliver_on_the_third_attempt,
    responses_are_logged_with_their_body_cut_at_4_kib,
    a_timeout_is_retried,
    a_refused_connection_is_retried_then_fails,
    a_410_deletes_the_hook_without_retrying,
    retry_after_on_a_429_is_honoured,
    an_exhausted_delivery_fails_and_can_be_redelivered_by_hand,
    a_slow_receiver_does_not_delay_a_fast_one,
    signatures_verify_with_standardwebhooks_across_a_secret_rotation,
    shutdown_with_work_in_flight_loses_nothing,
    a_payload_over_the_limit_is_refused_and_nothing_queued,
);

mod target_policy {
    use super::*;

    #[tokio::test]
    async fn private_loopback_and_metadata_targets_are_refused_at_subscribe() {
        let hooks = Hooks::builder(&EVENTS, MemoryStore::new())
            .build()
            .await
            .unwrap();
        for target in [
            "http://127.0.0.1:9/in",
            "http://10.0.0.1/in",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:9/in",
            "http://localhost:9/in",
        ] {
            let result = hooks
                .subscribe(NewHook::new("ann", "book.added", target))
                .await;
            assert!(
                matches!(&result, Err(Error::TargetNotAllowed { .. })),
                "{target} gave {result:?}"
            );
        }
        assert_eq!(hooks.list_hooks("ann", None, 1000).await.unwrap(), []);
        hooks.shutdown(Duration::ZERO).await;
    }

    /// A target allowed when it was subscribed and refused when it is delivered to
    /// (as after a DNS change): the engine checks the addresses it connects to, and
    /// makes no connection.
    #[tokio::test]
    async fn the_address_connected_to_is_checked_at_delivery() {
        let receiver = Receiver::start().await;
        let port = receiver.url.rsplit(':').next().unwrap().to_owned();
        let store = rest_hooks::store::MemoryStore::new();
        let subscribing = Hooks::builder(&EVENTS, store.clone())
            .target_policy(TargetPolicy::default().allow_host("localhost"))
            .concurrency(0)
            .build()
            .await
            .unwrap();
        subscribing
            .subscribe(NewHook::new(
                "ann",
                "book.added",
                format!("http://localhost:{port}/rebound"),
            ))
            .await
            .unwrap();
        subscribing
            .subscribe(NewHook::new(
                "ann",
                "book.added",
                receiver.target("literal"),
            ))
            .await
            .unwrap_err();

        let delivering = Hooks::builder(&EVENTS, store)
            .poll_interval(Duration::from_millis(20))
            .retry_schedule(RetrySchedule::new([]))
            .build()
            .await
            .unwrap();
        let mut observed = delivering.observe();
        delivering.created(&book(1)).await.unwrap();
        let refused = outcome(&mut observed, "/rebound").await;
        assert!(
            matches!(&refused.attempt.result, AttemptResult::NotAllowed(reason) if reason.contains("loopback")),
            "{:?}",
            refused.attempt.result
        );
        assert_eq!(refused.next, Next::Failed);
        assert_eq!(receiver.pending(), 0, "no request reached the receiver");
        delivering.shutdown(Duration::ZERO).await;
    }
}

mod per_host {
    use super::*;

    #[tokio::test]
    async fn targets_on_one_host_share_its_limit() {
        let receiver = Receiver::start().await;
        let paths = ["one", "two", "three"];
        for path in paths {
            receiver.script(
                &format!("/{path}"),
                [Reply::status(200).after(Duration::from_millis(300))],
            );
        }
        let hooks = builder(MemoryStore::new())
            .per_host(1)
            .build()
            .await
            .unwrap();
        let mut observed = hooks.observe();
        for path in paths {
            subscribe(&hooks, receiver.target(path)).await;
        }
        // The same targets again, twice: a target seen before is limited the same.
        for id in 0..3 {
            hooks.created(&book(id)).await.unwrap();
        }
        for _ in 0..9 {
            let done = observed.recv().await.unwrap();
            assert_eq!(done.next, Next::Delivered);
        }
        assert_eq!(receiver.take(9).await.len(), 9);
        assert_eq!(receiver.most_in_flight(), 1);
        hooks.shutdown(Duration::from_secs(5)).await;
    }
}

mod workers {
    use std::sync::atomic::{AtomicBool, Ordering};

    use rest_hooks::delivery::{Deliverer, Outgoing, Sent};

    use super::*;

    /// Panics at its first attempt, and takes every other delivery.
    #[derive(Default)]
    struct PanicsOnce {
        panicked: AtomicBool,
    }

    #[async_trait::async_trait]
    impl Deliverer for PanicsOnce {
        async fn deliver(&self, _: &Outgoing) -> Sent {
            if !self.panicked.swap(true, Ordering::SeqCst) {
                panic!("a deliverer's bug");
            }
            Sent {
                result: AttemptResult::Status(200),
                response_body: None,
                retry_after: None,
            }
        }
    }

    #[tokio::test]
    async fn a_worker_that_panics_is_replaced_and_its_delivery_sent_after_its_lease() {
        let hooks = builder(MemoryStore::new())
            .deliverer(PanicsOnce::default())
            .concurrency(1)
            .lease(Duration::from_millis(300))
            .build()
            .await
            .unwrap();
        let mut observed = hooks.observe();
        subscribe(&hooks, "http://127.0.0.1:9/in".to_owned()).await;
        hooks.created(&book(1)).await.unwrap();
        hooks.created(&book(2)).await.unwrap();
        // One worker: the one that panicked was replaced, or nothing is sent.
        let mut delivered = Vec::new();
        for _ in 0..2 {
            let done = tokio::time::timeout(common::PATIENCE, observed.recv())
                .await
                .expect("an outcome in time")
                .unwrap();
            assert_eq!(done.next, Next::Delivered);
            delivered.push(done.delivery.id);
        }
        delivered.sort();
        delivered.dedup();
        assert_eq!(delivered.len(), 2, "both events are delivered once");
        hooks.shutdown(Duration::from_secs(5)).await;
    }
}

mod secrets_at_rest {
    use super::*;
    use rest_hooks::store::SqliteStore;

    const KEY_A: [u8; 32] = [7; 32];
    const KEY_B: [u8; 32] = [9; 32];

    async fn hooks(path: &std::path::Path, key: [u8; 32], previous: Option<[u8; 32]>) -> Hooks {
        let mut builder = builder(SqliteStore::open(path).await.unwrap()).secret_key(key);
        if let Some(previous) = previous {
            builder = builder.previous_secret_key(previous);
        }
        builder.build().await.unwrap()
    }

    async fn stored_secret(path: &std::path::Path, id: uuid::Uuid) -> String {
        let url = format!("sqlite://{}", path.display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query_scalar("SELECT secret FROM rest_hooks_hooks WHERE id = ?")
            .bind(id.to_string())
            .fetch_one(&pool)
            .await
            .unwrap()
    }

    /// The delivery arrives signed with `secret`.
    async fn delivered_signed(hooks: &Hooks, receiver: &Receiver, id: u64, secret: &str) {
        hooks.created(&book(id)).await.unwrap();
        let received = receiver.next().await;
        assert_eq!(received.body["data"]["id"], id);
        rest_hooks::delivery::sign::verify(secret, &received.headers, &received.raw).unwrap();
    }

    #[tokio::test]
    async fn secrets_are_sealed_in_the_store_and_the_key_can_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hooks.db");
        let receiver = Receiver::start().await;

        let under_a = hooks(&path, KEY_A, None).await;
        let first = subscribe(&under_a, receiver.target("first")).await;
        let sealed = stored_secret(&path, first.id).await;
        assert!(sealed.starts_with("enc:v1:"), "{sealed}");
        assert!(!sealed.contains(first.secret.trim_start_matches("whsec_")));
        // A fresh nonce each: the same secret seals differently.
        delivered_signed(&under_a, &receiver, 1, &first.secret).await;
        under_a.shutdown(Duration::from_secs(5)).await;

        // The key changes: the old one opens, the new one seals.
        let under_b = hooks(&path, KEY_B, Some(KEY_A)).await;
        assert_eq!(
            under_b.get_hook("ann", first.id).await.unwrap().secret,
            first.secret
        );
        let rotated = under_b.rotate_secret("ann", first.id).await.unwrap();
        delivered_signed(&under_b, &receiver, 2, &rotated.secret).await;
        under_b.shutdown(Duration::from_secs(5)).await;

        // Without the old key, what it sealed alone no longer opens; the rotated
        // secret, sealed with the new key, does.
        let only_b = hooks(&path, KEY_B, None).await;
        assert_eq!(
            only_b.get_hook("ann", first.id).await.unwrap().secret,
            rotated.secret
        );
        delivered_signed(&only_b, &receiver, 3, &rotated.secret).await;
        only_b.shutdown(Duration::from_secs(5)).await;
        let under_a_again = builder(SqliteStore::open(&path).await.unwrap())
            .secret_key(KEY_A)
            .concurrency(0)
            .build()
            .await;
        assert!(
            matches!(under_a_again, Err(Error::Store(_))),
            "a wrong key is an error"
        );
    }
}
