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
use super::views::{DeliveryPage, DeliveryView, Page, ProblemBody, paged};
use crate::queue::{DeliveryFilter, DeliveryState};
#[allow(unused_imports, reason = "named in the OpenAPI annotations")]
use uuid::Uuid as _;

/// `GET /hooks/{id}/deliveries`: the hook's, newest first, with their attempts.
#[utoipa::path(get, path = "/hooks/{id}/deliveries", tag = "deliveries", params(("id" = Uuid, Path, description = "The hook's id."), Page),
    responses(
        (status = 200, description = "A page of the hook's delivery log.", body = DeliveryPage),
        (status = "4XX", description = "A problem: a bad query (400), no owner (401), no such hook (404).", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub(super) async fn list_hook_deliveries(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    Id(hook_id): Id,
    Query(page): Query<Page>,
) -> Result<Json<DeliveryPage>, Problem> {
    log_page(&api, &owner, DeliveryFilter::of_hook(hook_id), page).await
}

/// `GET /deliveries?state=&hook=&since=&limit=&cursor=`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct Listing {
    /// Only those in this state.
    state: Option<DeliveryState>,
    /// Only this hook's.
    #[param(value_type = Option<Uuid>)]
    hook: Option<String>,
    /// Only those fired at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<String>,
    /// How many, 1 to 200; 50 when not given.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<Uuid>)]
    cursor: Option<String>,
}

/// `GET /deliveries`: the caller's, across hooks, newest first, with their
/// attempts.
#[utoipa::path(get, path = "/deliveries", tag = "deliveries", params(Listing),
    responses(
        (status = 200, description = "A page of the caller's delivery log.", body = DeliveryPage),
        (status = "4XX", description = "A problem: a bad query (400), no owner (401), a hook not the caller's (404).", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub(super) async fn list_deliveries(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    Query(listing): Query<Listing>,
) -> Result<Json<DeliveryPage>, Problem> {
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
) -> Result<Json<DeliveryPage>, Problem> {
    let (limit, cursor) = page.parse()?;
    let deliveries = api
        .hooks
        .list_deliveries(owner, &filter, cursor, limit + 1)
        .await?;
    let (deliveries, next_cursor) = paged(deliveries, limit, |d| d.id);
    // The attempts of the whole page in one read.
    let ids: Vec<Uuid> = deliveries.iter().map(|d| d.id).collect();
    let attempts = api.hooks.list_attempts(owner, &ids).await?;
    let deliveries = DeliveryView::with_log(deliveries, attempts);
    Ok(Json(DeliveryPage {
        deliveries,
        next_cursor,
    }))
}

/// `POST /deliveries/{id}/redeliver`: sent again now, by hand.
#[utoipa::path(post, path = "/deliveries/{id}/redeliver", tag = "deliveries", params(("id" = Uuid, Path, description = "The delivery's id.")),
    responses(
        (status = 202, description = "Queued."),
        (status = "4XX", description = "A problem: no owner (401), no such delivery (404).", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub(super) async fn redeliver(
    State(api): State<Arc<Api>>,
    Owner(owner): Owner,
    Id(id): Id,
) -> Result<StatusCode, Problem> {
    api.hooks.redeliver(&owner, id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST /hooks/{id}/recover`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Recovery {
    /// From (RFC 3339), at most 14 days back.
    #[schema(format = DateTime)]
    since: String,
    /// Until (RFC 3339), after `since`; now when not given.
    #[schema(format = DateTime)]
    until: Option<String>,
}

/// `POST /hooks/{id}/recover`: the hook's failed deliveries of a window, sent
/// again.
#[utoipa::path(post, path = "/hooks/{id}/recover", tag = "deliveries", params(("id" = Uuid, Path, description = "The hook's id.")), request_body = Recovery,
    responses(
        (status = 202, description = "Queued: `{\"requeued\": n}`.", body = Object),
        (status = "4XX", description = "A problem: malformed (400), no owner (401), no such hook (404), too large (413), not JSON (415), a bad window (422).", body = ProblemBody, content_type = "application/problem+json"),
    ))]
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
