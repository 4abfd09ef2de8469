//! The subscription resource: `/hooks` and `/events`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use super::Api;
use super::extract::{Body, Id, IdempotencyKey, Owner, Query};
use super::problem::Problem;
use super::views::{EventList, EventView, HookPage, HookView, Page, ProblemBody, paged};
use crate::hook::{HookPatch, NewHook};
use crate::model::HookInfo;

/// A subscription request.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Subscription {
    /// An event of the table.
    event: String,
    /// An absolute `http` or `https` URL, at most 2,048 bytes, that the SSRF
    /// guard allows.
    #[schema(pattern = "^https?://[^/?#\\s]+", min_length = 8, max_length = 2048)]
    target: String,
    /// Free JSON kept with the hook.
    #[serde(default)]
    #[schema(value_type = Object)]
    metadata: Value,
    /// Headers sent with every delivery: at most 10, lowercase names.
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// `POST /hooks`, with an `Idempotency-Key` or without: 201 with the hook and its
/// secret, also when an earlier request with the key made it (then with
/// `Idempotent-Replayed: true`).
#[utoipa::path(post, path = "/hooks", tag = "hooks", request_body = Subscription,
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "The same key and body within 24 h answer the same hook.")),
    responses(
        (status = 201, description = "Subscribed; the secret is shown this once.", body = HookView),
        (status = 409, description = "The idempotency key was used for another request.", body = ProblemBody, content_type = "application/problem+json"),
        (status = "4XX", description = "A problem: malformed (400), no owner (401), too large (413), not JSON (415), refused (422).", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub(super) async fn subscribe(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    IdempotencyKey(key): IdempotencyKey,
    Body(body): Body<Subscription>,
) -> Result<impl IntoResponse, Problem> {
    let mut new = NewHook::new(owner, body.event, body.target).metadata(body.metadata);
    new.headers = body.headers;
    let (hook, replayed) = match key {
        Some(key) => api.hooks.subscribe_once(new, &key).await?,
        None => (api.hooks.subscribe(new).await?, false),
    };
    let location =
        HeaderValue::from_str(&format!("hooks/{}", hook.id)).map_err(|_| Problem::not_found())?;
    let replayed = HeaderValue::from_static(if replayed { "true" } else { "false" });
    Ok((
        StatusCode::CREATED,
        [
            (header::LOCATION, location),
            (HeaderName::from_static("idempotent-replayed"), replayed),
        ],
        Json(HookView::new(hook, true)),
    ))
}

/// `GET /hooks`: the caller's hooks, oldest first.
#[utoipa::path(get, path = "/hooks", tag = "hooks", params(Page),
    responses(
        (status = 200, description = "A page of hooks.", body = HookPage),
        (status = "4XX", description = "A problem: a bad query (400), no owner (401).", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub(super) async fn list_hooks(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    Query(page): Query<Page>,
) -> Result<Json<HookPage>, Problem> {
    let (limit, cursor) = page.parse()?;
    let hooks = api.hooks.list_hooks(&owner, cursor, limit + 1).await?;
    let (hooks, next_cursor) = paged(hooks, limit, |h| h.id);
    let hooks = hooks.into_iter().map(|h| HookView::new(h, false)).collect();
    Ok(Json(HookPage { hooks, next_cursor }))
}

/// `GET /hooks/{id}`.
#[utoipa::path(get, path = "/hooks/{id}", tag = "hooks", params(("id" = Uuid, Path, description = "The hook's id.")),
    responses(
        (status = 200, description = "The hook.", body = HookView),
        (status = "4XX", description = "A problem: no owner (401), no such hook of the caller's (404).", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub(super) async fn get_hook(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    Id(id): Id,
) -> Result<Json<HookView>, Problem> {
    let hook = api.hooks.get_hook(&owner, id).await?;
    Ok(Json(HookView::new(hook, false)))
}

/// `PATCH /hooks/{id}`: what is absent stays as it is; `"metadata": null` sets
/// it to `null`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Change {
    /// A new target, checked as at subscribe.
    #[schema(pattern = "^https?://[^/?#\\s]+", min_length = 8, max_length = 2048)]
    target: Option<String>,
    /// `false` pauses; `true` resumes, or enables a disabled hook again.
    active: Option<bool>,
    /// New metadata.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    /// New custom headers, replacing the old ones.
    headers: Option<BTreeMap<String, String>>,
    /// With `"active": true`: send what the hook held (the default), or discard it.
    replay: Option<bool>,
}

/// A field that is there, `null` included (`Option` alone reads `null` as absent).
fn present<'de, D: Deserializer<'de>>(value: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(value).map(Some)
}

/// `PATCH /hooks/{id}`: move, pause, resume, enable again, new metadata or headers.
#[utoipa::path(patch, path = "/hooks/{id}", tag = "hooks", params(("id" = Uuid, Path, description = "The hook's id.")), request_body = Change,
    responses(
        (status = 200, description = "The hook as changed.", body = HookView),
        (status = "4XX", description = "A problem: malformed (400), no owner (401), no such hook (404), too large (413), not JSON (415), refused (422).", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub(super) async fn update_hook(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    Id(id): Id,
    Body(change): Body<Change>,
) -> Result<Json<HookView>, Problem> {
    let mut patch = HookPatch::new();
    patch.target = change.target;
    patch.active = change.active;
    patch.metadata = change.metadata;
    patch.headers = change.headers;
    patch.replay = change.replay.unwrap_or(true);
    let hook = api.hooks.update_hook(&owner, id, patch).await?;
    Ok(Json(HookView::new(hook, false)))
}

/// `DELETE /hooks/{id}`, with its deliveries.
#[utoipa::path(delete, path = "/hooks/{id}", tag = "hooks", params(("id" = Uuid, Path, description = "The hook's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = "4XX", description = "A problem: no owner (401), no such hook (404).", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub(super) async fn unsubscribe(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    Id(id): Id,
) -> Result<StatusCode, Problem> {
    api.hooks.unsubscribe(&owner, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /hooks/{id}/rotate-secret`: the old secret signs too for a grace period.
#[utoipa::path(post, path = "/hooks/{id}/rotate-secret", tag = "hooks", params(("id" = Uuid, Path, description = "The hook's id.")),
    responses(
        (status = 200, description = "The hook with its new secret, shown this once.", body = HookView),
        (status = "4XX", description = "A problem: no owner (401), no such hook (404).", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub(super) async fn rotate_secret(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    Id(id): Id,
) -> Result<Json<HookView>, Problem> {
    let hook = api.hooks.rotate_secret(&owner, id).await?;
    Ok(Json(HookView::new(hook, true)))
}

/// `POST /hooks/{id}/test`: 202 with the test delivery's id.
#[utoipa::path(post, path = "/hooks/{id}/test", tag = "hooks", params(("id" = Uuid, Path, description = "The hook's id.")),
    responses(
        (status = 202, description = "Queued: `{\"delivery\": id}`.", body = Object),
        (status = "4XX", description = "A problem: no owner (401), no such hook (404).", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub(super) async fn send_test(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    Id(id): Id,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let delivery = api.hooks.send_test(&owner, id).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "delivery": delivery }))))
}

/// `GET /events`: the catalog, each event with its description, the JSON Schema
/// of its payload as delivered, and an example of it.
#[utoipa::path(get, path = "/events", tag = "events",
    responses(
        (status = 200, description = "The event table.", body = EventList),
        (status = 401, description = "No owner for this request.", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub(super) async fn list_events(State(api): State<Arc<Api>>, Owner(_): Owner) -> Json<EventList> {
    let registry = api.hooks.registry();
    let events = registry
        .events()
        .iter()
        .map(|e| {
            let example_hook = HookInfo::placeholder(e.name);
            EventView {
                name: e.name,
                raw: e.is_raw(),
                all_owners: e.all_owners(),
                description: registry.description(e.name),
                schema: registry.payload_schema(e.name),
                example: registry.example_payload(e.name, &example_hook),
            }
        })
        .collect();
    Json(EventList { events })
}
