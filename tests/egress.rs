//! Egress: a proxy set in the environment (`HTTP_PROXY`, common on company hosts
//! and in containers) is never used, so the SSRF guard judges the target's
//! address, not the proxy's. The environment is the process's, so the test runs
//! itself again as a child process with the proxy set.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::Receiver;
use rest_hooks::store::MemoryStore;
use rest_hooks::{HookModel, Hooks, NewHook};
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
}
