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
use super::views::{HookView, Page, paged};
use crate::hook::{HookPatch, NewHook};
use crate::model::HookInfo;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Subscription {
    event: String,
    target: String,
    #[serde(default)]
    metadata: Value,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// `POST /hooks`, with an `Idempotency-Key` or without: 201 with the hook and its
/// secret, also when an earlier request with the key made it (then with
/// `Idempotent-Replayed: true`).
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

pub(super) async fn list_hooks(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    Query(page): Query<Page>,
) -> Result<Json<Value>, Problem> {
    let (limit, cursor) = page.parse()?;
    let hooks = api.hooks.list_hooks(&owner, cursor, limit + 1).await?;
    let (hooks, next_cursor) = paged(hooks, limit, |h| h.id);
    let page: Vec<HookView> = hooks.into_iter().map(|h| HookView::new(h, false)).collect();
    Ok(Json(json!({ "hooks": page, "next_cursor": next_cursor })))
}

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
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Change {
    target: Option<String>,
    active: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    metadata: Option<Value>,
    headers: Option<BTreeMap<String, String>>,
    replay: Option<bool>,
}

/// A field that is there, `null` included (`Option` alone reads `null` as absent).
fn present<'de, D: Deserializer<'de>>(value: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(value).map(Some)
}

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

pub(super) async fn unsubscribe(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    Id(id): Id,
) -> Result<StatusCode, Problem> {
    api.hooks.unsubscribe(&owner, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn rotate_secret(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    Id(id): Id,
) -> Result<Json<HookView>, Problem> {
    let hook = api.hooks.rotate_secret(&owner, id).await?;
    Ok(Json(HookView::new(hook, true)))
}

/// `POST /hooks/{id}/test`: 202 with the test delivery's id.
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
pub(super) async fn list_events(State(api): State<Arc<Api>>, Owner(_): Owner) -> Json<Value> {
    let registry = api.hooks.registry();
    let events: Vec<Value> = registry
        .events()
        .iter()
        .map(|e| {
            let example_hook = HookInfo {
                id: "00000000-0000-0000-0000-000000000000",
                event: e.name,
                target: "https://example.com/your-endpoint",
            };
            json!({
                "name": e.name,
                "raw": e.is_raw(),
                "all_owners": e.all_owners(),
                "description": registry.description(e.name),
                "schema": registry.payload_schema(e.name),
                "example": registry.example_payload(e.name, &example_hook),
            })
        })
        .collect();
    Json(json!({ "events": events }))
}
