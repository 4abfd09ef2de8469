//! The management API (feature `axum`): the REST resource of the REST Hooks pattern,
//! through which owners subscribe, list, inspect and delete their hooks.
//!
//! | method and path | answers |
//! |---|---|
//! | `POST /hooks` `{"event", "target", "metadata"?}` | 201, the hook with its secret (shown this once), `Location` |
//! | `GET /hooks?limit=&cursor=` | the caller's hooks, oldest first, and `next_cursor` |
//! | `GET /hooks/{id}` | the hook |
//! | `PATCH /hooks/{id}` `{"target"?, "active"?, "metadata"?, "headers"?, "replay"?}` | the hook as changed: moved, paused, resumed, enabled again |
//! | `DELETE /hooks/{id}` | 204 |
//! | `POST /hooks/{id}/rotate-secret` | the hook with its new secret; the old one signs too for a grace period |
//! | `GET /hooks/{id}/deliveries?limit=&cursor=` | deliveries, newest first, each with its attempts |
//! | `POST /hooks/{id}/recover` `{"since", "until"?}` (RFC 3339, 14 days back at most) | 202 `{"requeued": n}`: its failed deliveries of that window sent again |
//! | `GET /deliveries?state=&hook=&since=&limit=&cursor=` | the caller's deliveries across hooks, newest first, each with its attempts |
//! | `POST /deliveries/{id}/redeliver` | 202: sent again now |
//! | `POST /hooks/{id}/test` | 202 `{"delivery": id}`: the event's example payload, sent now, marked as a test |
//! | `GET /events` | the events of the table, each with its description, payload schema and example |
//! | `GET /openapi.json` | this API's OpenAPI 3.1 document, with a `webhooks` entry per event (no owner needed) |
//!
//! Errors are `application/problem+json` (RFC 9457) with a stable `type`. Another
//! owner's hook is a 404, as an unknown one is: the API never tells that it exists.

mod deliveries;
mod extract;
mod hooks;
mod openapi;
pub(crate) mod problem;
mod views;

pub use openapi::openapi;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::routing::{get, post};

use crate::hooks::Hooks;
use problem::Problem;

/// The largest request body the API reads.
pub const MAX_BODY: usize = 64 * 1024;

/// Turns a request into the owner it acts for; `None` answers 401.
#[async_trait]
pub trait OwnerResolver: Send + Sync + 'static {
    /// The owner of the request, from its headers (a session, a token…).
    async fn owner(&self, request: &Parts) -> Option<String>;
}

/// An [`OwnerResolver`] for `Authorization: Bearer <key>`, through a map of API
/// keys to owners.
#[derive(Debug, Clone, Default)]
pub struct BearerKeys {
    owners: HashMap<String, String>,
}

impl BearerKeys {
    /// Resolves each key of `keys` to its owner.
    pub fn new(keys: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            owners: keys.into_iter().collect(),
        }
    }
}

#[async_trait]
impl OwnerResolver for BearerKeys {
    async fn owner(&self, request: &Parts) -> Option<String> {
        let value = request.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let key = value.strip_prefix("Bearer ")?;
        self.owners.get(key).cloned()
    }
}

struct Api {
    hooks: Hooks,
    resolver: Box<dyn OwnerResolver>,
}

/// The management API of `hooks`, for the owners that `resolver` finds. Nest it
/// where the application likes: `app.nest("/api", rest_hooks::api::router(…))`.
/// Each handler is named after the [`Hooks`] method it calls.
pub fn router(hooks: Hooks, resolver: impl OwnerResolver) -> Router {
    let api = Arc::new(Api {
        hooks,
        resolver: Box::new(resolver),
    });
    Router::new()
        .route("/hooks", post(hooks::subscribe).get(hooks::list_hooks))
        .route(
            "/hooks/{id}",
            get(hooks::get_hook)
                .patch(hooks::update_hook)
                .delete(hooks::unsubscribe),
        )
        .route("/hooks/{id}/rotate-secret", post(hooks::rotate_secret))
        .route(
            "/hooks/{id}/deliveries",
            get(deliveries::list_hook_deliveries),
        )
        .route("/hooks/{id}/recover", post(deliveries::recover))
        .route("/hooks/{id}/test", post(hooks::send_test))
        .route("/deliveries", get(deliveries::list_deliveries))
        .route("/deliveries/{id}/redeliver", post(deliveries::redeliver))
        .route("/events", get(hooks::list_events))
        .route("/openapi.json", get(openapi_document))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(api)
}

/// `GET /health` for load balancers, without an owner: 200 when `hooks` are
/// healthy (the store answers, the engine runs), 503 when not, with
/// [`Health`](crate::Health) as JSON either way. Nest it apart from the owners'
/// API, where no resolver stands in front of it.
pub fn health_router(hooks: Hooks) -> Router {
    Router::new()
        .route("/health", get(health))
        .with_state(hooks)
}

async fn health(
    axum::extract::State(hooks): axum::extract::State<Hooks>,
) -> (StatusCode, axum::Json<crate::Health>) {
    let health = hooks.health().await;
    let status = if health.is_healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(health))
}

/// `GET /openapi.json`: the document, for anyone (it says nothing of an owner).
async fn openapi_document(
    axum::extract::State(api): axum::extract::State<Arc<Api>>,
) -> axum::Json<serde_json::Value> {
    axum::Json(openapi(api.hooks.registry()))
}

async fn not_found() -> Problem {
    Problem::not_found()
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this path does not take this method",
    )
}
