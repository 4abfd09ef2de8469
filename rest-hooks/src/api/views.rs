//! What the API shows of hooks and deliveries, and how its pages are asked for.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::problem::Problem;
use std::collections::BTreeMap;

use crate::hook::{Hook, HookState};
use crate::queue::{Attempt, Delivery, DeliveryState};

/// `?limit=&cursor=` of a listing.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Page {
    limit: Option<usize>,
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
#[derive(Serialize)]
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
#[derive(Serialize)]
pub(super) struct DeliveryView {
    id: Uuid,
    event: String,
    state: DeliveryState,
    attempts: u32,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
    test: bool,
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
