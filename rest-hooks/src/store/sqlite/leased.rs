//! A leased delivery as SQLite's lease reads it: the payload, and every other
//! column with its hook's secrets in one JSON array.
//!
//! sqlx copies each value of each row (`sqlite3_value_dup`) on the
//! connection's thread and frees the copies where the row is dropped, on the
//! runtime's; every one of those allocations takes SQLite's global memory mutex,
//! which the connection's thread holds for its own. Fifteen values a row made
//! half the lease's CPU in `perf` (mostly waiting on that mutex); two make
//! little of it, and one subquery reads the hook instead of five.

use std::collections::BTreeMap;

use serde::Deserialize;
use uuid::Uuid;

use crate::clock::from_millis;
use crate::error::Result;
use crate::queue::{Delivery, DeliveryState};
use crate::store::queue_rules::HookSecrets;
use crate::store::sql::rows::corrupt;

/// What the lease reads of each row: a [`LeasedRow`] (a macro, so that the
/// statement is one literal).
macro_rules! columns {
    () => {
        "SELECT payload, json_array(
             rowid, id, hook_id, owner, event, target, attempts, created_at, test,
             (SELECT json_array(secret, previous_secret, previous_secret_until, active, json(headers))
              FROM rest_hooks_hooks h WHERE h.id = hook_id)) AS rest "
    };
}

pub(super) use columns;

/// A row of [`columns`]: the payload, and the rest as JSON.
#[derive(sqlx::FromRow)]
pub(super) struct LeasedRow {
    payload: Vec<u8>,
    rest: String,
}

/// The JSON array of a [`LeasedRow`], in the order [`columns`] writes it. The
/// state is not in it: a lease takes pending deliveries only.
#[derive(Deserialize)]
struct Rest(
    i64,
    Uuid,
    Uuid,
    String,
    String,
    String,
    u32,
    i64,
    i64,
    Option<HookColumns>,
);

/// The hook's part: absent when the hook is gone.
#[derive(Deserialize)]
struct HookColumns(
    String,
    Option<String>,
    Option<i64>,
    i64,
    BTreeMap<String, String>,
);

/// A due delivery that a lease found.
pub(super) struct Found {
    /// Its row's number in the file, by which leases skip it.
    pub(super) row: i64,
    pub(super) delivery: Delivery,
    /// Its hook's secrets; `None` when the hook is gone.
    pub(super) hook: Option<HookSecrets>,
}

impl LeasedRow {
    /// The delivery found, and its hook's secrets unless the hook is gone.
    pub(super) fn split(self) -> Result<Found> {
        let Rest(row, id, hook_id, owner, event, target, attempts, created_at, test, hook) =
            serde_json::from_str(&self.rest)
                .map_err(|e| corrupt(format!("leased delivery ({e})")))?;
        let delivery = Delivery {
            id,
            hook_id,
            owner,
            event,
            target,
            payload: self.payload,
            state: DeliveryState::Pending,
            attempts,
            created_at: from_millis(created_at),
            test: test != 0,
        };
        let hook = hook.map(
            |HookColumns(secret, previous_secret, previous_secret_until, active, headers)| {
                HookSecrets {
                    secret,
                    previous_secret,
                    previous_secret_until,
                    active: active != 0,
                    headers,
                }
            },
        );
        Ok(Found {
            row,
            delivery,
            hook,
        })
    }
}
