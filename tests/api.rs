//! The management API over real HTTP on loopback, driven with reqwest as a client
//! would: the resource, owner isolation, pagination, and malformed requests.

mod common;

use std::time::Duration;

use common::{Receiver, Reply};
use reqwest::{Method, StatusCode};
use rest_hooks::api::BearerKeys;
use rest_hooks::delivery::RetrySchedule;
use rest_hooks::store::MemoryStore;
use rest_hooks::{HookModel, Hooks, HooksBuilder};
use serde_json::{Value, json};

/// A book, owned by the user who added it.
#[derive(serde::Serialize, schemars::JsonSchema, HookModel)]
#[hook(app = "bookstore", owner = user)]
pub struct Book {
    id: u64,
    user: String,
}

/// A review, with an example of its own.
#[derive(serde::Serialize, HookModel)]
#[hook(app = "bookstore", owner = user, example = Review::sample)]
pub struct Review {
    stars: u8,
    user: String,
}

impl Review {
    fn sample() -> Self {
        Review {
            stars: 5,
            user: "ann".into(),
        }
    }
}

rest_hooks::hook_events! {
    /// A book was added to the store.
    ///
    /// Its owner's hooks get it.
    "book.added"     => bookstore.Book.created,
    "book.changed"   => bookstore.Book.updated+,
    "review.posted"  => bookstore.Review.created,
    "user.logged_in" => None,
}

struct Server {
    url: String,
    hooks: Hooks,
    client: reqwest::Client,
}

impl Server {
    async fn start() -> Self {
        Self::with(|builder| builder).await
    }

    /// A server whose hooks are built with `configure` too.
    async fn with(configure: impl FnOnce(HooksBuilder) -> HooksBuilder) -> Self {
        let builder = Hooks::builder(&EVENTS, MemoryStore::new())
            .target_policy(common::loopback_policy())
            .poll_interval(Duration::from_millis(20));
        let hooks = configure(builder).build().await.unwrap();
        let keys = BearerKeys::new([
            ("key-ann".to_owned(), "ann".to_owned()),
            ("key-bob".to_owned(), "bob".to_owned()),
        ]);
        let app = rest_hooks::api::router(hooks.clone(), keys);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            hooks,
            client: reqwest::Client::new(),
        }
    }

    fn request(&self, method: Method, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.url))
            .header("authorization", format!("Bearer {key}"))
    }

    async fn json(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.request(method, path, key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }
}

