//! The store conformance suite: the same tests against `MemoryStore`, `SqliteStore`
//! and `PgStore`.

mod common;

use std::time::Duration;

use rest_hooks::{Delivery, DeliveryState, Hook, Settle, Store};
use serde_json::json;
use uuid::Uuid;

fn hook(owner: &str, event: &str) -> Hook {
    Hook {
        id: Uuid::now_v7(),
        owner: owner.into(),
        event: event.into(),
        target: "https://example.com/in".into(),
        secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0".into(),
        active: true,
        created_at: time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        metadata: json!({"plan": "pro", "tags": ["a", "b"]}),
    }
}

async fn hooks_round_trip_and_are_scoped_to_their_owner(store: impl Store) {
    let ann = hook("ann", "book.added");
    let ann2 = hook("ann", "book.removed");
    let bob = hook("bob", "book.added");
    for h in [&ann, &ann2, &bob] {
        store.insert_hook(h).await.unwrap();
    }

    assert_eq!(store.hook("ann", ann.id).await.unwrap(), Some(ann.clone()));
    assert_eq!(store.hook("bob", ann.id).await.unwrap(), None);
    assert_eq!(
        store.hooks("ann").await.unwrap(),
        [ann.clone(), ann2.clone()]
    );
    assert_eq!(
        store.hooks("bob").await.unwrap(),
        std::slice::from_ref(&bob)
    );
    assert_eq!(store.hooks("carl").await.unwrap(), []);

    assert!(!store.delete_hook("bob", ann.id).await.unwrap());
    assert_eq!(store.hook("ann", ann.id).await.unwrap(), Some(ann.clone()));
    assert!(store.delete_hook("ann", ann.id).await.unwrap());
    assert!(!store.delete_hook("ann", ann.id).await.unwrap());
    assert_eq!(store.hook("ann", ann.id).await.unwrap(), None);
    assert_eq!(store.active_hooks().await.unwrap(), [ann2, bob]);
}

async fn inactive_hooks_are_not_indexed(store: impl Store) {
    let mut off = hook("ann", "book.added");
    off.active = false;
    let on = hook("ann", "book.added");
    store.insert_hook(&off).await.unwrap();
    store.insert_hook(&on).await.unwrap();
    assert_eq!(store.active_hooks().await.unwrap(), [on]);
    assert_eq!(store.hooks("ann").await.unwrap().len(), 2);
}

