//! The management API (feature `axum`): the REST resource of the REST Hooks pattern,
//! through which owners subscribe, list, inspect and delete their hooks.
//!
//! | method and path | answers |
//! |---|---|
//! | `POST /hooks` `{"event", "target", "metadata"?}` | 201, the hook with its secret (shown this once), `Location` |
//! | `GET /hooks?limit=&cursor=` | the caller's hooks, oldest first, and `next_cursor` |
//! | `GET /hooks/{id}` | the hook |
//! | `DELETE /hooks/{id}` | 204 |
//! | `POST /hooks/{id}/rotate-secret` | the hook with its new secret; the old one signs too for a grace period |
//! | `GET /hooks/{id}/deliveries?limit=&cursor=` | deliveries, newest first, each with its attempts |
//! | `POST /deliveries/{id}/retry` | 202: attempted again now |
//! | `GET /events` | the events of the table |
//!
//! Errors are `application/problem+json` (RFC 9457) with a stable `type`. Another
//! owner's hook is a 404, as an unknown one is: the API never tells that it exists.

use std::collections::HashMap;

use async_trait::async_trait;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

use crate::delivery::{Attempt, Delivery, DeliveryState};
use crate::error::Error;
use crate::hook::{Hook, NewHook};
use crate::hooks::Hooks;

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
pub fn router(hooks: Hooks, resolver: impl OwnerResolver) -> Router {
    let api = Arc::new(Api {
        hooks,
        resolver: Box::new(resolver),
    });
    Router::new()
        .route("/hooks", post(create).get(list))
        .route("/hooks/{id}", get(show).delete(remove))
        .route("/hooks/{id}/rotate-secret", post(rotate))
        .route("/hooks/{id}/deliveries", get(deliveries))
        .route("/deliveries/{id}/retry", post(retry))
        .route("/events", get(events))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(api)
}

/// An RFC 9457 problem.
#[derive(Debug)]
struct Problem {
    status: StatusCode,
    kind: &'static str,
    detail: String,
}

impl Problem {
    fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            detail: detail.into(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = json!({
            "type": format!("urn:rest-hooks:problem:{}", self.kind),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

impl From<Error> for Problem {
    fn from(error: Error) -> Self {
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        match error {
            Error::UnknownEvent(_) => {
                Problem::new(unprocessable, "unknown-event", error.to_string())
            }
            Error::InvalidTarget { .. } => {
                Problem::new(unprocessable, "invalid-target", error.to_string())
            }
            Error::TargetNotAllowed { .. } => {
                Problem::new(unprocessable, "target-not-allowed", error.to_string())
            }
            Error::InvalidSecret => {
                Problem::new(unprocessable, "invalid-secret", error.to_string())
            }
            Error::NotFound(_) => not_found_problem(),
            Error::PayloadTooLarge { .. } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                error.to_string(),
            ),
            other => {
                tracing::error!(error = %other, "the management API failed");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the hooks store failed; try again",
                )
            }
        }
    }
}

fn not_found_problem() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not-found", "no such resource")
}

fn body_problem(rejection: JsonRejection) -> Problem {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "expected `Content-Type: application/json`",
        ),
        JsonRejection::BytesRejection(_) => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!("the body is over {MAX_BODY} bytes, or could not be read"),
        ),
        JsonRejection::JsonSyntaxError(error) => {
            Problem::new(StatusCode::BAD_REQUEST, "malformed-json", error.body_text())
        }
        JsonRejection::JsonDataError(error) => {
            Problem::new(StatusCode::BAD_REQUEST, "invalid-body", error.body_text())
        }
        other => Problem::new(StatusCode::BAD_REQUEST, "invalid-body", other.body_text()),
    }
}

impl Api {
    async fn owner(&self, parts: &Parts) -> Result<String, Problem> {
        self.resolver.owner(parts).await.ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "no owner for this request",
            )
        })
    }
}

/// The owner a request acts for, or 401.
struct Owner(String);

impl axum::extract::FromRequestParts<Arc<Api>> for Owner {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<Api>) -> Result<Self, Problem> {
        api.owner(parts).await.map(Owner)
    }
}

