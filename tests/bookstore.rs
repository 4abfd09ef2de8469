//! Runs the bookstore example (the README's first command) and checks what it
//! prints: every event arrives, signed, and the delivery log reads back.

mod common;

// The example's items are `pub` for its own `main.rs`, unreachable from here;
// its `--serve` mode is run by CI, under the fuzzer (`.ci/run`), not here.
#[allow(unreachable_pub, dead_code)]
#[path = "../examples/bookstore/app.rs"]
mod app;

fn check(out: &[u8]) {
    let text = String::from_utf8(out.to_vec()).unwrap();
    assert_eq!(text.matches("signature verified: yes").count(), 6, "{text}");
    assert!(!text.contains("verified: NO"), "{text}");
    for (event, times) in [
        ("book.added", 1),
        ("book.changed", 2),
        ("book.read", 1),
        ("user.logged_in", 1),
        ("book.removed", 1),
    ] {
        assert_eq!(
            text.matches(&format!("<- {event} ")).count(),
            times,
            "{event} in {text}"
        );
    }
    assert_eq!(text.matches("201 Created").count(), 6, "{text}");
    assert!(text.contains(r#""title":"Dune Messiah""#), "{text}");
    assert!(text.contains("delivered  1 attempt(s)"), "{text}");
    assert!(text.ends_with("shut down cleanly\n"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bookstore_example_runs_on_sqlite() {
    let mut out = Vec::new();
    app::run(&mut out, None).await.unwrap();
    check(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bookstore_example_runs_on_postgres() {
    let Some(schema) = common::PgSchema::create().await else {
        return;
    };
    let url = format!("{}?options=-c%20search_path%3D{}", schema.url, schema.name);
    let mut out = Vec::new();
    app::run(&mut out, Some(url)).await.unwrap();
    check(&out);
}

/// A database URL that is not one fails with the reason, not only "the store
/// failed".
#[tokio::test]
async fn the_bookstore_example_says_why_its_store_failed() {
    let mut out = Vec::new();
    let Err(error) = app::run(&mut out, Some("notaurl".to_owned())).await else {
        panic!("the bookstore ran on a database URL that is not one");
    };
    assert_eq!(
        app::describe(error.as_ref()),
        "the store failed: error with configuration: relative URL without a base"
    );
}