#[tokio::test]
async fn a_hook_is_created_listed_shown_and_deleted() {
    let server = Server::start().await;
    let receiver = Receiver::start().await;
    let target = receiver.target("in");
    let response = server
        .request(Method::POST, "/hooks", "key-ann")
        .json(&json!({"event": "book.added", "target": target, "metadata": {"plan": "pro"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("hooks/{id}"));
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(
        (
            &created["event"],
            &created["target"],
            &created["active"],
            &created["metadata"]
        ),
        (
            &json!("book.added"),
            &json!(target),
            &json!(true),
            &json!({"plan": "pro"})
        )
    );

    let (status, listed) = server.json(Method::GET, "/hooks", "key-ann", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["hooks"].as_array().unwrap().len(), 1);
    assert_eq!(listed["hooks"][0]["id"], json!(id));
    assert!(
        listed["hooks"][0].get("secret").is_none(),
        "the secret is shown on creation only"
    );

    let (status, shown) = server
        .json(Method::GET, &format!("/hooks/{id}"), "key-ann", None)
        .await;
    assert_eq!((status, &shown["id"]), (StatusCode::OK, &json!(id)));
    assert!(shown.get("secret").is_none());

    let (status, _) = server
        .json(Method::DELETE, &format!("/hooks/{id}"), "key-ann", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, problem) = server
        .json(Method::GET, &format!("/hooks/{id}"), "key-ann", None)
        .await;
    assert_eq!(
        (status, &problem["type"]),
        (
            StatusCode::NOT_FOUND,
            &json!("urn:rest-hooks:problem:not-found")
        )
    );
}

#[tokio::test]
async fn another_owners_hook_is_a_404_never_a_403() {
    let server = Server::start().await;
    let receiver = Receiver::start().await;
    let (_, created) = server
        .json(
            Method::POST,
            "/hooks",
            "key-ann",
            Some(json!({"event": "book.added", "target": receiver.target("in")})),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, format!("/hooks/{id}")),
        (Method::DELETE, format!("/hooks/{id}")),
        (Method::POST, format!("/hooks/{id}/rotate-secret")),
        (Method::GET, format!("/hooks/{id}/deliveries")),
    ] {
        let (status, _) = server.json(method.clone(), &path, "key-bob", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    let (_, listed) = server.json(Method::GET, "/hooks", "key-bob", None).await;
    assert_eq!(listed["hooks"], json!([]));
    assert_eq!(
        server
            .hooks
            .list_hooks("ann", None, 1000)
            .await
            .unwrap()
            .len(),
        1,
        "ann's hook is untouched"
    );
}

#[tokio::test]
async fn pages_walk_every_hook_once() {
    let server = Server::start().await;
    let receiver = Receiver::start().await;
    let mut made = Vec::new();
    for n in 0..5 {
        let body = json!({"event": "book.added", "target": receiver.target(&format!("in/{n}"))});
        let (_, created) = server
            .json(Method::POST, "/hooks", "key-ann", Some(body))
            .await;
        made.push(created["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut path = "/hooks?limit=2".to_owned();
    loop {
        let (status, page) = server.json(Method::GET, &path, "key-ann", None).await;
        assert_eq!(status, StatusCode::OK);
        seen.extend(
            page["hooks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/hooks?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, made);
}

#[tokio::test]
async fn deliveries_show_their_attempts_and_can_be_redelivered() {
    let server = Server::start().await;
    let receiver = Receiver::start().await;
    let (_, created) = server
        .json(
            Method::POST,
            "/hooks",
            "key-ann",
            Some(json!({"event": "book.added", "target": receiver.target("in")})),
        )
        .await;
    let hook = created["id"].as_str().unwrap();
    let mut observed = server.hooks.observe();
    server
        .hooks
        .created(&Book {
            id: 1,
            user: "ann".into(),
        })
        .await
        .unwrap();
    receiver.next().await;
    observed.recv().await.unwrap();

    let (status, log) = server
        .json(
            Method::GET,
            &format!("/hooks/{hook}/deliveries"),
            "key-ann",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let delivery = &log["deliveries"][0];
    assert_eq!(
        (&delivery["state"], &delivery["attempts"]),
        (&json!("delivered"), &json!(1))
    );
    assert_eq!(
        delivery["log"][0]["result"],
        json!({"kind": "status", "detail": 200})
    );
    let id = delivery["id"].as_str().unwrap();

    let (status, _) = server
        .json(
            Method::POST,
            &format!("/deliveries/{id}/redeliver"),
            "key-bob",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .json(
            Method::POST,
            &format!("/deliveries/{id}/redeliver"),
            "key-ann",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(receiver.next().await.headers["webhook-id"], id);
}

#[tokio::test]
async fn rotating_gives_a_new_secret_and_events_list_the_table() {
    let server = Server::start().await;
    let receiver = Receiver::start().await;
    let (_, created) = server
        .json(
            Method::POST,
            "/hooks",
            "key-ann",
            Some(json!({"event": "book.added", "target": receiver.target("in")})),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let (status, rotated) = server
        .json(
            Method::POST,
            &format!("/hooks/{id}/rotate-secret"),
            "key-ann",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(rotated["secret"], created["secret"]);
    assert!(rotated["secret"].as_str().unwrap().starts_with("whsec_"));

    let (status, events) = server.json(Method::GET, "/events", "key-ann", None).await;
    assert_eq!(status, StatusCode::OK);
    let summary: Vec<Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| json!({"name": e["name"], "raw": e["raw"], "all_owners": e["all_owners"]}))
        .collect();
    assert_eq!(
        summary,
        [
            json!({"name": "book.added", "raw": false, "all_owners": false}),
            json!({"name": "book.changed", "raw": false, "all_owners": true}),
            json!({"name": "review.posted", "raw": false, "all_owners": false}),
            json!({"name": "user.logged_in", "raw": true, "all_owners": false}),
        ]
    );
}

#[tokio::test]
async fn events_carry_their_description_payload_schema_and_example() {
    let server = Server::start().await;
    let (_, events) = server.json(Method::GET, "/events", "key-ann", None).await;
    let event = |name: &str| {
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()
            .clone()
    };
    let added = event("book.added");
    assert_eq!(
        added["description"],
        "A book was added to the store.\n\nIts owner's hooks get it."
    );
    let schema = &added["schema"];
    assert_eq!(schema["required"], json!(["hook", "data"]));
    let data = &schema["properties"]["data"];
    let book = match data.get("$ref").and_then(Value::as_str) {
        Some(reference) => schema.pointer(&reference[1..]).unwrap().clone(),
        None => data.clone(),
    };
    assert_eq!(book["properties"]["id"]["type"], "integer");
    assert_eq!(book["properties"]["user"]["type"], "string");
    // Made from the schema: the model gives no example.
    assert_eq!(added["example"]["data"], json!({"id": 0, "user": "string"}));
    assert_eq!(added["example"]["hook"]["event"], "book.added");
    // The model's own example, as it would be sent.
    let review = event("review.posted");
    assert_eq!(
        review["example"]["data"],
        json!({"stars": 5, "user": "ann"})
    );
    assert_eq!(review["description"], Value::Null);
    // No JSON Schema of its own (Review has none; a raw event is any JSON).
    assert_eq!(review["schema"]["properties"]["data"], json!({}));
    let raw = event("user.logged_in");
    assert_eq!(raw["schema"]["properties"]["data"], json!({}));
    assert_eq!(raw["example"]["data"], Value::Null);
}

#[tokio::test]
async fn a_test_event_is_sent_signed_and_marked_in_the_log() {
    let server = Server::start().await;
    let receiver = Receiver::start().await;
    let (_, hook) = server
        .json(
            Method::POST,
            "/hooks",
            "key-ann",
            Some(json!({"event": "review.posted", "target": receiver.target("in")})),
        )
        .await;
    let id = hook["id"].as_str().unwrap();
    let path = format!("/hooks/{id}/test");
    let (status, problem) = server.json(Method::POST, &path, "key-bob", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    let (status, sent) = server.json(Method::POST, &path, "key-ann", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    let delivery = sent["delivery"].as_str().unwrap();

    let received = receiver.next().await;
    assert_eq!(received.body["data"], json!({"stars": 5, "user": "ann"}));
    assert_eq!(received.body["hook"]["id"], id);
    assert_eq!(received.headers["webhook-id"], delivery);
    let secret = hook["secret"].as_str().unwrap();
    rest_hooks::delivery::sign::verify(secret, &received.headers, &received.raw).unwrap();

    let deliveries = format!("/hooks/{id}/deliveries");
    let log = loop {
        let (_, log) = server.json(Method::GET, &deliveries, "key-ann", None).await;
        if log["deliveries"][0]["state"] == "delivered" {
            break log;
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(log["deliveries"][0]["id"], delivery);
    assert_eq!(log["deliveries"][0]["test"], true);
}

#[tokio::test]
async fn malformed_requests_answer_4xx_problems_and_store_nothing() {
    let server = Server::start().await;
    let json_type = Some("application/json");
    let missing = uuid::Uuid::now_v7();
    let long_target = format!("http://127.0.0.1:9/{}", "a".repeat(3000));
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    /// Method, path, `Authorization`, `Content-Type`, body, and the status it must get.
    type Case<'a> = (
        Method,
        String,
        Option<&'a str>,
        Option<&'a str>,
        Vec<u8>,
        u16,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            Method::POST,
            "/hooks".into(),
            None,
            json_type,
            br#"{"event":"book.added","target":"http://127.0.0.1:9/"}"#.to_vec(),
            401,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer nope"),
            json_type,
            br#"{"event":"book.added","target":"http://127.0.0.1:9/"}"#.to_vec(),
            401,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Basic a2V5LWFubg=="),
            json_type,
            b"{}".to_vec(),
            401,
        ),
        (
            Method::GET,
            "/hooks".into(),
            Some("Bearer"),
            None,
            vec![],
            401,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            None,
            br#"{"event":"book.added","target":"http://127.0.0.1:9/"}"#.to_vec(),
            415,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            Some("text/plain"),
            br#"{"event":"book.added","target":"http://127.0.0.1:9/"}"#.to_vec(),
            415,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            b"{".to_vec(),
            400,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            b"".to_vec(),
            400,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            b"[]".to_vec(),
            400,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            b"null".to_vec(),
            400,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            br#"{"event":"book.added"}"#.to_vec(),
            400,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            br#"{"target":"http://127.0.0.1:9/"}"#.to_vec(),
            400,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            br#"{"event":1,"target":"http://127.0.0.1:9/"}"#.to_vec(),
            400,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            br#"{"event":"book.added","target":"http://127.0.0.1:9/","owner":"bob"}"#.to_vec(),
            400,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            br#"{"event":"book.added","target":"http://127.0.0.1:9/","secret":"whsec_x"}"#.to_vec(),
            400,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            b"\xff\xfe{}".to_vec(),
            400,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            format!(r#"{{"event":"book.added","target":"http://127.0.0.1:9/","metadata":{deep}}}"#)
                .into_bytes(),
            400,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            vec![b' '; 70 * 1024],
            413,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            br#"{"event":"book.sold","target":"http://127.0.0.1:9/"}"#.to_vec(),
            422,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            br#"{"event":"Book.Added","target":"http://127.0.0.1:9/"}"#.to_vec(),
            422,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            br#"{"event":"book.added","target":"/relative"}"#.to_vec(),
            422,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            br#"{"event":"book.added","target":"ftp://127.0.0.1/in"}"#.to_vec(),
            422,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            br#"{"event":"book.added","target":""}"#.to_vec(),
            422,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            br#"{"event":"book.added","target":"http://10.0.0.1/in"}"#.to_vec(),
            422,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            br#"{"event":"book.added","target":"http://169.254.169.254/latest"}"#.to_vec(),
            422,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            br#"{"event":"book.added","target":"http://[::1]:9/in"}"#.to_vec(),
            422,
        ),
        (
            Method::POST,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            format!(r#"{{"event":"book.added","target":"{long_target}"}}"#).into_bytes(),
            422,
        ),
        (
            Method::GET,
            "/hooks/not-a-uuid".into(),
            Some("Bearer key-ann"),
            None,
            vec![],
            404,
        ),
        (
            Method::GET,
            format!("/hooks/{missing}"),
            Some("Bearer key-ann"),
            None,
            vec![],
            404,
        ),
        (
            Method::DELETE,
            "/hooks/not-a-uuid".into(),
            Some("Bearer key-ann"),
            None,
            vec![],
            404,
        ),
        (
            Method::DELETE,
            format!("/hooks/{missing}"),
            Some("Bearer key-ann"),
            None,
            vec![],
            404,
        ),
        (
            Method::POST,
            format!("/hooks/{missing}/rotate-secret"),
            Some("Bearer key-ann"),
            None,
            vec![],
            404,
        ),
        (
            Method::GET,
            format!("/hooks/{missing}/deliveries"),
            Some("Bearer key-ann"),
            None,
            vec![],
            404,
        ),
        (
            Method::GET,
            "/hooks?limit=abc".into(),
            Some("Bearer key-ann"),
            None,
            vec![],
            400,
        ),
        (
            Method::GET,
            "/hooks?limit=0".into(),
            Some("Bearer key-ann"),
            None,
            vec![],
            400,
        ),
        (
            Method::GET,
            "/hooks?limit=100000".into(),
            Some("Bearer key-ann"),
            None,
            vec![],
            400,
        ),
        (
            Method::GET,
            "/hooks?limit=-1".into(),
            Some("Bearer key-ann"),
            None,
            vec![],
            400,
        ),
        (
            Method::GET,
            "/hooks?cursor=zzz".into(),
            Some("Bearer key-ann"),
            None,
            vec![],
            400,
        ),
        (
            Method::GET,
            "/hooks?colour=red".into(),
            Some("Bearer key-ann"),
            None,
            vec![],
            400,
        ),
        (
            Method::POST,
            "/deliveries/not-a-uuid/redeliver".into(),
            Some("Bearer key-ann"),
            None,
            vec![],
            404,
        ),
        (
            Method::POST,
            format!("/deliveries/{missing}/redeliver"),
            Some("Bearer key-ann"),
            None,
            vec![],
            404,
        ),
        (
            Method::GET,
            "/nothing/here".into(),
            Some("Bearer key-ann"),
            None,
            vec![],
            404,
        ),
        (
            Method::PUT,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            b"{}".to_vec(),
            405,
        ),
        (
            Method::PATCH,
            format!("/hooks/{missing}"),
            Some("Bearer key-ann"),
            json_type,
            b"{}".to_vec(),
            404,
        ),
        (
            Method::PATCH,
            "/hooks".into(),
            Some("Bearer key-ann"),
            json_type,
            b"{}".to_vec(),
            405,
        ),
    ];
    assert!(cases.len() >= 30);
    for (method, path, auth, content_type, body, expected) in cases {
        let mut request = server
            .client
            .request(method.clone(), format!("{}{path}", server.url))
            .body(body);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let problem: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, expected, "{method} {path}: {problem}");
        assert_eq!(
            content_type.as_deref(),
            Some("application/problem+json"),
            "{method} {path}"
        );
        assert_eq!(problem["status"], json!(expected), "{method} {path}");
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:rest-hooks:problem:")
        );
    }
    assert_eq!(
        server.hooks.list_hooks("ann", None, 1000).await.unwrap(),
        []
    );
    assert_eq!(
        server.hooks.list_hooks("bob", None, 1000).await.unwrap(),
        []
    );
}

#[tokio::test]
async fn a_hook_is_changed_with_patch_and_a_bad_change_changes_nothing() {
    let server = Server::start().await;
    let (status, created) = server
        .json(
            Method::POST,
            "/hooks",
            "key-ann",
            Some(json!({"event": "book.added", "target": "http://127.0.0.1:9/in", "headers": {"x-api-key": "k1"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["headers"], json!({"x-api-key": "k1"}));
    let path = format!("/hooks/{}", created["id"].as_str().unwrap());

    let (status, moved) = server
        .json(
            Method::PATCH,
            &path,
            "key-ann",
            Some(json!({"target": "http://127.0.0.1:9/moved", "metadata": {"plan": "pro"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["target"], "http://127.0.0.1:9/moved");
    assert_eq!(moved["metadata"], json!({"plan": "pro"}));
    assert_eq!(moved["headers"], json!({"x-api-key": "k1"}));
    assert_eq!(moved["state"], "active");
    assert!(moved.get("secret").is_none());

    let too_many: serde_json::Map<String, Value> =
        (0..11).map(|i| (format!("x-h{i}"), json!("v"))).collect();
    let bad: Vec<(&str, Value, u16, &str)> = vec![
        ("key-ann", json!({"colour": "red"}), 400, "invalid-body"),
        ("key-ann", json!({"active": "yes"}), 400, "invalid-body"),
        ("key-ann", json!({"target": 7}), 400, "invalid-body"),
        ("key-ann", json!({"headers": ["x"]}), 400, "invalid-body"),
        (
            "key-ann",
            json!({"headers": {"content-type": "text/plain"}}),
            422,
            "invalid-header",
        ),
        (
            "key-ann",
            json!({"headers": {"webhook-id": "x"}}),
            422,
            "invalid-header",
        ),
        (
            "key-ann",
            json!({"headers": {"connection": "close"}}),
            422,
            "invalid-header",
        ),
        (
            "key-ann",
            json!({"headers": {"X-Upper": "v"}}),
            422,
            "invalid-header",
        ),
        (
            "key-ann",
            json!({"headers": {"bad name": "v"}}),
            422,
            "invalid-header",
        ),
        (
            "key-ann",
            json!({"headers": {"x-long": "v".repeat(1025)}}),
            422,
            "invalid-header",
        ),
        (
            "key-ann",
            json!({"headers": {"x-nl": "a\nb"}}),
            422,
            "invalid-header",
        ),
        (
            "key-ann",
            json!({"headers": too_many}),
            422,
            "invalid-header",
        ),
        (
            "key-ann",
            json!({"target": "http://10.0.0.1/in"}),
            422,
            "target-not-allowed",
        ),
        (
            "key-ann",
            json!({"target": "not a url"}),
            422,
            "invalid-target",
        ),
        (
            "key-ann",
            json!({"target": "ftp://127.0.0.1/in"}),
            422,
            "invalid-target",
        ),
        (
            "key-ann",
            json!({"metadata": {"note": "a\u{0}b"}}),
            422,
            "invalid-metadata",
        ),
        (
            "key-ann",
            json!({"metadata": {"a\u{0}": 1}}),
            422,
            "invalid-metadata",
        ),
        ("key-bob", json!({"active": false}), 404, "not-found"),
    ];
    for (key, body, expected, kind) in bad {
        let (status, problem) = server
            .json(Method::PATCH, &path, key, Some(body.clone()))
            .await;
        assert_eq!(status.as_u16(), expected, "{body}: {problem}");
        assert_eq!(
            problem["type"],
            format!("urn:rest-hooks:problem:{kind}"),
            "{body}"
        );
        if kind == "invalid-header" && body["headers"].is_object() {
            let detail = problem["detail"].as_str().unwrap();
            let named = body["headers"].as_object().unwrap().keys().next().unwrap();
            assert!(
                detail.contains(named.as_str()) || detail.contains("at most 10"),
                "{detail}"
            );
        }
    }
    let (_, unchanged) = server.json(Method::GET, &path, "key-ann", None).await;
    assert_eq!(unchanged, moved);

    let (status, paused) = server
        .json(
            Method::PATCH,
            &path,
            "key-ann",
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (paused["state"].clone(), paused["active"].clone()),
        (json!("paused"), json!(false))
    );
    let book = Book {
        id: 1,
        user: "ann".into(),
    };
    assert_eq!(server.hooks.created(&book).await.unwrap(), 0);
    let (_, resumed) = server
        .json(
            Method::PATCH,
            &path,
            "key-ann",
            Some(json!({"active": true, "replay": false})),
        )
        .await;
    assert_eq!(resumed["state"], "active");
    assert_eq!(server.hooks.created(&book).await.unwrap(), 1);
}

#[tokio::test]
async fn deliveries_are_listed_across_hooks_and_failed_ones_recovered() {
    let server = Server::with(|b| b.retry_schedule(RetrySchedule::new([]))).await;
    let receiver = Receiver::start().await;
    receiver.script("/down", [Reply::status(500), Reply::status(500)]);
    let mut observed = server.hooks.observe();
    let mut ids = Vec::new();
    for (key, path) in [("key-ann", "down"), ("key-ann", "up"), ("key-bob", "up")] {
        let (status, hook) = server
            .json(
                Method::POST,
                "/hooks",
                key,
                Some(json!({"event": "book.added", "target": receiver.target(path)})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        ids.push(hook["id"].as_str().unwrap().to_owned());
    }
    let (down, up, bobs) = (&ids[0], &ids[1], &ids[2]);
    for (id, user) in [(1, "ann"), (2, "ann"), (3, "bob")] {
        let book = Book {
            id,
            user: user.into(),
        };
        server.hooks.created(&book).await.unwrap();
    }
    for _ in 0..5 {
        tokio::time::timeout(common::PATIENCE, observed.recv())
            .await
            .unwrap()
            .unwrap();
    }

    let list = |query: String, key: &'static str| {
        let server = &server;
        async move {
            server
                .json(Method::GET, &format!("/deliveries{query}"), key, None)
                .await
        }
    };
    let (status, all) = list(String::new(), "key-ann").await;
    assert_eq!(status, StatusCode::OK);
    let all = all["deliveries"].as_array().unwrap().clone();
    assert_eq!(all.len(), 4, "ann's four, none of bob's");
    assert!(all.iter().all(|d| d["log"].as_array().unwrap().len() == 1));
    let (_, failed) = list("?state=failed".into(), "key-ann").await;
    assert_eq!(failed["deliveries"].as_array().unwrap().len(), 2);
    let (_, ups) = list(format!("?hook={up}&state=delivered"), "key-ann").await;
    assert_eq!(ups["deliveries"].as_array().unwrap().len(), 2);
    let future = "2999-01-01T00:00:00Z";
    let (_, none) = list(format!("?since={future}"), "key-ann").await;
    assert_eq!(none["deliveries"], json!([]));
    let (_, first) = list("?limit=3".into(), "key-ann").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, rest) = list(format!("?limit=3&cursor={cursor}"), "key-ann").await;
    assert_eq!(rest["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);
    for (query, expected) in [
        (format!("?hook={bobs}"), 404),
        ("?hook=zzz".to_owned(), 400),
        ("?state=lost".to_owned(), 400),
        ("?since=yesterday".to_owned(), 400),
        ("?limit=0".to_owned(), 400),
        ("?colour=red".to_owned(), 400),
    ] {
        let (status, problem) = list(query.clone(), "key-ann").await;
        assert_eq!(status.as_u16(), expected, "{query}: {problem}");
    }

    let recover = format!("/hooks/{down}/recover");
    let now = time::OffsetDateTime::now_utc();
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    for (key, body, expected) in [
        ("key-ann", json!({"since": "yesterday"}), 400),
        ("key-ann", json!({"since": rfc(now), "colour": 1}), 400),
        ("key-ann", json!({"until": rfc(now)}), 400),
        (
            "key-ann",
            json!({"since": rfc(now - time::Duration::days(15))}),
            422,
        ),
        (
            "key-ann",
            json!({"since": rfc(now), "until": rfc(now - time::Duration::hours(1))}),
            422,
        ),
        (
            "key-bob",
            json!({"since": rfc(now - time::Duration::hours(1))}),
            404,
        ),
    ] {
        let (status, problem) = server
            .json(Method::POST, &recover, key, Some(body.clone()))
            .await;
        assert_eq!(status.as_u16(), expected, "{body}: {problem}");
    }
    let (status, recovered) = server
        .json(
            Method::POST,
            &recover,
            "key-ann",
            Some(json!({"since": rfc(now - time::Duration::hours(1))})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{recovered}");
    assert_eq!(recovered, json!({"requeued": 2}));
    for _ in 0..2 {
        let outcome = tokio::time::timeout(common::PATIENCE, observed.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(outcome.next, rest_hooks::delivery::Next::Delivered);
    }
    let (_, failed) = list("?state=failed".into(), "key-ann").await;
    assert_eq!(failed["deliveries"], json!([]));
}

#[tokio::test]
async fn an_idempotency_key_makes_one_hook_and_conflicts_with_another_body() {
    let server = Server::start().await;
    let body = json!({"event": "book.added", "target": "http://127.0.0.1:9/in"});
    let post = |key: &'static str, idempotency: String, body: Value| {
        let server = &server;
        async move {
            let response = server
                .request(Method::POST, "/hooks", key)
                .header("idempotency-key", idempotency)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let replayed = response
                .headers()
                .get("idempotent-replayed")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: Value = response.json().await.unwrap();
            (status, replayed, body)
        }
    };
    let (status, replayed, first) = post("key-ann", "k-1".into(), body.clone()).await;
    assert_eq!(
        (status, replayed.as_deref()),
        (201, Some("false")),
        "{first}"
    );
    let (status, replayed, again) = post("key-ann", "k-1".into(), body.clone()).await;
    assert_eq!(
        (status, replayed.as_deref()),
        (201, Some("true")),
        "{again}"
    );
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["secret"], first["secret"]);
    let other = json!({"event": "book.added", "target": "http://127.0.0.1:9/other"});
    let (status, _, problem) = post("key-ann", "k-1".into(), other).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(
        problem["type"],
        "urn:rest-hooks:problem:idempotency-conflict"
    );
    for bad in ["x".repeat(256), "é".to_owned(), String::new()] {
        let response = server
            .request(Method::POST, "/hooks", "key-ann")
            .header("idempotency-key", bad.as_str())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{bad:?}");
    }
    // Keys are the owner's own.
    let (status, replayed, bobs) = post("key-bob", "k-1".into(), body.clone()).await;
    assert_eq!((status, replayed.as_deref()), (201, Some("false")));
    assert_ne!(bobs["id"], first["id"]);
    assert_eq!(
        server
            .hooks
            .list_hooks("ann", None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // A key whose hook was deleted answers no more.
    let path = format!("/hooks/{}", first["id"].as_str().unwrap());
    let (status, _) = server.json(Method::DELETE, &path, "key-ann", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = post("key-ann", "k-1".into(), body).await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn targets_confirm_the_handshake_or_are_refused() {
    let server = Server::with(|b| b.confirm_targets(true)).await;
    let receiver = Receiver::start().await;
    receiver.script("/unwilling", [Reply::status(404), Reply::status(404)]);
    let (status, hook) = server
        .json(
            Method::POST,
            "/hooks",
            "key-ann",
            Some(json!({"event": "book.added", "target": receiver.target("willing")})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let handshake = receiver.next().await;
    assert!(handshake.headers.contains_key("x-hook-secret"));
    assert_eq!(handshake.body["confirm"], true);

    let (status, problem) = server
        .json(
            Method::POST,
            "/hooks",
            "key-ann",
            Some(json!({"event": "book.added", "target": receiver.target("unwilling")})),
        )
        .await;
    assert_eq!(status.as_u16(), 422, "{problem}");
    assert_eq!(
        problem["type"],
        "urn:rest-hooks:problem:target-not-confirmed"
    );
    receiver.next().await;

    let path = format!("/hooks/{}", hook["id"].as_str().unwrap());
    let (status, problem) = server
        .json(
            Method::PATCH,
            &path,
            "key-ann",
            Some(json!({"target": receiver.target("unwilling")})),
        )
        .await;
    assert_eq!(status.as_u16(), 422, "{problem}");
    receiver.next().await;
    let hooks = server.hooks.list_hooks("ann", None, 10).await.unwrap();
    assert_eq!(hooks.len(), 1);
    assert!(hooks[0].target.ends_with("/willing"));
    // Changing something else asks nothing.
    let (status, _) = server
        .json(
            Method::PATCH,
            &path,
            "key-ann",
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(receiver.pending(), 0);
}

#[tokio::test]
async fn the_openapi_document_covers_every_route_and_each_event_as_a_webhook() {
    let server = Server::start().await;
    let response = server
        .client
        .get(format!("{}/openapi.json", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "no owner needed");
    let document: Value = response.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths: Vec<&str> = document["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for path in [
        "/hooks",
        "/hooks/{id}",
        "/hooks/{id}/rotate-secret",
        "/hooks/{id}/test",
        "/hooks/{id}/recover",
        "/hooks/{id}/deliveries",
        "/deliveries",
        "/deliveries/{id}/redeliver",
        "/events",
    ] {
        assert!(paths.contains(&path), "{path} missing from {paths:?}");
    }
    let patch = &document["paths"]["/hooks/{id}"]["patch"];
    assert!(patch["requestBody"].is_object());
    assert!(patch["responses"]["200"].is_object());
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let webhooks = document["webhooks"].as_object().unwrap();
    let names: Vec<&str> = webhooks.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "book.added",
            "book.changed",
            "review.posted",
            "user.logged_in"
        ]
    );
    let added = &webhooks["book.added"]["post"];
    assert_eq!(
        added["description"],
        "A book was added to the store.\n\nIts owner's hooks get it."
    );
    let headers: Vec<&str> = added["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        headers,
        ["webhook-id", "webhook-timestamp", "webhook-signature"]
    );
    let schema = &added["requestBody"]["content"]["application/json"]["schema"];
    // References point into the document's components, where the model is.
    let data = schema["properties"]["data"]["$ref"].as_str().unwrap();
    let name = data.strip_prefix("#/components/schemas/").unwrap();
    assert_eq!(
        document["components"]["schemas"][name]["properties"]["id"]["type"],
        "integer"
    );
    assert_eq!(document, rest_hooks::api::openapi(&EVENTS));
}

#[tokio::test]
async fn an_owner_over_its_quota_is_refused_with_a_problem() {
    let server = Server::with(|b| b.max_hooks_per_owner(2)).await;
    let body = json!({"event": "book.added", "target": "http://127.0.0.1:9/in"});
    for _ in 0..2 {
        let (status, _) = server
            .json(Method::POST, "/hooks", "key-ann", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, problem) = server
        .json(Method::POST, "/hooks", "key-ann", Some(body.clone()))
        .await;
    assert_eq!(status.as_u16(), 422, "{problem}");
    assert_eq!(problem["type"], "urn:rest-hooks:problem:quota-exceeded");
    assert_eq!(
        server
            .hooks
            .list_hooks("ann", None, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    let (status, _) = server
        .json(Method::POST, "/hooks", "key-bob", Some(body))
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "another owner's quota is its own"
    );
}

#[tokio::test]
async fn health_answers_without_an_owner_and_503_once_the_engine_stops() {
    let server = Server::start().await;
    let app = rest_hooks::api::health_router(server.hooks.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/health", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let response = server.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let health: Value = response.json().await.unwrap();
    assert_eq!(health["store_reachable"], true);
    assert_eq!(health["engine_running"], true);
    assert_eq!(health["queue"]["due"], 0);

    server.hooks.shutdown(Duration::from_secs(1)).await;
    let response = server.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let health: Value = response.json().await.unwrap();
    assert_eq!(health["engine_running"], false);
}
