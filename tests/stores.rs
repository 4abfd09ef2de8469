//! The store conformance suite: the same tests against `MemoryStore`, `SqliteStore`
//! and `PgStore`.

mod common;

use std::time::Duration;

use rest_hooks::delivery::Next;
use rest_hooks::store::{Claim, Disable, HookChange, QueueDepth, Recorded, Store};
use rest_hooks::{
    Attempt, AttemptResult, Delivery, DeliveryFilter, DeliveryState, Hook, HookPatch, HookState,
};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

fn hook(owner: &str, event: &str) -> Hook {
    Hook {
        id: Uuid::now_v7(),
        owner: owner.into(),
        event: event.into(),
        target: "https://example.com/in".into(),
        secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0".into(),
        active: true,
        disabled_reason: None,
        created_at: time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        metadata: json!({"plan": "pro", "tags": ["a", "b"]}),
        headers: [("x-api-key".to_owned(), "k1".to_owned())].into(),
    }
}

async fn hooks_round_trip_and_are_scoped_to_their_owner(store: impl Store) {
    let ann = hook("ann", "book.added");
    let ann2 = hook("ann", "book.removed");
    let bob = hook("bob", "book.added");
    for h in [&ann, &ann2, &bob] {
        store.insert_hook(h, usize::MAX).await.unwrap();
    }

    assert_eq!(
        store.get_hook("ann", ann.id).await.unwrap(),
        Some(ann.clone())
    );
    assert_eq!(store.get_hook("bob", ann.id).await.unwrap(), None);
    assert_eq!(
        store.list_hooks("ann", None, 1000).await.unwrap(),
        [ann.clone(), ann2.clone()]
    );
    assert_eq!(
        store.list_hooks("bob", None, 1000).await.unwrap(),
        std::slice::from_ref(&bob)
    );
    assert_eq!(store.list_hooks("carl", None, 1000).await.unwrap(), []);

    assert!(!store.delete_hook("bob", ann.id).await.unwrap());
    assert_eq!(
        store.get_hook("ann", ann.id).await.unwrap(),
        Some(ann.clone())
    );
    assert!(store.delete_hook("ann", ann.id).await.unwrap());
    assert!(!store.delete_hook("ann", ann.id).await.unwrap());
    assert_eq!(store.get_hook("ann", ann.id).await.unwrap(), None);
    assert_eq!(store.list_fired_hooks().await.unwrap(), [ann2, bob]);
}

async fn inactive_hooks_are_not_indexed(store: impl Store) {
    let mut off = hook("ann", "book.added");
    off.active = false;
    let on = hook("ann", "book.added");
    store.insert_hook(&off, usize::MAX).await.unwrap();
    store.insert_hook(&on, usize::MAX).await.unwrap();
    assert_eq!(store.list_fired_hooks().await.unwrap(), [on]);
    assert_eq!(store.list_hooks("ann", None, 1000).await.unwrap().len(), 2);
}

async fn a_hook_is_found_by_id_whoever_owns_it_until_deleted(store: impl Store) {
    let mut off = hook("ann", "book.added");
    off.active = false;
    let on = hook("bob", "book.added");
    store.insert_hook(&off, usize::MAX).await.unwrap();
    store.insert_hook(&on, usize::MAX).await.unwrap();
    assert_eq!(store.get_hook_by_id(on.id).await.unwrap(), Some(on.clone()));
    // An inactive hook is found as it is: the index takes it out, and may take it
    // back when it is enabled again.
    assert_eq!(
        store.get_hook_by_id(off.id).await.unwrap(),
        Some(off.clone())
    );
    assert!(store.delete_hook("bob", on.id).await.unwrap());
    assert_eq!(store.get_hook_by_id(on.id).await.unwrap(), None);
}

fn attempt(d: &Delivery, result: AttemptResult) -> Attempt {
    Attempt {
        delivery_id: d.id,
        hook_id: d.hook_id,
        attempted_at: OffsetDateTime::now_utc(),
        result,
        duration_ms: 12,
        response_body: Some("busy".into()),
    }
}

fn recorded(d: &Delivery, result: AttemptResult, next: Next) -> Recorded {
    Recorded {
        attempt: attempt(d, result),
        next,
    }
}

/// The rule that disables a hook whose deliveries have all failed for `after`.
fn disable_after(after: Duration) -> Disable {
    Disable { after }
}

/// Disables nothing: hooks would have to fail for ever.
fn never() -> Disable {
    disable_after(Duration::MAX)
}

/// The ids of the deliveries a lease of up to 10 takes now, in lease order.
async fn leased_ids(store: &impl Store) -> Vec<Uuid> {
    let leased = store.lease(10, Duration::from_secs(60)).await.unwrap();
    leased.iter().map(|o| o.delivery.id).collect()
}

async fn queued(store: &impl Store, owner: &str, n: usize) -> (Hook, Vec<Delivery>) {
    let h = hook(owner, "book.added");
    store.insert_hook(&h, usize::MAX).await.unwrap();
    let all: Vec<_> = (0..n)
        .map(|i| Delivery::new(&h, format!("{{\"n\":{i}}}").into_bytes()))
        .collect();
    store.enqueue(all.clone()).await.unwrap();
    (h, all)
}

async fn a_leased_delivery_is_not_leased_again_until_recorded_or_expired(store: impl Store) {
    let (h, all) = queued(&store, "ann", 2).await;
    let (other, theirs) = queued(&store, "bob", 1).await;
    let leased = store.lease(10, Duration::from_secs(60)).await.unwrap();
    let mut ids: Vec<_> = leased.iter().map(|o| o.delivery.id).collect();
    ids.sort();
    assert_eq!(ids, [all[0].id, all[1].id, theirs[0].id]);
    for outgoing in &leased {
        let secret = if outgoing.delivery.hook_id == h.id {
            &h.secret
        } else {
            &other.secret
        };
        assert_eq!(outgoing.secrets, std::slice::from_ref(secret));
    }
    assert!(
        store
            .lease(10, Duration::from_secs(60))
            .await
            .unwrap()
            .is_empty()
    );

    let changes = store
        .record(
            &[
                recorded(&all[0], AttemptResult::Status(200), Next::Delivered),
                recorded(&all[1], AttemptResult::Status(500), Next::Failed),
            ],
            &never(),
        )
        .await
        .unwrap();
    assert_eq!(changes, []);
    let done = store.get_delivery("ann", all[0].id).await.unwrap().unwrap();
    assert_eq!((done.state, done.attempts), (DeliveryState::Delivered, 1));
    let failed = store.get_delivery("ann", all[1].id).await.unwrap().unwrap();
    assert_eq!((failed.state, failed.attempts), (DeliveryState::Failed, 1));
    assert!(store.lease(10, Duration::ZERO).await.unwrap().is_empty());
}

