//! Egress: a proxy set in the environment (`HTTP_PROXY`, common on company hosts
//! and in containers) is never used, so the SSRF guard judges the target's
//! address, not the proxy's; an explicit egress proxy is, with the target still
//! checked before a request is handed to it. The environment is the process's,
//! so the test runs itself again as a child process with the proxy set.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::Receiver;
use rest_hooks::store::MemoryStore;
use rest_hooks::target_policy::TargetPolicy;
use rest_hooks::{AttemptResult, HookModel, Hooks, NewHook};
use tokio::io::AsyncReadExt;

/// An order, owned by the customer who placed it.
#[derive(serde::Serialize, HookModel)]
#[hook(app = "shop", owner = customer)]
pub struct Order {
    id: u64,
    customer: String,
}

rest_hooks::hook_events! {
    "order.placed" => shop.Order.created,
}

/// Set in the child: its delivery must reach the receiver directly.
const CHILD: &str = "REST_HOOKS_EGRESS_CHILD";

#[tokio::test]
async fn a_proxy_in_the_environment_is_not_used() {
    if std::env::var_os(CHILD).is_some() {
        return deliver_beside_the_proxy().await;
    }
    // A "proxy" that counts the connections made to it while the child runs.
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counting = tokio::spawn({
        let connections = Arc::clone(&connections);
        async move {
            while let Ok((mut socket, _)) = proxy.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                let mut buffer = [0u8; 1024];
                let _ = socket.read(&mut buffer).await;
            }
        }
    });
    let status = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "a_proxy_in_the_environment_is_not_used",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("HTTP_PROXY", &proxy_url)
        .env("http_proxy", &proxy_url)
        .env("HTTPS_PROXY", &proxy_url)
        .env("ALL_PROXY", &proxy_url)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .status()
        .await
        .unwrap();
    counting.abort();
    assert_eq!(connections.load(Ordering::SeqCst), 0, "the proxy was used");
    assert!(
        status.success(),
        "the child's delivery did not arrive directly"
    );
}

/// In the child, with the proxy in its environment: a delivery to an allowed
/// loopback receiver arrives, and is not sent through the proxy.
async fn deliver_beside_the_proxy() {
    let receiver = Receiver::start().await;
    let hooks = Hooks::builder(&EVENTS, MemoryStore::new())
        .target_policy(common::loopback_policy())
        .build()
        .await
        .unwrap();
    hooks
        .subscribe(NewHook::new("ann", "order.placed", receiver.target("/in")))
        .await
        .unwrap();
    let order = Order {
        id: 1,
        customer: "ann".into(),
    };
    assert_eq!(hooks.created(&order).await.unwrap(), 1);
    let received = receiver.next().await;
    assert_eq!(received.path, "/in");
    hooks.shutdown(Duration::from_secs(5)).await;
    through_an_explicit_proxy().await;
}

/// With `HooksBuilder::proxy`, deliveries go to that proxy, and a target whose
/// host resolves to a refused address is refused here, before the proxy.
async fn through_an_explicit_proxy() {
    let proxy = Receiver::start().await;
    let store = MemoryStore::new();
    // Subscribed under a policy that lets both targets in, as if a host name had
    // resolved elsewhere when they were.
    let subscribing = Hooks::builder(&EVENTS, store.clone())
        .target_policy(
            TargetPolicy::default()
                .allow_host("proxied.test")
                .allow_host("localhost"),
        )
        .concurrency(0)
        .build()
        .await
        .unwrap();
    for target in ["http://proxied.test/in", "http://localhost:9/secret"] {
        subscribing
            .subscribe(NewHook::new("bob", "order.placed", target))
            .await
            .unwrap();
    }
    let hooks = Hooks::builder(&EVENTS, store)
        .target_policy(TargetPolicy::default().allow_host("proxied.test"))
        .proxy(&proxy.url)
        .build()
        .await
        .unwrap();
    let mut observed = hooks.observe();
    let order = Order {
        id: 2,
        customer: "bob".into(),
    };
    assert_eq!(hooks.created(&order).await.unwrap(), 2);
    let mut results = Vec::new();
    for _ in 0..2 {
        let outcome = tokio::time::timeout(common::PATIENCE, observed.recv())
            .await
            .unwrap()
            .unwrap();
        results.push((outcome.delivery.target, outcome.attempt.result));
    }
    results.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        results[1],
        (
            "http://proxied.test/in".to_owned(),
            AttemptResult::Status(200)
        )
    );
    assert!(
        matches!(&results[0], (target, AttemptResult::NotAllowed(_)) if target == "http://localhost:9/secret"),
        "{results:?}"
    );
    // The proxy got the allowed request, for the target, and nothing else.
    let received = proxy.next().await;
    assert_eq!(received.body["data"]["id"], 2);
    assert_eq!(proxy.pending(), 0);
    hooks.shutdown(Duration::from_secs(5)).await;
}
