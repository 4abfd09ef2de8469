//! What the API shows of hooks and deliveries, and how its pages are asked for.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::problem::Problem;
use std::collections::BTreeMap;

use crate::hook::{Hook, HookState};
use crate::queue::{Attempt, Delivery, DeliveryState};

/// `?limit=&cursor=` of a listing.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct Page {
    /// How many, 1 to 200; 50 when not given.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<Uuid>)]
    cursor: Option<String>,
}

impl Page {
    const DEFAULT: usize = 50;
    const MAX: usize = 200;

    pub(super) fn new(limit: Option<usize>, cursor: Option<String>) -> Self {
        Self { limit, cursor }
    }

    /// The page size and the cursor (the last id of the previous page).
    pub(super) fn parse(self) -> Result<(usize, Option<Uuid>), Problem> {
        let limit = self.limit.unwrap_or(Self::DEFAULT);
        if limit == 0 || limit > Self::MAX {
            return Err(Problem::invalid_query(format!(
                "`limit` must be 1 to {}",
                Self::MAX
            )));
        }
        let cursor =
            match self.cursor {
                Some(cursor) => Some(Uuid::parse_str(&cursor).map_err(|_| {
                    Problem::invalid_query("`cursor` is not a cursor this API gave")
                })?),
                None => None,
            };
        Ok((limit, cursor))
    }
}

/// A page of `items` fetched with one more than `limit`: the first `limit`, and the
/// cursor of the next page when there is one.
pub(super) fn paged<T>(
    mut items: Vec<T>,
    limit: usize,
    id: impl Fn(&T) -> Uuid,
) -> (Vec<T>, Option<Uuid>) {
    let next = (items.len() > limit).then(|| id(&items[limit - 1]));
    items.truncate(limit);
    (items, next)
}

/// A hook as the API shows it; the secret only when it was just made.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Hook)]
pub(super) struct HookView {
    id: Uuid,
    event: String,
    target: String,
    state: HookState,
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
    #[schema(value_type = Object)]
    metadata: Value,
    headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl HookView {
    pub(super) fn new(hook: Hook, show_secret: bool) -> Self {
        let state = hook.state();
        Self {
            id: hook.id,
            event: hook.event,
            target: hook.target,
            state,
            active: hook.active,
            disabled_reason: hook.disabled_reason,
            created_at: hook.created_at,
            metadata: hook.metadata,
            headers: hook.headers,
            secret: show_secret.then_some(hook.secret),
        }
    }
}

/// A delivery with its attempt log, newest attempt first.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Delivery)]
pub(super) struct DeliveryView {
    id: Uuid,
    event: String,
    state: DeliveryState,
    attempts: u32,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
    test: bool,
    /// Each attempt: when, how it ended (`{"kind": "status", "detail": 500}`,
    /// `{"kind": "timeout"}`, …), how long, the start of the response.
    #[schema(value_type = Vec<Object>)]
    log: Vec<Attempt>,
}

impl DeliveryView {
    /// The views of `deliveries`, each with its attempts among `attempts`.
    pub(super) fn with_log(deliveries: Vec<Delivery>, attempts: Vec<Attempt>) -> Vec<Self> {
        let mut views: Vec<Self> = deliveries
            .into_iter()
            .map(|d| DeliveryView {
                id: d.id,
                event: d.event,
                state: d.state,
                attempts: d.attempts,
                created_at: d.created_at,
                test: d.test,
                log: Vec::new(),
            })
            .collect();
        for attempt in attempts {
            if let Some(view) = views.iter_mut().find(|v| v.id == attempt.delivery_id) {
                view.log.push(attempt);
            }
        }
        views
    }
}

/// A page of hooks.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct HookPage {
    pub(super) hooks: Vec<HookView>,
    /// The cursor of the next page; `null` on the last.
    pub(super) next_cursor: Option<Uuid>,
}

/// A page of the delivery log.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct DeliveryPage {
    pub(super) deliveries: Vec<DeliveryView>,
    /// The cursor of the next page; `null` on the last.
    pub(super) next_cursor: Option<Uuid>,
}

/// An RFC 9457 problem, as every error is answered.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ProblemBody {
    /// `urn:rest-hooks:problem:<kind>`: stable, to act on.
    #[serde(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    detail: String,
}

/// One event of the table, with its contract.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct EventView {
    pub(super) name: &'static str,
    /// A raw event: any payload the application fires.
    pub(super) raw: bool,
    /// A `+` mapping: every owner's hooks get it.
    pub(super) all_owners: bool,
    /// The doc comment on its entry in the table.
    pub(super) description: Option<&'static str>,
    /// The JSON Schema (2020-12) of its payload as delivered.
    #[schema(value_type = Object)]
    pub(super) schema: Option<Value>,
    /// An example payload.
    #[schema(value_type = Object)]
    pub(super) example: Option<Value>,
}

/// The event table.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct EventList {
    pub(super) events: Vec<EventView>,
}