async fn a_leased_delivery_is_not_leased_again_until_settled_or_expired(store: impl Store) {
    let h = hook("ann", "book.added");
    store.insert_hook(&h).await.unwrap();
    let first = Delivery::new(&h, br#"{"n":1}"#.to_vec());
    let second = Delivery::new(&h, br#"{"n":2}"#.to_vec());
    store
        .enqueue(&[first.clone(), second.clone()])
        .await
        .unwrap();

    let leased = store.lease(10, Duration::from_secs(60)).await.unwrap();
    let mut ids: Vec<_> = leased.iter().map(|d| d.id).collect();
    ids.sort();
    assert_eq!(ids, [first.id, second.id]);
    assert_eq!(
        leased.iter().find(|d| d.id == first.id).unwrap().payload,
        first.payload
    );
    assert!(
        store
            .lease(10, Duration::from_secs(60))
            .await
            .unwrap()
            .is_empty()
    );

    store.settle(first.id, Settle::Delivered).await.unwrap();
    let done = store.delivery(first.id).await.unwrap().unwrap();
    assert_eq!((done.state, done.attempts), (DeliveryState::Delivered, 1));
    store.settle(second.id, Settle::Failed).await.unwrap();
    assert_eq!(
        store.delivery(second.id).await.unwrap().unwrap().state,
        DeliveryState::Failed
    );
    assert!(store.lease(10, Duration::ZERO).await.unwrap().is_empty());
}

async fn an_expired_lease_gives_the_delivery_back(store: impl Store) {
    let h = hook("ann", "book.added");
    store.insert_hook(&h).await.unwrap();
    let d = Delivery::new(&h, b"{}".to_vec());
    store.enqueue(std::slice::from_ref(&d)).await.unwrap();

    // A zero-length lease is already over: the delivery is due again at once, as
    // after a worker that died holding it.
    assert_eq!(store.lease(10, Duration::ZERO).await.unwrap().len(), 1);
    let again = store.lease(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(again.iter().map(|d| d.id).collect::<Vec<_>>(), [d.id]);
}

async fn a_lease_takes_at_most_its_limit(store: impl Store) {
    let h = hook("ann", "book.added");
    store.insert_hook(&h).await.unwrap();
    let all: Vec<_> = (0..5)
        .map(|i| Delivery::new(&h, format!("{{\"n\":{i}}}").into_bytes()))
        .collect();
    store.enqueue(&all).await.unwrap();
    assert_eq!(
        store.lease(3, Duration::from_secs(60)).await.unwrap().len(),
        3
    );
    assert_eq!(
        store.lease(3, Duration::from_secs(60)).await.unwrap().len(),
        2
    );
}

async fn deleting_a_hook_drops_its_queued_deliveries(store: impl Store) {
    let h = hook("ann", "book.added");
    store.insert_hook(&h).await.unwrap();
    let d = Delivery::new(&h, b"{}".to_vec());
    store.enqueue(std::slice::from_ref(&d)).await.unwrap();
    assert!(store.delete_hook("ann", h.id).await.unwrap());
    assert_eq!(store.delivery(d.id).await.unwrap(), None);
    assert!(
        store
            .lease(10, Duration::from_secs(60))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn more_deliveries_than_one_insert_holds_are_all_queued(store: impl Store) {
    let h = hook("ann", "book.added");
    store.insert_hook(&h).await.unwrap();
    let all: Vec<_> = (0..2500).map(|i| Delivery::new(&h, format!("{{\"n\":{i}}}").into_bytes())).collect();
    store.enqueue(&all).await.unwrap();
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

store_tests!(
    more_deliveries_than_one_insert_holds_are_all_queued,
    hooks_round_trip_and_are_scoped_to_their_owner,
    inactive_hooks_are_not_indexed,
    a_leased_delivery_is_not_leased_again_until_settled_or_expired,
    an_expired_lease_gives_the_delivery_back,
    a_lease_takes_at_most_its_limit,
    deleting_a_hook_drops_its_queued_deliveries,
);

mod migrations {
    use rest_hooks::{SqliteStore, Store};

    #[tokio::test]
    async fn a_sqlite_store_opens_twice_and_keeps_its_hooks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hooks.db");
        let h = super::hook("ann", "book.added");
        SqliteStore::open(&path)
            .await
            .unwrap()
            .insert_hook(&h)
            .await
            .unwrap();
        let reopened = SqliteStore::open(&path).await.unwrap();
        assert_eq!(reopened.hooks("ann").await.unwrap(), [h]);
    }

    #[tokio::test]
    async fn a_sqlite_store_of_an_older_version_is_upgraded() {
        use sqlx::migrate::{Migration, MigrationType, Migrator};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hooks.db");
        let h = super::hook("ann", "book.added");
        // A store written by version 1 of the schema: hooks, and no delivery queue.
        {
            let url = format!("sqlite://{}?mode=rwc", path.display());
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            let v1 = include_str!("../rest-hooks/src/store/migrations/sqlite/0001_hooks.sql");
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
        assert_eq!(store.hooks("ann").await.unwrap(), std::slice::from_ref(&h));
        let delivery = rest_hooks::Delivery::new(&h, b"{}".to_vec());
        store
            .enqueue(std::slice::from_ref(&delivery))
            .await
            .unwrap();
        assert_eq!(
            store.delivery(delivery.id).await.unwrap().map(|d| d.id),
            Some(delivery.id)
        );
    }

    #[tokio::test]
    async fn a_pg_store_connects_twice_and_keeps_its_hooks() {
        let Some(schema) = crate::common::PgSchema::create().await else {
            return;
        };
        let h = super::hook("ann", "book.added");
        rest_hooks::PgStore::connect_with(schema.options())
            .await
            .unwrap()
            .insert_hook(&h)
            .await
            .unwrap();
        let again = rest_hooks::PgStore::connect_with(schema.options())
            .await
            .unwrap();
        assert_eq!(again.hooks("ann").await.unwrap(), [h]);
    }
}
