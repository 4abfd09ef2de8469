//! Rows as the SQL stores read them, decoded by name, and what they become.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::clock::from_millis;
use crate::error::{Error, Result};
use crate::hook::Hook;
use crate::queue::{Attempt, AttemptResult, Delivery, DeliveryState};
use crate::store::StoreError;

/// `SELECT` of a whole [`HookRow`] from `rest_hooks_hooks`, as both dialects
/// write it, then the rest of the query (a macro, so that the query is a literal).
macro_rules! select_hooks {
    ($($rest:literal),+) => {
        concat!(
            "SELECT id, owner, event, target, secret, active, created_at, CAST(metadata AS TEXT) AS metadata, disabled_reason, CAST(headers AS TEXT) AS headers FROM rest_hooks_hooks ",
            $($rest),+
        )
    };
}

/// `SELECT` of a whole [`DeliveryRow`] from `rest_hooks_deliveries`, then the rest.
macro_rules! select_deliveries {
    ($rest:literal) => {
        concat!(
            "SELECT id, hook_id, owner, event, target, payload, state, attempts, created_at, test FROM rest_hooks_deliveries ",
            $rest
        )
    };
}

/// `SELECT` of whole [`AttemptRow`]s of the owner's deliveries, then the rest.
macro_rules! select_attempts {
    ($rest:literal) => {
        concat!(
            "SELECT a.delivery_id, a.hook_id, a.attempted_at, a.status, a.error, a.duration_ms, a.response_body
             FROM rest_hooks_attempts a JOIN rest_hooks_deliveries d ON d.id = a.delivery_id ",
            $rest
        )
    };
}

pub(in crate::store) use {select_attempts, select_deliveries, select_hooks};

#[derive(sqlx::FromRow)]
pub(in crate::store) struct HookRow {
    id: String,
    owner: String,
    event: String,
    target: String,
    secret: String,
    active: bool,
    created_at: i64,
    metadata: String,
    disabled_reason: Option<String>,
    headers: String,
}

impl TryFrom<HookRow> for Hook {
    type Error = Error;

    fn try_from(row: HookRow) -> Result<Hook> {
        Ok(Hook {
            id: parse_id(&row.id)?,
            owner: row.owner,
            event: row.event,
            target: row.target,
            secret: row.secret,
            active: row.active,
            disabled_reason: row.disabled_reason,
            created_at: from_millis(row.created_at),
            metadata: serde_json::from_str(&row.metadata)
                .map_err(|e| corrupt(format!("hook metadata: {e}")))?,
            headers: parse_headers(&row.headers)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct DeliveryRow {
    id: String,
    hook_id: String,
    owner: String,
    event: String,
    target: String,
    payload: Vec<u8>,
    state: String,
    attempts: i64,
    created_at: i64,
    test: bool,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = Error;

    fn try_from(row: DeliveryRow) -> Result<Delivery> {
        Ok(Delivery {
            id: parse_id(&row.id)?,
            hook_id: parse_id(&row.hook_id)?,
            owner: row.owner,
            event: row.event,
            target: row.target,
            payload: row.payload,
            state: DeliveryState::from_name(&row.state)
                .ok_or_else(|| corrupt(format!("delivery state `{}`", row.state)))?,
            attempts: u32::try_from(row.attempts)
                .map_err(|_| corrupt(format!("delivery attempts {}", row.attempts)))?,
            created_at: from_millis(row.created_at),
            test: row.test,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct AttemptRow {
    delivery_id: String,
    hook_id: String,
    attempted_at: i64,
    status: Option<i64>,
    error: Option<String>,
    duration_ms: i64,
    response_body: Option<String>,
}

impl TryFrom<AttemptRow> for Attempt {
    type Error = Error;

    fn try_from(row: AttemptRow) -> Result<Attempt> {
        Ok(Attempt {
            delivery_id: parse_id(&row.delivery_id)?,
            hook_id: parse_id(&row.hook_id)?,
            attempted_at: from_millis(row.attempted_at),
            result: AttemptResult::from_stored(row.status, row.error.as_deref()),
            duration_ms: u64::try_from(row.duration_ms).unwrap_or_default(),
            response_body: row.response_body,
        })
    }
}

/// A hook's custom headers, kept as a JSON object.
pub(in crate::store) fn parse_headers(text: &str) -> Result<BTreeMap<String, String>> {
    serde_json::from_str(text).map_err(|e| corrupt(format!("hook headers: {e}")))
}

/// Converts rows, failing on the first that does not convert.
pub(in crate::store) fn convert<R, T: TryFrom<R, Error = Error>>(rows: Vec<R>) -> Result<Vec<T>> {
    rows.into_iter().map(T::try_from).collect()
}

pub(in crate::store) fn parse_id(id: &str) -> Result<Uuid> {
    Uuid::parse_str(id).map_err(|_| corrupt(format!("id `{id}`")))
}

pub(in crate::store) fn corrupt(what: String) -> Error {
    Error::Store(StoreError::message(format!(
        "unreadable {what} in the store"
    )))
}

/// What a SQL store's count of its queue reads: due, leased, held and failed
/// deliveries, and when the oldest due one was due.
pub(in crate::store) type QueueCounts = (
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// The [`QueueDepth`](crate::store::QueueDepth) of [`QueueCounts`].
pub(in crate::store) fn queue_depth(
    (due, leased, held, failed, oldest_due_at): QueueCounts,
) -> crate::store::QueueDepth {
    let count = |n: Option<i64>| u64::try_from(n.unwrap_or(0)).unwrap_or(0);
    crate::store::QueueDepth {
        due: count(due),
        leased: count(leased),
        held: count(held),
        failed: count(failed),
        oldest_due_at,
    }
}
