//! The owners' portal (feature `portal`): server-rendered pages in an axum
//! [`Router`] where the owners of hooks look at them and act on them, with no
//! JavaScript and nothing loaded from elsewhere.
//!
//! | page | shows |
//! |---|---|
//! | `{mount}/` | the owner's hooks: event, target, state, the last 24 hours as a chart, the last delivery; a form to subscribe |
//! | `{mount}/hooks/{id}` | a hook, its actions, and its deliveries, newest first, by state, each with its attempts |
//! | `{mount}/events` | the event catalog: descriptions, payload schemas, examples |
//!
//! Every action is a POST form with a CSRF token: subscribe, change the target,
//! pause and resume, enable again with or without what was held, rotate the
//! secret, send a test event, redeliver, recover since a time, and delete (after
//! a confirmation page). A new or rotated secret is shown once.
//!
//! Owners get in through a portal link ([`Portal::link`]), which the application
//! hands them: opening it sets a session cookie (HttpOnly, SameSite=Strict,
//! Secure under https) and goes on to the hooks. With
//! [`Portal::resolver`], owners that the application's own
//! [`OwnerResolver`] recognises get in without one. Another owner's hook is a
//! 404, as in the API; every response carries `Content-Security-Policy:
//! default-src 'self'`.
//!
//! ```no_run
//! # async fn run(hooks: rest_hooks::Hooks) {
//! use std::time::Duration;
//! use rest_hooks::portal::Portal;
//!
//! let key = [7; 32]; // 32 secret bytes the application keeps
//! let portal = Portal::new(hooks, key).mounted_at("/portal");
//! let link = portal.link("42", Duration::from_secs(3600)); // "/portal/login/…"
//! let app = axum::Router::new().merge(portal.router());
//! # let _ = (link, app);
//! # }
//! ```

mod actions;
mod chart;
mod pages;
mod token;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use time::OffsetDateTime;

use crate::api::OwnerResolver;
use crate::hooks::Hooks;
use token::{Kind, Signer};

/// The cookie that carries a portal session.
const COOKIE: &str = "rh_portal";

/// The largest form the portal reads.
const MAX_FORM: usize = 16 * 1024;

/// The owners' portal of one [`Hooks`]: its links and its [`router`](Self::router).
pub struct Portal {
    hooks: Hooks,
    signer: Signer,
    mount: String,
    session: Duration,
    /// Whether the session cookie is `Secure`; `None`: when the request came
    /// over https, as `X-Forwarded-Proto` says.
    secure: Option<bool>,
    resolver: Option<Box<dyn OwnerResolver>>,
}

impl Portal {
    /// How long a session lasts once a link has opened it.
    pub const DEFAULT_SESSION: Duration = Duration::from_secs(12 * 3600);

    /// The portal of `hooks`, signing its links and sessions with `key`, 32
    /// secret bytes the application keeps (links signed with another key are
    /// refused). Mounted at `/portal` unless [`mounted_at`](Self::mounted_at)
    /// says otherwise.
    pub fn new(hooks: Hooks, key: [u8; 32]) -> Self {
        Self {
            hooks,
            signer: Signer::new(key),
            mount: "/portal".into(),
            session: Self::DEFAULT_SESSION,
            secure: None,
            resolver: None,
        }
    }

    /// Where the router serves the portal: `/portal` by default, `""` or `/`
    /// for the root. Links and every page's links are under it.
    pub fn mounted_at(mut self, path: &str) -> Self {
        let path = path.trim_matches('/');
        self.mount = if path.is_empty() {
            String::new()
        } else {
            format!("/{path}")
        };
        self
    }

    /// Whether the session cookie is marked `Secure` (sent over https only).
    /// Default: when the request that opened the link came over https as the
    /// proxy in front says (`X-Forwarded-Proto: https`); set it to `true` when
    /// the application serves https itself.
    pub fn secure_cookies(mut self, secure: bool) -> Self {
        self.secure = Some(secure);
        self
    }

    /// How long a session lasts once a link has opened it. Default:
    /// [`DEFAULT_SESSION`](Self::DEFAULT_SESSION).
    pub fn session(mut self, length: Duration) -> Self {
        self.session = length;
        self
    }

    /// Lets in, without a link, the owner that the application's resolver finds
    /// for a request (its own login cookie, say), as the management API does.
    /// The resolver goes first: a portal session of another owner (opened by
    /// someone else's link) does not override it.
    pub fn resolver(mut self, resolver: impl OwnerResolver) -> Self {
        self.resolver = Some(Box::new(resolver));
        self
    }

    /// A link (a path under the mount) that lets `owner` in until `ttl` has
    /// passed, to hand to that owner: `/portal/login/<signed token>`. Whoever
    /// holds it gets in, as often as they like, until it expires; keep `ttl`
    /// short, and change the key to revoke every link at once.
    pub fn link(&self, owner: &str, ttl: Duration) -> String {
        let expires = expiry(ttl);
        let token = self.signer.sign(Kind::Link, owner, expires);
        format!("{}/login/{token}", self.mount)
    }