/// An id in a path: anything that is not a UUID names nothing, so it is a 404.
fn parse_id(id: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(id).map_err(|_| not_found_problem())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateHook {
    event: String,
    target: String,
    #[serde(default)]
    metadata: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    limit: Option<usize>,
    cursor: Option<String>,
}

impl Page {
    const DEFAULT: usize = 50;
    const MAX: usize = 200;

    fn parse(query: Result<Query<Page>, QueryRejection>) -> Result<(usize, Option<Uuid>), Problem> {
        let Query(page) = query
            .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid-query", e.body_text()))?;
        let limit = page.limit.unwrap_or(Self::DEFAULT);
        if limit == 0 || limit > Self::MAX {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-query",
                format!("`limit` must be 1 to {}", Self::MAX),
            ));
        }
        let cursor = match page.cursor {
            Some(cursor) => Some(Uuid::parse_str(&cursor).map_err(|_| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-query",
                    "`cursor` is not a cursor this API gave",
                )
            })?),
            None => None,
        };
        Ok((limit, cursor))
    }
}

/// A hook as the API shows it; the secret only when it was just made.
#[derive(Serialize)]
struct HookView {
    id: Uuid,
    event: String,
    target: String,
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
    metadata: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl HookView {
    fn new(hook: Hook, show_secret: bool) -> Self {
        Self {
            id: hook.id,
            event: hook.event,
            target: hook.target,
            active: hook.active,
            disabled_reason: hook.disabled_reason,
            created_at: hook.created_at,
            metadata: hook.metadata,
            secret: show_secret.then_some(hook.secret),
        }
    }
}

#[derive(Serialize)]
struct DeliveryView {
    id: Uuid,
    event: String,
    state: DeliveryState,
    attempts: u32,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
    log: Vec<Attempt>,
}

async fn create(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    body: Result<Json<CreateHook>, JsonRejection>,
) -> Result<impl IntoResponse, Problem> {
    let Json(body) = body.map_err(body_problem)?;
    let hook = api
        .hooks
        .subscribe(NewHook::new(owner, body.event, body.target).metadata(body.metadata))
        .await?;
    let location =
        HeaderValue::from_str(&format!("hooks/{}", hook.id)).map_err(|_| not_found_problem())?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(HookView::new(hook, true)),
    ))
}

async fn list(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    query: Result<Query<Page>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let (limit, cursor) = Page::parse(query)?;
    let hooks: Vec<Hook> = api
        .hooks
        .list(&owner)
        .await?
        .into_iter()
        .filter(|h| cursor.is_none_or(|c| h.id > c))
        .take(limit + 1)
        .collect();
    let next_cursor = (hooks.len() > limit).then(|| hooks[limit - 1].id);
    let page: Vec<HookView> = hooks
        .into_iter()
        .take(limit)
        .map(|h| HookView::new(h, false))
        .collect();
    Ok(Json(json!({ "hooks": page, "next_cursor": next_cursor })))
}

async fn show(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    Path(id): Path<String>,
) -> Result<Json<HookView>, Problem> {
    let hook = api.hooks.get(&owner, parse_id(&id)?).await?;
    Ok(Json(HookView::new(hook, false)))
}

async fn remove(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    api.hooks.unsubscribe(&owner, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rotate(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    Path(id): Path<String>,
) -> Result<Json<HookView>, Problem> {
    let hook = api.hooks.rotate_secret(&owner, parse_id(&id)?).await?;
    Ok(Json(HookView::new(hook, true)))
}

async fn deliveries(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    Path(id): Path<String>,
    query: Result<Query<Page>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let hook_id = parse_id(&id)?;
    let (limit, cursor) = Page::parse(query)?;
    let page: Vec<Delivery> = api
        .hooks
        .deliveries(&owner, hook_id, cursor, limit + 1)
        .await?;
    let next_cursor = (page.len() > limit).then(|| page[limit - 1].id);
    let mut views = Vec::with_capacity(page.len().min(limit));
    for delivery in page.into_iter().take(limit) {
        let log = api.hooks.attempts(&owner, delivery.id).await?;
        views.push(DeliveryView {
            id: delivery.id,
            event: delivery.event,
            state: delivery.state,
            attempts: delivery.attempts,
            created_at: delivery.created_at,
            log,
        });
    }
    Ok(Json(
        json!({ "deliveries": views, "next_cursor": next_cursor }),
    ))
}

async fn retry(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    api.hooks.retry(&owner, parse_id(&id)?).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn events(State(api): State<Arc<Api>>, Owner(_): Owner) -> Json<Value> {
    let events: Vec<Value> = api
        .hooks
        .registry()
        .events()
        .iter()
        .map(|e| json!({ "name": e.name, "raw": e.is_raw(), "all_owners": e.all_owners() }))
        .collect();
    Json(json!({ "events": events }))
}

async fn not_found() -> Problem {
    not_found_problem()
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this path does not take this method",
    )
}
