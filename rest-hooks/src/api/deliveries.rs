//! The delivery log: a hook's deliveries with their attempts, and sending one again.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use super::Api;
use super::extract::{Id, Owner, Query};
use super::problem::Problem;
use super::views::{DeliveryView, Page, paged};

pub(super) async fn list_deliveries(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    Id(hook_id): Id,
    Query(page): Query<Page>,
) -> Result<Json<Value>, Problem> {
    let (limit, cursor) = page.parse()?;
    let deliveries = api
        .hooks
        .list_deliveries(&owner, hook_id, cursor, limit + 1)
        .await?;
    let (deliveries, next_cursor) = paged(deliveries, limit, |d| d.id);
    // The attempts of the whole page in one read.
    let ids: Vec<Uuid> = deliveries.iter().map(|d| d.id).collect();
    let attempts = api.hooks.list_attempts(&owner, &ids).await?;
    let views = DeliveryView::with_log(deliveries, attempts);
    Ok(Json(
        json!({ "deliveries": views, "next_cursor": next_cursor }),
    ))
}

pub(super) async fn redeliver(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    Id(id): Id,
) -> Result<StatusCode, Problem> {
    api.hooks.redeliver(&owner, id).await?;
    Ok(StatusCode::ACCEPTED)
}