/// Deliveries fired from an index that did not know yet that their hook was
/// paused, disabled or deleted (by another process, say) are never sent: those of
/// a hook that is there are held for when it comes back.
async fn deliveries_of_a_disabled_or_deleted_hook_are_not_sent(store: impl Store) {
    let (_, sendable) = queued(&store, "ann", 1).await;
    let mut disabled = hook("ann", "book.added");
    disabled.active = false;
    store.insert_hook(&disabled, usize::MAX).await.unwrap();
    let deleted = hook("ann", "book.added");
    let late = Delivery::new(&disabled, b"{}".to_vec());
    let orphan = Delivery::new(&deleted, b"{}".to_vec());
    store
        .enqueue(vec![late.clone(), orphan.clone()])
        .await
        .unwrap();

    let leased = store.lease(10, Duration::from_secs(60)).await.unwrap();
    let ids: Vec<_> = leased.iter().map(|o| o.delivery.id).collect();
    assert_eq!(ids, [sendable[0].id]);
    let held = store.get_delivery("ann", late.id).await.unwrap().unwrap();
    assert_eq!((held.state, held.attempts), (DeliveryState::Held, 0));
    assert_eq!(store.get_delivery("ann", orphan.id).await.unwrap(), None);
    assert!(store.lease(10, Duration::ZERO).await.unwrap().is_empty());
}

async fn an_expired_lease_gives_the_delivery_back(store: impl Store) {
    let (_, all) = queued(&store, "ann", 1).await;
    // A zero-length lease is already over: the delivery is due again at once, as
    // after a worker that died holding it.
    assert_eq!(store.lease(10, Duration::ZERO).await.unwrap().len(), 1);
    let again = store.lease(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(
        again.iter().map(|o| o.delivery.id).collect::<Vec<_>>(),
        [all[0].id]
    );
}

async fn a_released_delivery_is_due_at_once(store: impl Store) {
    let (_, all) = queued(&store, "ann", 1).await;
    assert_eq!(
        store
            .lease(10, Duration::from_secs(600))
            .await
            .unwrap()
            .len(),
        1
    );
    store.release(&[all[0].id]).await.unwrap();
    assert_eq!(
        store
            .lease(10, Duration::from_secs(600))
            .await
            .unwrap()
            .len(),
        1
    );
}

/// What a lease gives back is the delivery as it was queued, with its hook's
/// secret and headers, whatever characters they hold.
async fn a_leased_delivery_comes_back_whole_with_its_hooks_headers(store: impl Store) {
    let mut h = hook("ann \"the\" owner ✓", "book.added");
    h.headers = [
        ("x-quote".to_owned(), "say \"hi\", \\ then ✓".to_owned()),
        ("x-plain".to_owned(), "1".to_owned()),
    ]
    .into();
    store.insert_hook(&h, usize::MAX).await.unwrap();
    let mut queued = Delivery::new(&h, b"\x00\xffnot json \"at all\"".to_vec());
    queued.test = true;
    queued.target = "https://example.com/in?q=\"a b\"&é=1".into();
    // The store keeps milliseconds.
    queued.created_at =
        OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_000_000).unwrap();
    store.enqueue(vec![queued.clone()]).await.unwrap();

    let leased = store.lease(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].delivery, queued);
    assert_eq!(leased[0].secrets, [h.secret.clone()]);
    assert_eq!(leased[0].headers, h.headers);
}

async fn a_lease_takes_at_most_its_limit(store: impl Store) {
    queued(&store, "ann", 5).await;
    assert_eq!(
        store.lease(3, Duration::from_secs(60)).await.unwrap().len(),
        3
    );
    assert_eq!(
        store.lease(3, Duration::from_secs(60)).await.unwrap().len(),
        2
    );
}

async fn a_retry_is_due_when_recorded_and_attempts_are_logged_newest_first(store: impl Store) {
    let (_, all) = queued(&store, "ann", 1).await;
    let d = &all[0];
    store.lease(1, Duration::from_secs(60)).await.unwrap();
    let later = OffsetDateTime::now_utc() + Duration::from_secs(3600);
    store
        .record(
            &[recorded(d, AttemptResult::Timeout, Next::RetryAt(later))],
            &never(),
        )
        .await
        .unwrap();
    assert!(
        store
            .lease(10, Duration::from_secs(60))
            .await
            .unwrap()
            .is_empty(),
        "not due before its time"
    );
    let pending = store.get_delivery("ann", d.id).await.unwrap().unwrap();
    assert_eq!(
        (pending.state, pending.attempts),
        (DeliveryState::Pending, 1)
    );

    let now = OffsetDateTime::now_utc();
    store
        .record(
            &[recorded(
                d,
                AttemptResult::Connect("refused".into()),
                Next::RetryAt(now),
            )],
            &never(),
        )
        .await
        .unwrap();
    let leased = store.lease(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].delivery.attempts, 2);

    let results: Vec<_> = store
        .list_attempts("ann", &[d.id])
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.result)
        .collect();
    assert_eq!(
        results,
        [
            AttemptResult::Connect("refused".into()),
            AttemptResult::Timeout
        ]
    );
    let logged = &store.list_attempts("ann", &[d.id]).await.unwrap()[0];
    assert_eq!(
        (logged.duration_ms, logged.response_body.as_deref()),
        (12, Some("busy"))
    );
    assert_eq!(store.list_attempts("bob", &[d.id]).await.unwrap(), []);
}