    /// The router that serves the portal under its mount; merge it into the
    /// application's: `app.merge(portal.router())`.
    pub fn router(self) -> Router {
        let mount = self.home();
        let state = Arc::new(self);
        let pages: Router<Arc<Portal>> = Router::new()
            .route("/", get(pages::hooks).post(actions::subscribe))
            .route("/login/{token}", get(login))
            .route("/portal.css", get(stylesheet))
            .route("/events", get(pages::events))
            .route("/hooks/{id}", get(pages::hook))
            .route("/hooks/{id}/target", post(actions::change_target))
            .route("/hooks/{id}/pause", post(actions::pause))
            .route("/hooks/{id}/resume", post(actions::resume))
            .route(
                "/hooks/{id}/enable-without-replay",
                post(actions::enable_discarding),
            )
            .route("/hooks/{id}/rotate-secret", post(actions::rotate_secret))
            .route("/hooks/{id}/test", post(actions::send_test))
            .route("/hooks/{id}/recover", post(actions::recover))
            .route(
                "/hooks/{id}/delete",
                get(pages::confirm_delete).post(actions::delete),
            )
            .route("/deliveries/{id}/redeliver", post(actions::redeliver));
        // At the root the application's own fallback answers the rest.
        let pages = if mount == "/" {
            pages
        } else {
            pages.fallback(not_found)
        };
        let pages = pages
            .layer(DefaultBodyLimit::max(MAX_FORM))
            .layer(axum::middleware::map_response(secure_headers))
            .with_state(state);
        if mount == "/" {
            pages
        } else {
            Router::new().nest(&mount, pages)
        }
    }

    /// A path under the mount.
    fn path(&self, path: &str) -> String {
        format!("{}{path}", self.mount)
    }

    /// The hooks page: the mount itself.
    fn home(&self) -> String {
        if self.mount.is_empty() {
            "/".to_owned()
        } else {
            self.mount.clone()
        }
    }
}

/// Unix seconds `ttl` from now.
fn expiry(ttl: Duration) -> i64 {
    let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    OffsetDateTime::now_utc()
        .unix_timestamp()
        .saturating_add(ttl)
}

type State = axum::extract::State<Arc<Portal>>;

/// Who is looking: the owner, and the CSRF token of their forms.
pub(super) struct Viewer {
    owner: String,
    /// What the CSRF token is bound to: the session token, or for an owner the
    /// resolver found, the owner and the day.
    session: String,
    /// What it was bound to the day before, for a resolved owner's forms
    /// loaded before midnight.
    yesterday: Option<String>,
    csrf: String,
}

impl Viewer {
    /// Whether a form's token is this session's.
    fn posted(&self, portal: &Portal, token: Option<&str>) -> bool {
        token.is_some_and(|t| {
            std::iter::once(&self.session)
                .chain(&self.yesterday)
                .any(|session| portal.signer.csrf_matches(session, t))
        })
    }
}

/// What a resolved owner's CSRF tokens are bound to on day `day` (Unix days).
fn resolved_session(owner: &str, day: i64) -> String {
    format!("resolved\n{day}\n{owner}")
}

impl FromRequestParts<Arc<Portal>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        portal: &Arc<Portal>,
    ) -> Result<Self, Self::Rejection> {
        if let Some(resolver) = &portal.resolver
            && let Some(owner) = resolver.owner(parts).await
        {
            let day = OffsetDateTime::now_utc()
                .unix_timestamp()
                .div_euclid(86_400);
            let session = resolved_session(&owner, day);
            return Ok(Viewer {
                csrf: portal.signer.csrf(&session),
                yesterday: Some(resolved_session(&owner, day - 1)),
                session,
                owner,
            });
        }
        let session = cookie(&parts.headers, COOKIE)
            .and_then(|token| Some((portal.signer.verify(Kind::Session, token)?, token)));
        if let Some((owner, token)) = session {
            return Ok(Viewer {
                csrf: portal.signer.csrf(token),
                session: token.to_owned(),
                yesterday: None,
                owner,
            });
        }
        Err(pages::message(
            portal,
            StatusCode::UNAUTHORIZED,
            "Not signed in",
            "Open your portal link again to see your hooks.",
        ))
    }
}

/// The value of the cookie `name` of a request.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then_some(value)
        })
}

async fn not_found(axum::extract::State(portal): State) -> Response {
    pages::not_found(&portal)
}

/// Whether the request came over https, as the proxy in front says (the first
/// of a chain of them, the one the browser spoke to).
fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|protos| protos.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// `GET /login/{token}`: a valid link sets the session cookie and goes on to the
/// hooks; anything else is refused.
async fn login(
    axum::extract::State(portal): State,
    axum::extract::Path(token): axum::extract::Path<String>,
    request_headers: HeaderMap,
) -> Response {
    let Some(owner) = portal.signer.verify(Kind::Link, &token) else {
        return pages::message(
            &portal,
            StatusCode::FORBIDDEN,
            "This link does not work",
            "The portal link is not valid, or it has expired. Ask for a new one.",
        );
    };
    let session = portal
        .signer
        .sign(Kind::Session, &owner, expiry(portal.session));
    let mut cookie = format!(
        "{COOKIE}={session}; Path={}; Max-Age={}; HttpOnly; SameSite=Strict",
        portal.home(),
        portal.session.as_secs()
    );
    if portal
        .secure
        .unwrap_or_else(|| over_https(&request_headers))
    {
        cookie.push_str("; Secure");
    }
    // A page that goes on by itself rather than a redirect: a SameSite=Strict
    // cookie set in answer to a link followed from another site is not sent
    // along a redirect of that same navigation.
    let mut response = pages::signed_in(&portal, &owner).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("portal.css"),
    )
}

/// What every answer of the portal carries: nothing but its own resources, no
/// framing, no referrer (a link's token is in its path), no caching of pages.
async fn secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
