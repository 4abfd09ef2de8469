//! The delivery log: an owner's deliveries with their attempts, all of them or a
//! hook's, sending one again, and recovering a hook's failed ones.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Api;
use super::extract::{Body, Id, Owner, Query};
use super::problem::Problem;
use super::views::{DeliveryView, Page, paged};
use crate::queue::{DeliveryFilter, DeliveryState};

/// `GET /hooks/{id}/deliveries`: the hook's.
pub(super) async fn list_hook_deliveries(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    Id(hook_id): Id,
    Query(page): Query<Page>,
) -> Result<Json<Value>, Problem> {
    log_page(&api, &owner, DeliveryFilter::of_hook(hook_id), page).await
}

/// `GET /deliveries?state=&hook=&since=&limit=&cursor=`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Listing {
    state: Option<DeliveryState>,
    hook: Option<String>,
    since: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /deliveries`: the owner's, across hooks.
pub(super) async fn list_deliveries(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    Query(listing): Query<Listing>,
) -> Result<Json<Value>, Problem> {
    let mut filter = DeliveryFilter::new();
    filter.state = listing.state;
    if let Some(hook) = &listing.hook {
        let hook =
            Uuid::parse_str(hook).map_err(|_| Problem::invalid_query("`hook` is not a hook id"))?;
        filter.hook = Some(hook);
    }
    if let Some(since) = &listing.since {
        filter.since = Some(rfc3339(since, "since").map_err(Problem::invalid_query)?);
    }
    let page = Page::new(listing.limit, listing.cursor);
    log_page(&api, &owner, filter, page).await
}

/// A page of the log with the attempts of each delivery, read at once.
async fn log_page(
    api: &Api,
    owner: &str,
    filter: DeliveryFilter,
    page: Page,
) -> Result<Json<Value>, Problem> {
    let (limit, cursor) = page.parse()?;
    let deliveries = api
        .hooks
        .list_deliveries(owner, &filter, cursor, limit + 1)
        .await?;
    let (deliveries, next_cursor) = paged(deliveries, limit, |d| d.id);
    // The attempts of the whole page in one read.
    let ids: Vec<Uuid> = deliveries.iter().map(|d| d.id).collect();
    let attempts = api.hooks.list_attempts(owner, &ids).await?;
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

/// `POST /hooks/{id}/recover`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Recovery {
    since: String,
    until: Option<String>,
}

pub(super) async fn recover(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    Id(hook_id): Id,
    Body(recovery): Body<Recovery>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let bad_time = |detail: String| Problem::new(StatusCode::BAD_REQUEST, "invalid-body", detail);
    let since = rfc3339(&recovery.since, "since").map_err(bad_time)?;
    let until = match &recovery.until {
        Some(until) => Some(rfc3339(until, "until").map_err(bad_time)?),
        None => None,
    };
    let requeued = api.hooks.recover(&owner, hook_id, since, until).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "requeued": requeued }))))
}

/// A time written as RFC 3339 (`2026-12-03T08:00:00Z`), or what is wrong with it.
fn rfc3339(text: &str, field: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| format!("`{field}` is not an RFC 3339 time, like `2026-12-03T08:00:00Z`"))
}