async fn a_gone_hook_is_deleted_with_its_queue(store: impl Store) {
    let (h, all) = queued(&store, "ann", 2).await;
    store.lease(1, Duration::from_secs(60)).await.unwrap();
    let changes = store
        .record(
            &[recorded(
                &all[0],
                AttemptResult::Status(410),
                Next::HookGone,
            )],
            &never(),
        )
        .await
        .unwrap();
    assert_eq!(changes, [HookChange::Deleted(h.id)]);
    assert_eq!(store.get_hook("ann", h.id).await.unwrap(), None);
    assert_eq!(store.get_delivery("ann", all[1].id).await.unwrap(), None);
    assert!(store.lease(10, Duration::ZERO).await.unwrap().is_empty());
}

async fn a_hook_failing_too_long_is_disabled_and_success_resets_the_clock(store: impl Store) {
    let (h, all) = queued(&store, "ann", 4).await;
    store.lease(10, Duration::from_secs(60)).await.unwrap();
    // Failing since now does not disable yet under a 5-day rule...
    let five_days = disable_after(Duration::from_secs(5 * 86_400));
    let failing = recorded(&all[0], AttemptResult::Status(500), Next::Failed);
    assert_eq!(store.record(&[failing], &five_days).await.unwrap(), []);
    // ...a success ends the streak, so a later cutoff finds no streak old enough...
    store
        .record(
            &[recorded(
                &all[1],
                AttemptResult::Status(200),
                Next::Delivered,
            )],
            &five_days,
        )
        .await
        .unwrap();
    // (time passes, so that the first streak, had it gone on, would be old enough)
    tokio::time::sleep(Duration::from_millis(30)).await;
    let ten_ms = disable_after(Duration::from_millis(10));
    let failing = recorded(&all[2], AttemptResult::Status(500), Next::Failed);
    assert_eq!(store.record(&[failing], &ten_ms).await.unwrap(), []);
    // ...and a streak that started before the cutoff disables the hook.
    let later = disable_after(Duration::ZERO);
    let failing = recorded(
        &all[3],
        AttemptResult::Timeout,
        Next::RetryAt(OffsetDateTime::now_utc()),
    );
    assert_eq!(
        store.record(&[failing], &later).await.unwrap(),
        [HookChange::Disabled(h.id)]
    );

    let disabled = store.get_hook("ann", h.id).await.unwrap().unwrap();
    assert!(!disabled.active);
    assert_eq!(
        disabled.disabled_reason.as_deref(),
        Some("every delivery failed for 0 s")
    );
    // Still fired to, to hold its events; its queue is held, not attempted.
    assert_eq!(
        store.list_fired_hooks().await.unwrap(),
        std::slice::from_ref(&disabled)
    );
    assert!(
        store.lease(10, Duration::ZERO).await.unwrap().is_empty(),
        "its queue is held"
    );
    let held = store.get_delivery("ann", all[3].id).await.unwrap().unwrap();
    assert_eq!(held.state, DeliveryState::Held);
}

/// A hook that took one delivery and failed another in the same batch is judged by
/// its failure: its streak goes on.
async fn a_batch_with_a_success_and_a_failure_keeps_the_streak(store: impl Store) {
    let (h, all) = queued(&store, "ann", 3).await;
    store.lease(10, Duration::from_secs(60)).await.unwrap();
    let five_days = disable_after(Duration::from_secs(5 * 86_400));
    let failing = recorded(&all[0], AttemptResult::Status(500), Next::Failed);
    assert_eq!(store.record(&[failing], &five_days).await.unwrap(), []);
    // (time passes, so that the streak is old enough for the rule below)
    tokio::time::sleep(Duration::from_millis(30)).await;
    let ten_ms = disable_after(Duration::from_millis(10));
    let mixed = [
        recorded(&all[1], AttemptResult::Status(200), Next::Delivered),
        recorded(&all[2], AttemptResult::Status(503), Next::Failed),
    ];
    assert_eq!(
        store.record(&mixed, &ten_ms).await.unwrap(),
        [HookChange::Disabled(h.id)]
    );
    let delivered = store.get_delivery("ann", all[1].id).await.unwrap().unwrap();
    assert_eq!(
        (delivered.state, delivered.attempts),
        (DeliveryState::Delivered, 1)
    );
}

async fn a_rotated_secret_signs_alongside_the_new_one_until_its_grace_ends(store: impl Store) {
    let (h, _) = queued(&store, "ann", 1).await;
    let new_secret = "whsec_bmV3LW5ldy1uZXctbmV3LW5ldy1uZXctbmV3LW5ldw==";
    let grace = OffsetDateTime::now_utc() + Duration::from_secs(3600);
    let rotated = store
        .rotate_secret("ann", h.id, new_secret, grace)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.secret, new_secret);
    let leased = store.lease(1, Duration::ZERO).await.unwrap();
    assert_eq!(leased[0].secrets, [new_secret.to_owned(), h.secret.clone()]);

    let newest = "whsec_bmV3ZXN0LW5ld2VzdC1uZXdlc3QtbmV3ZXN0LW5ld2VzdA==";
    let over = OffsetDateTime::now_utc() - Duration::from_secs(1);
    store
        .rotate_secret("ann", h.id, newest, over)
        .await
        .unwrap()
        .unwrap();
    let leased = store.lease(1, Duration::ZERO).await.unwrap();
    assert_eq!(leased[0].secrets, [newest.to_owned()]);
    assert_eq!(
        store
            .rotate_secret("bob", h.id, newest, grace)
            .await
            .unwrap(),
        None
    );
}

