//! The owners' portal in a real browser: Debian's headless Chromium, driven
//! through chromedriver (WebDriver) on a loopback port of the test's own, against
//! the portal over a SQLite store and a receiver on loopback. Screenshots of each
//! page, also 375 px wide, go to `target/portal-screenshots/` for a person to
//! look at. Without chromedriver the test is skipped with a notice, unless
//! `CI=true`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Receiver, Reply};
use fantoccini::{Client, ClientBuilder, Locator};
use rest_hooks::delivery::RetrySchedule;
use rest_hooks::portal::Portal;
use rest_hooks::store::SqliteStore;
use rest_hooks::{HookModel, Hooks, NewHook, Outcome};
use tokio::sync::broadcast;

/// A book, owned by the user who added it.
#[derive(Debug, Clone, serde::Serialize, HookModel)]
#[hook(app = "bookstore", owner = user)]
pub struct Book {
    id: u64,
    user: String,
}

rest_hooks::hook_events! {
    /// A book was added to the shop.
    "book.added" => bookstore.Book.created,
}

fn book(id: u64, user: &str) -> Book {
    Book {
        id,
        user: user.into(),
    }
}

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver on a port of its own, stopped when dropped.
struct Driver {
    process: std::process::Child,
    url: String,
}

impl Driver {
    /// `None`, with a notice, where Debian's chromium-driver is not installed;
    /// a failure under `CI=true`.
    fn start() -> Option<Self> {
        if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists()
        {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true, but {CHROMEDRIVER} or {CHROMIUM} is missing (apt-get install chromium chromium-driver)"
            );
            eprintln!(
                "notice: chromium and chromium-driver are not installed; the portal's browser test is skipped"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let process = std::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Some(Self {
            process,
            url: format!("http://127.0.0.1:{port}"),
        })
    }

    /// A headless Chromium session, once chromedriver answers.
    async fn browser(&self, profile: &std::path::Path) -> Client {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1200,900",
        ]
        .map(String::from)
        .into_iter()
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({"binary": CHROMIUM, "args": args}),
        );
        let deadline = tokio::time::Instant::now() + common::PATIENCE;
        loop {
            let connected = ClientBuilder::rustls()
                .unwrap()
                .capabilities(capabilities.clone())
                .connect(&self.url)
                .await;
            match connected {
                Ok(client) => return client,
                Err(error) => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "chromedriver did not start a browser: {error}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Saves what the browser shows as `name.png` under `target/portal-screenshots/`.
async fn screenshot(browser: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/portal-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = browser.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// The text of the first element `css` picks.
async fn text(browser: &Client, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}` on the page: {e}"))
        .text()
        .await
        .unwrap()
}

/// Clicks what `locator` finds and waits until the browser has left the page
/// (its root element is gone) for the one the click leads to.
async fn click(browser: &Client, locator: Locator<'_>) {
    let page = browser.find(Locator::Css("html")).await.unwrap();
    browser
        .find(locator)
        .await
        .unwrap_or_else(|e| panic!("nothing to click at {locator:?}: {e}"))
        .click()
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    while page.tag_name().await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the click at {locator:?} led nowhere"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Clicks the button labelled `label`, and waits for the page it leads to.
async fn click_button(browser: &Client, label: &str) {
    let xpath = format!("//button[normalize-space()='{label}']");
    click(browser, Locator::XPath(&xpath)).await;
}

/// The next outcome of an attempt to `path`.
async fn outcome(observed: &mut broadcast::Receiver<Outcome>, path: &str) -> Outcome {
    let wait = async {
        loop {
            let outcome = observed.recv().await.unwrap();
            if outcome.delivery.target.ends_with(path) {
                return outcome;
            }
        }
    };
    tokio::time::timeout(common::PATIENCE, wait).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_uses_the_portal_in_a_browser() {
    let Some(driver) = Driver::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("hooks.db"))
        .await
        .unwrap();
    let receiver = Receiver::start().await;
    let hooks = Hooks::builder(&EVENTS, store)
        .target_policy(common::loopback_policy())
        .poll_interval(Duration::from_millis(20))
        .retry_schedule(RetrySchedule::new([]))
        .build()
        .await
        .unwrap();
    let mut observed = hooks.observe();
    let bobs = hooks
        .subscribe(NewHook::new("bob", "book.added", receiver.target("bob")))
        .await
        .unwrap();

    let portal = Portal::new(hooks.clone(), [9; 32]).mounted_at("/portal");
    let link = portal.link("ann", Duration::from_secs(600));
    let expired = portal.link("ann", Duration::ZERO);
    let foreign = Portal::new(hooks.clone(), [1; 32]).link("ann", Duration::from_secs(600));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = portal.router();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let profile = tempfile::tempdir().unwrap();
    let browser = driver.browser(profile.path()).await;

    // Forged, foreign and expired links are refused.
    for refused in [
        format!("{base}/portal/login/forged.token"),
        format!("{base}{foreign}"),
        format!("{base}{expired}"),
    ] {
        browser.goto(&refused).await.unwrap();
        assert_eq!(text(&browser, "h1").await, "This link does not work");
    }
    screenshot(&browser, "refused-link").await;
    browser.goto(&format!("{base}/portal")).await.unwrap();
    assert_eq!(text(&browser, "h1").await, "Not signed in");

    // The link signs ann in and goes on to her hooks.
    browser.goto(&format!("{base}{link}")).await.unwrap();
    browser
        .wait()
        .for_element(Locator::XPath("//h1[text()='Your hooks']"))
        .await
        .unwrap();
    assert!(text(&browser, "header").await.contains("Signed in as ann"));
    screenshot(&browser, "hooks-empty").await;

    // Subscribe through the form: the secret is shown once.
    let target = browser
        .find(Locator::Css("input[name=target]"))
        .await
        .unwrap();
    target.send_keys(&receiver.target("ann")).await.unwrap();
    click_button(&browser, "Subscribe").await;
    assert_eq!(text(&browser, "h1").await, "Subscribed");
    let first_secret = text(&browser, "code.secret").await;
    screenshot(&browser, "secret").await;
    let anns = hooks.list_hooks("ann", None, 10).await.unwrap();
    assert_eq!(anns.len(), 1);
    assert_eq!(anns[0].secret, first_secret);
    let hook = anns[0].clone();

    // Pause: an event fired now makes nothing for the hook.
    click(&browser, Locator::LinkText("Go to the hook")).await;
    click_button(&browser, "Pause").await;
    assert!(text(&browser, "p.notice").await.contains("paused"));
    assert_eq!(hooks.created(&book(1, "ann")).await.unwrap(), 0);
    // Resume: the next one arrives, signed with the secret shown.
    click_button(&browser, "Resume").await;
    assert!(text(&browser, "p.notice").await.contains("active again"));
    assert_eq!(hooks.created(&book(2, "ann")).await.unwrap(), 1);
    let got = receiver.next().await;
    assert_eq!(got.body["data"]["id"], 2);
    standardwebhooks::Webhook::new(&first_secret)
        .unwrap()
        .verify(&got.raw, &got.headers)
        .expect("signed with the secret the portal showed");

    // A test event, seen in the log.
    click_button(&browser, "Send a test event").await;
    assert!(text(&browser, "p.notice").await.contains("test event"));
    let test = receiver.next().await;
    assert_eq!(test.path, "/ann");
    browser.refresh().await.unwrap();
    let log = text(&browser, "section.card:last-of-type").await;
    assert!(log.contains("test"), "{log}");
    screenshot(&browser, "hook").await;

    // Rotate: the next delivery verifies with the new secret.
    click_button(&browser, "Rotate the secret").await;
    assert_eq!(text(&browser, "h1").await, "The secret was rotated");
    let second_secret = text(&browser, "code.secret").await;
    assert_ne!(second_secret, first_secret);
    hooks.created(&book(3, "ann")).await.unwrap();
    let got = receiver.next().await;
    standardwebhooks::Webhook::new(&second_secret)
        .unwrap()
        .verify(&got.raw, &got.headers)
        .expect("signed with the rotated secret");

    // A failed delivery, redelivered from its hook's log.
    receiver.script("/ann-failing", [Reply::status(500)]);
    let failing = hooks
        .subscribe(NewHook::new(
            "ann",
            "book.added",
            receiver.target("ann-failing"),
        ))
        .await
        .unwrap();
    hooks.created(&book(4, "ann")).await.unwrap();
    let failed = outcome(&mut observed, "/ann-failing").await;
    receiver.take(2).await;
    browser
        .goto(&format!("{base}/portal/hooks/{}?state=failed", failing.id))
        .await
        .unwrap();
    browser
        .find(Locator::Css("details.delivery summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(
        text(&browser, "details.delivery")
            .await
            .contains("HTTP 500")
    );
    screenshot(&browser, "failed-delivery").await;
    click_button(&browser, "Redeliver").await;
    assert!(text(&browser, "p.notice").await.contains("sent again"));
    let again = receiver.next().await;
    assert_eq!(again.path, "/ann-failing");
    assert_eq!(
        again.headers["webhook-id"].to_str().unwrap(),
        failed.delivery.id.to_string()
    );

    // Another owner's hook is not there.
    browser
        .goto(&format!("{base}/portal/hooks/{}", bobs.id))
        .await
        .unwrap();
    assert_eq!(text(&browser, "h1").await, "Not found");

    // The catalog, and every page at a phone's width.
    browser
        .goto(&format!("{base}/portal/events"))
        .await
        .unwrap();
    assert!(
        text(&browser, "main")
            .await
            .contains("A book was added to the shop.")
    );
    screenshot(&browser, "events").await;
    browser.goto(&format!("{base}/portal")).await.unwrap();
    let charts = browser.find_all(Locator::Css("svg.chart")).await.unwrap();
    assert_eq!(charts.len(), 2);
    screenshot(&browser, "hooks").await;
    browser.set_window_size(375, 812).await.unwrap();
    screenshot(&browser, "hooks-375").await;
    browser
        .goto(&format!("{base}/portal/hooks/{}", hook.id))
        .await
        .unwrap();
    screenshot(&browser, "hook-375").await;
    browser
        .goto(&format!("{base}/portal/events"))
        .await
        .unwrap();
    screenshot(&browser, "events-375").await;
    browser.set_window_size(1200, 900).await.unwrap();

    // Delete, after the confirmation step.
    browser
        .goto(&format!("{base}/portal/hooks/{}", failing.id))
        .await
        .unwrap();
    click(&browser, Locator::LinkText("Delete…")).await;
    assert_eq!(text(&browser, "h1").await, "Delete this hook?");
    screenshot(&browser, "delete").await;
    click_button(&browser, "Delete the hook").await;
    assert!(text(&browser, "p.notice").await.contains("deleted"));
    assert_eq!(hooks.list_hooks("ann", None, 10).await.unwrap().len(), 1);

    browser.close().await.unwrap();
    hooks.shutdown(Duration::from_secs(1)).await;
}

/// The portal over plain HTTP, without a browser: what it refuses, and the
/// headers it sends.
mod over_http {
    use super::*;
    use reqwest::StatusCode;
    use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, SET_COOKIE};

    struct Served {
        base: String,
        hooks: Hooks,
        link: String,
        client: reqwest::Client,
        _dir: tempfile::TempDir,
    }

    async fn served() -> Served {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("hooks.db"))
            .await
            .unwrap();
        let hooks = Hooks::builder(&EVENTS, store)
            .target_policy(common::loopback_policy())
            .concurrency(0)
            .build()
            .await
            .unwrap();
        let portal = Portal::new(hooks.clone(), [9; 32]);
        let link = portal.link("ann", Duration::from_secs(600));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = portal.router();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Served {
            base,
            hooks,
            link,
            client,
            _dir: dir,
        }
    }

    impl Served {
        /// Opens the link; the session cookie it sets.
        async fn sign_in(&self) -> String {
            let response = self
                .client
                .get(format!("{}{}", self.base, self.link))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
            cookie.split(';').next().unwrap().to_owned()
        }

        async fn get(&self, cookie: &str, path: &str) -> reqwest::Response {
            self.client
                .get(format!("{}/portal{path}", self.base))
                .header(COOKIE, cookie)
                .send()
                .await
                .unwrap()
        }

        async fn post(&self, cookie: &str, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
            self.client
                .post(format!("{}/portal{path}", self.base))
                .header(COOKIE, cookie)
                .form(form)
                .send()
                .await
                .unwrap()
        }

        /// The CSRF token in the hooks page's forms.
        async fn csrf(&self, cookie: &str) -> String {
            let page = self.get(cookie, "").await.text().await.unwrap();
            let start = page.find(r#"name="csrf" value=""#).unwrap() + 19;
            page[start..].split('"').next().unwrap().to_owned()
        }
    }

    #[tokio::test]
    async fn a_link_sets_a_strict_http_only_session_cookie_secure_under_https() {
        let served = served().await;
        let cookie = served
            .client
            .get(format!("{}{}", served.base, served.link))
            .send()
            .await
            .unwrap()
            .headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(cookie.contains("; HttpOnly; SameSite=Strict"), "{cookie}");
        assert!(!cookie.contains("Secure"), "{cookie}");
        let behind_https = served
            .client
            .get(format!("{}{}", served.base, served.link))
            .header("x-forwarded-proto", "https")
            .send()
            .await
            .unwrap();
        let cookie = behind_https.headers()[SET_COOKIE].to_str().unwrap();
        assert!(cookie.ends_with("; Secure"), "{cookie}");
    }

    #[tokio::test]
    async fn pages_send_a_strict_content_security_policy_and_hide_other_owners_hooks() {
        let served = served().await;
        let bobs = served
            .hooks
            .subscribe(NewHook::new("bob", "book.added", "http://127.0.0.1:9/bob"))
            .await
            .unwrap();
        let cookie = served.sign_in().await;
        for path in ["", "/events", "/nowhere"] {
            let response = served.get(&cookie, path).await;
            let csp = response.headers()[CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap();
            assert!(csp.starts_with("default-src 'self'"), "{path}: {csp}");
        }
        let theirs = served.get(&cookie, &format!("/hooks/{}", bobs.id)).await;
        assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
        let delete = served
            .get(&cookie, &format!("/hooks/{}/delete", bobs.id))
            .await;
        assert_eq!(delete.status(), StatusCode::NOT_FOUND);
        let not_an_id = served.get(&cookie, "/hooks/not-an-id").await;
        assert_eq!(not_an_id.status(), StatusCode::NOT_FOUND);
        // Acting on it with a valid form is a 404 too, and changes nothing.
        let csrf = served.csrf(&cookie).await;
        let pause = served
            .post(
                &cookie,
                &format!("/hooks/{}/pause", bobs.id),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(pause.status(), StatusCode::NOT_FOUND);
        assert!(served.hooks.get_hook("bob", bobs.id).await.unwrap().active);
        // Without a session, or with a forged one, nothing is shown.
        let none = served.get("", "").await;
        assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
        let forged = served
            .get("rh_portal=c2Vzc2lvbgo5OTk5OTk5OTk5CmJvYg.AAAA", "")
            .await;
        assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn forms_without_their_csrf_token_or_with_bad_input_change_nothing() {
        let served = served().await;
        let cookie = served.sign_in().await;
        let hook = served
            .hooks
            .subscribe(NewHook::new("ann", "book.added", "http://127.0.0.1:9/ann"))
            .await
            .unwrap();
        let pause = format!("/hooks/{}/pause", hook.id);
        for token in [None, Some("forged")] {
            let form: Vec<(&str, &str)> = token.map(|t| ("csrf", t)).into_iter().collect();
            let refused = served.post(&cookie, &pause, &form).await;
            assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        }
        assert!(served.hooks.get_hook("ann", hook.id).await.unwrap().active);

        let csrf = served.csrf(&cookie).await;
        let private = served
            .post(
                &cookie,
                "",
                &[
                    ("csrf", &csrf),
                    ("event", "book.added"),
                    ("target", "http://10.0.0.1/in"),
                ],
            )
            .await;
        assert_eq!(private.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = private.text().await.unwrap();
        assert!(page.contains("not allowed"), "{page}");
        assert!(
            page.contains(r#"value="http://10.0.0.1/in""#),
            "the target is kept"
        );
        let unknown = served
            .post(
                &cookie,
                "",
                &[
                    ("csrf", &csrf),
                    ("event", "no.such"),
                    ("target", "http://127.0.0.1:9/x"),
                ],
            )
            .await;
        assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let bad_target = served
            .post(
                &cookie,
                &format!("/hooks/{}/target", hook.id),
                &[("csrf", &csrf), ("target", "not a url")],
            )
            .await;
        assert_eq!(bad_target.status(), StatusCode::UNPROCESSABLE_ENTITY);
        for since in ["yesterday", ""] {
            let recover = served
                .post(
                    &cookie,
                    &format!("/hooks/{}/recover", hook.id),
                    &[("csrf", &csrf), ("since", since)],
                )
                .await;
            assert_eq!(
                recover.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{since}"
            );
        }
        assert_eq!(
            served.hooks.list_hooks("ann", None, 10).await.unwrap(),
            std::slice::from_ref(&hook)
        );

        // With its token, the same forms work.
        let an_hour_ago = (time::OffsetDateTime::now_utc() - time::Duration::hours(1))
            .format(
                &time::format_description::parse_borrowed::<2>(
                    "[year]-[month]-[day]T[hour]:[minute]",
                )
                .unwrap(),
            )
            .unwrap();
        let recover = served
            .post(
                &cookie,
                &format!("/hooks/{}/recover", hook.id),
                &[("csrf", &csrf), ("since", &an_hour_ago)],
            )
            .await;
        assert_eq!(recover.status(), StatusCode::SEE_OTHER);
        let paused = served.post(&cookie, &pause, &[("csrf", &csrf)]).await;
        assert_eq!(paused.status(), StatusCode::SEE_OTHER);
        let hooks = served.hooks.list_hooks("ann", None, 10).await.unwrap();
        assert!(!hooks[0].active);
    }

    #[tokio::test]
    async fn mounted_at_the_root_it_leaves_the_rest_to_the_application() {
        let hooks = Hooks::builder(&EVENTS, rest_hooks::store::MemoryStore::new())
            .concurrency(0)
            .build()
            .await
            .unwrap();
        let nested = Portal::new(hooks.clone(), [9; 32]).mounted_at("portal/");
        assert!(
            nested
                .link("ann", Duration::from_secs(60))
                .starts_with("/portal/login/")
        );
        let portal = Portal::new(hooks, [9; 32])
            .mounted_at("/")
            .secure_cookies(true);
        let link = portal.link("ann", Duration::from_secs(600));
        assert!(link.starts_with("/login/"), "{link}");
        let app = axum::Router::new()
            .fallback(|| async { (axum::http::StatusCode::IM_A_TEAPOT, "the application's own") })
            .merge(portal.router());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = reqwest::Client::new();

        let opened = client.get(format!("{base}{link}")).send().await.unwrap();
        let cookie = opened.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        assert!(cookie.contains("; Path=/;"), "{cookie}");
        assert!(cookie.ends_with("; Secure"), "{cookie}");
        let session = cookie.split(';').next().unwrap();
        let hooks_page = client
            .get(format!("{base}/"))
            .header(COOKIE, session)
            .send()
            .await
            .unwrap();
        assert_eq!(hooks_page.status(), StatusCode::OK);
        assert!(hooks_page.text().await.unwrap().contains("Your hooks"));
        let elsewhere = client.get(format!("{base}/nowhere")).send().await.unwrap();
        assert_eq!(elsewhere.status(), StatusCode::IM_A_TEAPOT);
    }
}