async fn a_failed_delivery_can_be_redelivered_by_its_owner(store: impl Store) {
    let (_, all) = queued(&store, "ann", 1).await;
    let d = &all[0];
    store.lease(1, Duration::from_secs(60)).await.unwrap();
    store
        .record(
            &[recorded(d, AttemptResult::Status(500), Next::Failed)],
            &never(),
        )
        .await
        .unwrap();
    assert!(!store.redeliver("bob", d.id).await.unwrap());
    assert!(store.redeliver("ann", d.id).await.unwrap());
    assert!(
        !store.redeliver("ann", d.id).await.unwrap(),
        "already pending"
    );
    assert_eq!(
        store
            .lease(10, Duration::from_secs(60))
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn deliveries_page_newest_first_and_stay_with_their_owner(store: impl Store) {
    let (h, all) = queued(&store, "ann", 5).await;
    let first = store
        .list_deliveries("ann", &DeliveryFilter::of_hook(h.id), None, 2)
        .await
        .unwrap();
    assert_eq!(
        first.iter().map(|d| d.id).collect::<Vec<_>>(),
        [all[4].id, all[3].id]
    );
    let next = store
        .list_deliveries("ann", &DeliveryFilter::of_hook(h.id), Some(all[3].id), 10)
        .await
        .unwrap();
    assert_eq!(
        next.iter().map(|d| d.id).collect::<Vec<_>>(),
        [all[2].id, all[1].id, all[0].id]
    );
    assert_eq!(
        store
            .list_deliveries("bob", &DeliveryFilter::of_hook(h.id), None, 10)
            .await
            .unwrap(),
        []
    );
    assert_eq!(store.get_delivery("bob", all[0].id).await.unwrap(), None);
}

async fn deleting_a_hook_drops_its_queued_deliveries(store: impl Store) {
    let (h, all) = queued(&store, "ann", 1).await;
    assert!(store.delete_hook("ann", h.id).await.unwrap());
    assert_eq!(store.get_delivery("ann", all[0].id).await.unwrap(), None);
    assert!(
        store
            .lease(10, Duration::from_secs(60))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn more_deliveries_than_one_insert_holds_are_all_queued(store: impl Store) {
    let (_, all) = queued(&store, "ann", 2500).await;
    let mut leased = 0;
    loop {
        let batch = store.lease(1000, Duration::from_secs(60)).await.unwrap();
        if batch.is_empty() {
            break;
        }
        leased += batch.len();
    }
    assert_eq!(leased, all.len());
}

/// Enqueues made at once are committed together on the SQL stores (group commit);
/// each still lands whole, and one that fails (with a delivery queued already)
/// fails alone, whatever it was committed with.
async fn concurrent_enqueues_land_whole_and_fail_alone(store: impl Store) {
    let store = std::sync::Arc::new(store);
    let h = hook("ann", "book.added");
    store.insert_hook(&h, usize::MAX).await.unwrap();
    let queued_before = Delivery::new(&h, b"{}".to_vec());
    store.enqueue(vec![queued_before.clone()]).await.unwrap();
    let mut calls: Vec<Vec<Delivery>> = (0..32)
        .map(|call| {
            (0..5)
                .map(|n| Delivery::new(&h, format!("{{\"call\":{call},\"n\":{n}}}").into_bytes()))
                .collect()
        })
        .collect();
    calls[7].push(queued_before.clone());
    let tasks: Vec<_> = calls
        .iter()
        .cloned()
        .map(|call| {
            let store = std::sync::Arc::clone(&store);
            tokio::spawn(async move { store.enqueue(call).await })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let result = task.await.unwrap();
        assert_eq!(result.is_err(), i == 7, "call {i}: {result:?}");
    }

    let mut leased = Vec::new();
    loop {
        let batch = store.lease(100, Duration::from_secs(60)).await.unwrap();
        if batch.is_empty() {
            break;
        }
        leased.extend(batch.into_iter().map(|o| o.delivery.id));
    }
    leased.sort();
    let mut expected: Vec<_> = calls
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 7)
        .flat_map(|(_, call)| call.iter().map(|d| d.id))
        .chain([queued_before.id])
        .collect();
    expected.sort();
    assert_eq!(leased, expected);
}

async fn hooks_page_oldest_first_after_a_cursor(store: impl Store) {
    let mine: Vec<Hook> = (0..5).map(|_| hook("ann", "book.added")).collect();
    for h in &mine {
        store.insert_hook(h, usize::MAX).await.unwrap();
        store
            .insert_hook(&hook("bob", "book.added"), usize::MAX)
            .await
            .unwrap();
    }
    let first = store.list_hooks("ann", None, 2).await.unwrap();
    assert_eq!(first, mine[..2]);
    let next = store.list_hooks("ann", Some(first[1].id), 2).await.unwrap();
    assert_eq!(next, mine[2..4]);
    let last = store.list_hooks("ann", Some(next[1].id), 2).await.unwrap();
    assert_eq!(last, mine[4..]);
    assert_eq!(
        store.list_hooks("ann", Some(mine[4].id), 2).await.unwrap(),
        []
    );
}

async fn attempts_of_several_deliveries_are_read_at_once_and_stay_with_their_owner(
    store: impl Store,
) {
    let (_, all) = queued(&store, "ann", 3).await;
    let leased = store.lease(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(leased.len(), 3);
    let outcomes: Vec<Recorded> = all
        .iter()
        .map(|d| recorded(d, AttemptResult::Status(500), Next::Failed))
        .collect();
    store.record(&outcomes, &never()).await.unwrap();

    let ids: Vec<Uuid> = all.iter().map(|d| d.id).collect();
    let mut logged: Vec<Uuid> = store
        .list_attempts("ann", &ids[..2])
        .await
        .unwrap()
        .iter()
        .map(|a| a.delivery_id)
        .collect();
    logged.sort();
    assert_eq!(logged, ids[..2]);
    assert_eq!(store.list_attempts("bob", &ids).await.unwrap(), []);
    assert_eq!(store.list_attempts("ann", &[]).await.unwrap(), []);
}

async fn an_update_changes_what_it_names_and_stays_with_its_owner(store: impl Store) {
    let h = hook("ann", "book.added");
    store.insert_hook(&h, usize::MAX).await.unwrap();
    let moved = HookPatch::new()
        .target("https://example.com/moved")
        .headers([("x-tenant".to_owned(), "t9".to_owned())].into());
    assert_eq!(store.update_hook("bob", h.id, &moved).await.unwrap(), None);
    let updated = store
        .update_hook("ann", h.id, &moved)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.target, "https://example.com/moved");
    assert_eq!(updated.headers["x-tenant"], "t9");
    assert_eq!(
        (updated.metadata.clone(), updated.secret.clone()),
        (h.metadata.clone(), h.secret.clone())
    );
    assert_eq!(
        store.get_hook("ann", h.id).await.unwrap(),
        Some(updated.clone())
    );
    let nulled = store
        .update_hook(
            "ann",
            h.id,
            &HookPatch::new().metadata(serde_json::Value::Null),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(nulled.metadata, serde_json::Value::Null);
    assert_eq!(nulled.target, updated.target);
}

async fn pausing_holds_the_queue_and_resuming_releases_it_oldest_first(store: impl Store) {
    let (h, all) = queued(&store, "ann", 3).await;
    let paused = store
        .update_hook("ann", h.id, &HookPatch::new().active(false))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(paused.state(), HookState::Paused);
    assert_eq!(store.list_fired_hooks().await.unwrap(), []);
    assert!(
        store
            .lease(10, Duration::from_secs(60))
            .await
            .unwrap()
            .is_empty()
    );
    for d in &all {
        let held = store.get_delivery("ann", d.id).await.unwrap().unwrap();
        assert_eq!(held.state, DeliveryState::Held);
    }
    // Fired after the resume, a millisecond later at least (the stores keep
    // milliseconds): behind the ones held.
    let resumed = store
        .update_hook("ann", h.id, &HookPatch::new().active(true))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resumed.state(), HookState::Active);
    tokio::time::sleep(Duration::from_millis(2)).await;
    let later = Delivery::new(&resumed, b"{}".to_vec());
    store.enqueue(vec![later.clone()]).await.unwrap();
    let mut leased = leased_ids(&store).await;
    assert_eq!(leased.pop(), Some(later.id));
    // The three were fired in one millisecond, which orders them no further.
    leased.sort();
    assert_eq!(leased, all.iter().map(|d| d.id).collect::<Vec<_>>());
}

async fn enabling_a_disabled_hook_clears_it_and_replays_or_discards_what_it_held(
    store: impl Store,
) {
    for replay in [true, false] {
        let (h, all) = queued(&store, "ann", 2).await;
        store.lease(10, Duration::from_secs(60)).await.unwrap();
        let failing = recorded(&all[0], AttemptResult::Status(500), Next::Failed);
        let changes = store
            .record(&[failing], &disable_after(Duration::ZERO))
            .await
            .unwrap();
        assert_eq!(changes, [HookChange::Disabled(h.id)]);
        // all[1] was leased but not attempted: its lease runs out while disabled.
        store.release(&[all[1].id]).await.unwrap();
        let disabled = store.get_hook("ann", h.id).await.unwrap().unwrap();
        assert_eq!(disabled.state(), HookState::Disabled);
        // (time passes: a millisecond after `all`, and its failing streak older
        // than the rule below)
        tokio::time::sleep(Duration::from_millis(30)).await;
        let fired_meanwhile = Delivery::new(&disabled, b"{}".to_vec());
        assert_eq!(fired_meanwhile.state, DeliveryState::Held);
        store.enqueue(vec![fired_meanwhile.clone()]).await.unwrap();
        assert!(
            store
                .lease(10, Duration::from_secs(60))
                .await
                .unwrap()
                .is_empty()
        );

        let patch = HookPatch::new().active(true).replay(replay);
        let enabled = store
            .update_hook("ann", h.id, &patch)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (enabled.state(), enabled.disabled_reason),
            (HookState::Active, None)
        );
        let leased = leased_ids(&store).await;
        let state = store
            .get_delivery("ann", fired_meanwhile.id)
            .await
            .unwrap()
            .unwrap()
            .state;
        if replay {
            assert_eq!(leased, [all[1].id, fired_meanwhile.id]);
            assert_eq!(state, DeliveryState::Pending);
        } else {
            assert_eq!(leased, Vec::<Uuid>::new());
            assert_eq!(state, DeliveryState::Discarded);
        }
        // Its failing streak was cleared: one more failure does not disable it
        // under a rule of 20 ms, which the old streak would have met.
        if replay {
            let failing = recorded(&fired_meanwhile, AttemptResult::Status(500), Next::Failed);
            let rule = disable_after(Duration::from_millis(20));
            assert_eq!(store.record(&[failing], &rule).await.unwrap(), []);
        }
        store.delete_hook("ann", h.id).await.unwrap();
    }
}

async fn deliveries_are_listed_across_hooks_by_state_and_time(store: impl Store) {
    let (a, of_a) = queued(&store, "ann", 2).await;
    let (_, of_b) = queued(&store, "ann", 1).await;
    let (_, theirs) = queued(&store, "bob", 1).await;
    store.lease(10, Duration::from_secs(60)).await.unwrap();
    let failing = recorded(&of_a[0], AttemptResult::Status(500), Next::Failed);
    store.record(&[failing], &never()).await.unwrap();
    let ids = |list: Vec<Delivery>| list.into_iter().map(|d| d.id).collect::<Vec<_>>();

    let all = store
        .list_deliveries("ann", &DeliveryFilter::new(), None, 10)
        .await
        .unwrap();
    assert_eq!(ids(all), [of_b[0].id, of_a[1].id, of_a[0].id]);
    let failed = DeliveryFilter::new().state(DeliveryState::Failed);
    assert_eq!(
        ids(store
            .list_deliveries("ann", &failed, None, 10)
            .await
            .unwrap()),
        [of_a[0].id]
    );
    let pending_of_a = DeliveryFilter::of_hook(a.id).state(DeliveryState::Pending);
    assert_eq!(
        ids(store
            .list_deliveries("ann", &pending_of_a, None, 10)
            .await
            .unwrap()),
        [of_a[1].id]
    );
    let later = DeliveryFilter::new().since(OffsetDateTime::now_utc() + time::Duration::hours(1));
    assert_eq!(
        store
            .list_deliveries("ann", &later, None, 10)
            .await
            .unwrap(),
        []
    );
    let page = store
        .list_deliveries("ann", &DeliveryFilter::new(), Some(of_a[1].id), 10)
        .await
        .unwrap();
    assert_eq!(ids(page), [of_a[0].id]);
    assert_eq!(
        ids(store
            .list_deliveries("bob", &DeliveryFilter::new(), None, 10)
            .await
            .unwrap()),
        [theirs[0].id]
    );
}

async fn failed_deliveries_of_a_window_are_recovered(store: impl Store) {
    let (h, all) = queued(&store, "ann", 3).await;
    store.lease(10, Duration::from_secs(60)).await.unwrap();
    let outcomes: Vec<Recorded> = [
        recorded(&all[0], AttemptResult::Status(500), Next::Failed),
        recorded(&all[1], AttemptResult::Timeout, Next::Failed),
        recorded(&all[2], AttemptResult::Status(200), Next::Delivered),
    ]
    .into();
    store.record(&outcomes, &never()).await.unwrap();
    let ms = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
    let now = OffsetDateTime::now_utc();
    let hour_ago = ms(now - time::Duration::hours(1));
    assert_eq!(
        store
            .recover("bob", h.id, hour_ago, ms(now) + 1)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .recover("ann", h.id, hour_ago, hour_ago + 1)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .recover("ann", h.id, hour_ago, ms(now) + 1)
            .await
            .unwrap(),
        2
    );
    let mut leased = leased_ids(&store).await;
    leased.sort();
    assert_eq!(leased, [all[0].id, all[1].id]);
}

async fn an_idempotency_key_stores_one_hook_until_it_expires(store: impl Store) {
    let first = hook("ann", "book.added");
    let long_ago = 0;
    let claim = store
        .insert_hook_once(&first, usize::MAX, "k", "req-1", long_ago)
        .await
        .unwrap();
    assert_eq!(claim, Claim::Inserted);
    let second = hook("ann", "book.added");
    let claim = store
        .insert_hook_once(&second, usize::MAX, "k", "req-2", long_ago)
        .await
        .unwrap();
    assert_eq!(
        claim,
        Claim::Taken {
            request: "req-1".into(),
            hook_id: first.id
        }
    );
    assert_eq!(store.get_hook("ann", second.id).await.unwrap(), None);
    // Another owner's key of the same name is another key.
    let theirs = hook("bob", "book.added");
    let claim = store
        .insert_hook_once(&theirs, usize::MAX, "k", "req-1", long_ago)
        .await
        .unwrap();
    assert_eq!(claim, Claim::Inserted);
    // Used before `since`: forgotten, and taken anew.
    let later = i64::MAX;
    let claim = store
        .insert_hook_once(&second, usize::MAX, "k", "req-2", later)
        .await
        .unwrap();
    assert_eq!(claim, Claim::Inserted);
    assert_eq!(store.list_hooks("ann", None, 10).await.unwrap().len(), 2);
}

async fn an_owner_has_at_most_its_quota_of_hooks(store: impl Store) {
    store
        .insert_hook(&hook("ann", "book.added"), 2)
        .await
        .unwrap();
    store
        .insert_hook(&hook("ann", "book.added"), 2)
        .await
        .unwrap();
    let third = hook("ann", "book.added");
    assert!(matches!(
        store.insert_hook(&third, 2).await,
        Err(rest_hooks::Error::QuotaExceeded { limit: 2 })
    ));
    let claim = store.insert_hook_once(&third, 2, "k", "req", 0).await;
    assert!(matches!(
        claim,
        Err(rest_hooks::Error::QuotaExceeded { .. })
    ));
    assert_eq!(store.get_hook("ann", third.id).await.unwrap(), None);
    // The key was not taken by the refused request.
    let ann_hooks = store.list_hooks("ann", None, 10).await.unwrap();
    store.delete_hook("ann", ann_hooks[0].id).await.unwrap();
    let claim = store
        .insert_hook_once(&third, 2, "k", "req", 0)
        .await
        .unwrap();
    assert_eq!(claim, Claim::Inserted);
    // Quotas are per owner.
    store
        .insert_hook(&hook("bob", "book.added"), 2)
        .await
        .unwrap();
}

async fn the_queue_depth_counts_each_state(store: impl Store) {
    let now = || (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    assert_eq!(
        store.queue_depth(now()).await.unwrap(),
        QueueDepth::default()
    );
    let (h, all) = queued(&store, "ann", 4).await;
    let depth = store.queue_depth(now()).await.unwrap();
    assert_eq!(
        (depth.due, depth.leased, depth.held, depth.failed),
        (4, 0, 0, 0)
    );
    assert!(depth.oldest_due_at.is_some_and(|at| at <= now()));
    let leased = store.lease(2, Duration::from_secs(60)).await.unwrap();
    let failing = recorded(
        &leased[0].delivery,
        AttemptResult::Status(500),
        Next::Failed,
    );
    store.record(&[failing], &never()).await.unwrap();
    let depth = store.queue_depth(now()).await.unwrap();
    assert_eq!(
        (depth.due, depth.leased, depth.held, depth.failed),
        (2, 1, 0, 1)
    );
    store
        .update_hook("ann", h.id, &HookPatch::new().active(false))
        .await
        .unwrap();
    let depth = store.queue_depth(now()).await.unwrap();
    assert_eq!(
        (depth.due, depth.leased, depth.held, depth.failed),
        (0, 0, 3, 1)
    );
    assert_eq!(depth.oldest_due_at, None);
    assert_eq!(all.len(), 4);
}

/// A delivery to `h` as if fired `ago` before now: its UUIDv7 id and its time
/// say so.
fn fired_ago(h: &Hook, ago: Duration) -> Delivery {
    let at = OffsetDateTime::now_utc() - ago;
    let millis = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap();
    let mut random = [0; 10];
    random.copy_from_slice(&Uuid::now_v7().as_bytes()[6..]);
    Delivery {
        id: uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid(),
        created_at: at,
        ..Delivery::new(h, b"{}".to_vec())
    }
}

async fn finished_deliveries_older_than_the_retention_are_purged_in_batches(store: impl Store) {
    let hour = Duration::from_secs(3600);
    let (h, paused) = (hook("ann", "book.added"), hook("ann", "book.added"));
    store.insert_hook(&h, usize::MAX).await.unwrap();
    store.insert_hook(&paused, usize::MAX).await.unwrap();
    let delivered = fired_ago(&h, 5 * hour);
    let failed = fired_ago(&h, 4 * hour);
    let held = fired_ago(&paused, 3 * hour);
    let pending = fired_ago(&h, 2 * hour);
    let recent = Delivery::new(&h, b"{}".to_vec());
    let all = [&delivered, &failed, &held, &pending, &recent];
    store
        .enqueue(all.iter().map(|&d| d.clone()).collect())
        .await
        .unwrap();
    store
        .update_hook("ann", paused.id, &HookPatch::new().active(false))
        .await
        .unwrap();
    let leased = store.lease(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(leased.len(), 4);
    let outcomes = [
        recorded(&delivered, AttemptResult::Status(200), Next::Delivered),
        recorded(&failed, AttemptResult::Status(500), Next::Failed),
        recorded(&recent, AttemptResult::Status(200), Next::Delivered),
    ];
    store.record(&outcomes, &never()).await.unwrap();
    store.release(&[pending.id]).await.unwrap();

    // Kept for an hour: two batches of two take the three finished or held ones
    // fired before it (the pending one is skipped), and a third finds nothing.
    let cutoff = (OffsetDateTime::now_utc() - hour).unix_timestamp_nanos() / 1_000_000;
    let cutoff = i64::try_from(cutoff).unwrap();
    let first = store.purge_deliveries(None, cutoff, 2).await.unwrap();
    assert_eq!((first.deleted, first.last), (2, Some(failed.id)));
    let second = store.purge_deliveries(first.last, cutoff, 2).await.unwrap();
    assert_eq!((second.deleted, second.last), (1, Some(held.id)));
    let third = store
        .purge_deliveries(second.last, cutoff, 2)
        .await
        .unwrap();
    assert_eq!(third, rest_hooks::store::Purged::default());

    let mut left = Vec::new();
    for d in all {
        if store.get_delivery("ann", d.id).await.unwrap().is_some() {
            left.push(d.id);
        }
    }
    assert_eq!(left, [pending.id, recent.id]);
    let ids: Vec<Uuid> = all.iter().map(|d| d.id).collect();
    let attempts = store.list_attempts("ann", &ids).await.unwrap();
    let attempted: Vec<Uuid> = attempts.iter().map(|a| a.delivery_id).collect();
    assert_eq!(attempted, [recent.id]);
}

async fn idempotency_keys_are_purged_once_older_than_their_window(store: impl Store) {
    let first = hook("ann", "book.added");
    store
        .insert_hook_once(&first, usize::MAX, "k", "req", 0)
        .await
        .unwrap();
    let now =
        || i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap();
    assert_eq!(
        store
            .purge_idempotency_keys(now() - 60_000, 10)
            .await
            .unwrap(),
        0
    );
    // The key still answers with the first request's hook.
    let again = hook("ann", "book.added");
    let claim = store
        .insert_hook_once(&again, usize::MAX, "k", "req", 0)
        .await
        .unwrap();
    assert!(matches!(claim, Claim::Taken { hook_id, .. } if hook_id == first.id));
    assert_eq!(
        store.purge_idempotency_keys(now() + 1, 10).await.unwrap(),
        1
    );
    // Forgotten: the same key makes a new hook.
    let claim = store
        .insert_hook_once(&again, usize::MAX, "k", "req", 0)
        .await
        .unwrap();
    assert_eq!(claim, Claim::Inserted);
}

store_tests!(
    finished_deliveries_older_than_the_retention_are_purged_in_batches,
    idempotency_keys_are_purged_once_older_than_their_window,
    the_queue_depth_counts_each_state,
    an_owner_has_at_most_its_quota_of_hooks,
    an_idempotency_key_stores_one_hook_until_it_expires,
    deliveries_are_listed_across_hooks_by_state_and_time,
    failed_deliveries_of_a_window_are_recovered,
    an_update_changes_what_it_names_and_stays_with_its_owner,
    pausing_holds_the_queue_and_resuming_releases_it_oldest_first,
    enabling_a_disabled_hook_clears_it_and_replays_or_discards_what_it_held,
    hooks_page_oldest_first_after_a_cursor,
    attempts_of_several_deliveries_are_read_at_once_and_stay_with_their_owner,
    concurrent_enqueues_land_whole_and_fail_alone,
    more_deliveries_than_one_insert_holds_are_all_queued,
    hooks_round_trip_and_are_scoped_to_their_owner,
    inactive_hooks_are_not_indexed,
    a_hook_is_found_by_id_whoever_owns_it_until_deleted,
    a_leased_delivery_is_not_leased_again_until_recorded_or_expired,
    deliveries_of_a_disabled_or_deleted_hook_are_not_sent,
    an_expired_lease_gives_the_delivery_back,
    a_released_delivery_is_due_at_once,
    a_lease_takes_at_most_its_limit,
    a_leased_delivery_comes_back_whole_with_its_hooks_headers,
    a_retry_is_due_when_recorded_and_attempts_are_logged_newest_first,
    a_gone_hook_is_deleted_with_its_queue,
    a_hook_failing_too_long_is_disabled_and_success_resets_the_clock,
    a_batch_with_a_success_and_a_failure_keeps_the_streak,
    a_rotated_secret_signs_alongside_the_new_one_until_its_grace_ends,
    a_failed_delivery_can_be_redelivered_by_its_owner,
    deliveries_page_newest_first_and_stay_with_their_owner,
    deleting_a_hook_drops_its_queued_deliveries,
);

/// The SQLite store's writer leaves checkpoints to a connection of their own: the
/// log is copied back into the database file long before the writer's own
/// threshold (4,000 pages), which it would otherwise wait for.
#[tokio::test]
async fn a_sqlite_store_checkpoints_beside_its_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hooks.db");
    let store = rest_hooks::store::SqliteStore::open(&path).await.unwrap();
    let h = hook("ann", "book.added");
    store.insert_hook(&h, usize::MAX).await.unwrap();
    // About 1 MB of payloads: some 300 pages of log, far under the threshold.
    let payload = vec![b'x'; 1000];
    let all: Vec<_> = (0..1000)
        .map(|_| Delivery::new(&h, payload.clone()))
        .collect();
    store.enqueue(all).await.unwrap();
    let file_len = || std::fs::metadata(&path).map_or(0, |m| m.len());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while file_len() < 1_000_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the deliveries are still only in the log: the database file has {} bytes",
            file_len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A new SQLite file gives the pages that the purge frees back (incremental
/// auto-vacuum), so that it shrinks as far as it was purged.
#[tokio::test]
async fn a_sqlite_store_gives_purged_pages_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = rest_hooks::store::SqliteStore::open(dir.path().join("hooks.db"))
        .await
        .unwrap();
    let pragma = |name: &'static str| {
        let pool = store.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(name)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(pragma("PRAGMA auto_vacuum").await, 2, "incremental");
    let h = hook("ann", "book.added");
    store.insert_hook(&h, usize::MAX).await.unwrap();
    let old = Duration::from_secs(7200);
    let all: Vec<Delivery> = (0..3000)
        .map(|_| Delivery {
            payload: vec![b'x'; 1000],
            ..fired_ago(&h, old)
        })
        .collect();
    store.enqueue(all).await.unwrap();
    loop {
        let leased = store.lease(500, Duration::from_secs(60)).await.unwrap();
        if leased.is_empty() {
            break;
        }
        let outcomes: Vec<Recorded> = leased
            .iter()
            .map(|o| recorded(&o.delivery, AttemptResult::Status(200), Next::Delivered))
            .collect();
        store.record(&outcomes, &never()).await.unwrap();
    }
    let full = pragma("PRAGMA page_count").await;

    let cutoff =
        i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap();
    let mut after = None;
    let mut deleted = 0;
    loop {
        let batch = store.purge_deliveries(after, cutoff, 1000).await.unwrap();
        deleted += batch.deleted;
        match batch.last {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    assert_eq!(deleted, 3000);
    let purged = pragma("PRAGMA page_count").await;
    assert!(
        purged * 4 < full,
        "{full} pages before the purge, {purged} after"
    );
}

/// On PostgreSQL one process purges at a time: while another holds the schema's
/// purge lock, a batch takes nothing.
#[tokio::test]
async fn a_pg_store_purges_in_one_process_at_a_time() {
    use sqlx::Connection;

    let Some(schema) = common::PgSchema::create().await else {
        return;
    };
    let store = rest_hooks::store::PgStore::connect_with(schema.options())
        .await
        .unwrap();
    let h = hook("ann", "book.added");
    store.insert_hook(&h, usize::MAX).await.unwrap();
    let old = fired_ago(&h, Duration::from_secs(7200));
    store.enqueue(vec![old.clone()]).await.unwrap();
    let leased = store.lease(10, Duration::from_secs(60)).await.unwrap();
    let outcome = recorded(
        &leased[0].delivery,
        AttemptResult::Status(200),
        Next::Delivered,
    );
    store.record(&[outcome], &never()).await.unwrap();
    let now = i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap();

    let mut other = sqlx::PgConnection::connect_with(&schema.options())
        .await
        .unwrap();
    let mut purging = other.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('rest_hooks_purge ' || current_schema()))")
        .execute(&mut *purging)
        .await
        .unwrap();
    let batch = store.purge_deliveries(None, now, 10).await.unwrap();
    assert_eq!(batch, rest_hooks::store::Purged::default());
    purging.rollback().await.unwrap();
    let batch = store.purge_deliveries(None, now, 10).await.unwrap();
    assert_eq!((batch.deleted, batch.last), (1, Some(old.id)));
}

mod migrations {
    use rest_hooks::store::{SqliteStore, Store};

    #[tokio::test]
    async fn a_sqlite_store_opens_twice_and_keeps_its_hooks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hooks.db");
        let h = super::hook("ann", "book.added");
        SqliteStore::open(&path)
            .await
            .unwrap()
            .insert_hook(&h, usize::MAX)
            .await
            .unwrap();
        let reopened = SqliteStore::open(&path).await.unwrap();
        assert_eq!(reopened.list_hooks("ann", None, 1000).await.unwrap(), [h]);
    }

    /// SQLite's leases are the process's: a store opened again (a process that
    /// restarted) leases at once what the last one held.
    #[tokio::test]
    async fn a_sqlite_store_opened_again_leases_what_the_last_one_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hooks.db");
        let h = super::hook("ann", "book.added");
        let delivery = rest_hooks::Delivery::new(&h, b"{}".to_vec());
        let first = SqliteStore::open(&path).await.unwrap();
        first.insert_hook(&h, usize::MAX).await.unwrap();
        first.enqueue(vec![delivery.clone()]).await.unwrap();
        assert_eq!(super::leased_ids(&first).await, [delivery.id]);
        assert!(super::leased_ids(&first).await.is_empty());
        drop(first);
        let reopened = SqliteStore::open(&path).await.unwrap();
        assert_eq!(super::leased_ids(&reopened).await, [delivery.id]);
    }

    #[tokio::test]
    async fn a_sqlite_store_of_an_older_version_is_upgraded() {
        use sqlx::migrate::{Migration, MigrationType, Migrator};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hooks.db");
        // A hook of version 1 of the schema, which had no custom headers.
        let h = rest_hooks::Hook {
            headers: Default::default(),
            ..super::hook("ann", "book.added")
        };
        // A store written by version 1 of the schema: hooks, and no delivery queue.
        {
            let url = format!("sqlite://{}?mode=rwc", path.display());
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            let v1 = include_str!("../rest-hooks/src/store/sqlite/migrations/0001_hooks.sql");
            let mut migrator = Migrator::with_migrations(vec![Migration::new(
                1,
                "hooks".into(),
                MigrationType::Simple,
                sqlx::SqlStr::from_static(v1),
                false,
            )]);
            migrator.dangerous_set_table_name("rest_hooks_migrations");
            migrator.run(&pool).await.unwrap();
            sqlx::query(
                "INSERT INTO rest_hooks_hooks (id, owner, event, target, secret, active, created_at, metadata)
                 VALUES (?, 'ann', 'book.added', 'https://example.com/in', ?, 1, 1700000000000, ?)",
            )
            .bind(h.id.to_string())
            .bind(&h.secret)
            .bind(h.metadata.to_string())
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }

        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(
            store.list_hooks("ann", None, 1000).await.unwrap(),
            std::slice::from_ref(&h)
        );
        let delivery = rest_hooks::Delivery::new(&h, b"{}".to_vec());
        store.enqueue(vec![delivery.clone()]).await.unwrap();
        assert_eq!(
            store
                .get_delivery("ann", delivery.id)
                .await
                .unwrap()
                .map(|d| d.id),
            Some(delivery.id)
        );
    }

    #[tokio::test]
    async fn a_pg_store_connects_twice_and_keeps_its_hooks() {
        let Some(schema) = crate::common::PgSchema::create().await else {
            return;
        };
        let h = super::hook("ann", "book.added");
        rest_hooks::store::PgStore::connect_with(schema.options())
            .await
            .unwrap()
            .insert_hook(&h, usize::MAX)
            .await
            .unwrap();
        let again = rest_hooks::store::PgStore::connect_with(schema.options())
            .await
            .unwrap();
        assert_eq!(again.list_hooks("ann", None, 1000).await.unwrap(), [h]);
    }
}
