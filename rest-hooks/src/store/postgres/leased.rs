//! A leased delivery as PostgreSQL's lease returns it: the delivery's columns
//! joined with its hook's secrets and headers. (SQLite's lease returns a row of
//! its own: see `store/sqlite/leased.rs`.)

use crate::error::Result;
use crate::queue::Delivery;
use crate::store::queue_rules::HookSecrets;
use crate::store::sql::rows::{DeliveryRow, parse_headers};

/// A leased delivery with its hook's secrets, absent when the hook is gone.
#[derive(sqlx::FromRow)]
pub(super) struct LeasedRow {
    #[sqlx(flatten)]
    delivery: DeliveryRow,
    secret: Option<String>,
    previous_secret: Option<String>,
    previous_secret_until: Option<i64>,
    active: Option<bool>,
    headers: Option<String>,
}

impl LeasedRow {
    /// The delivery, and its hook's secrets unless the hook is gone.
    pub(super) fn split(self) -> Result<(Delivery, Option<HookSecrets>)> {
        let hook = match self.secret {
            Some(secret) => Some(HookSecrets {
                secret,
                previous_secret: self.previous_secret,
                previous_secret_until: self.previous_secret_until,
                active: self.active.unwrap_or(false),
                headers: parse_headers(self.headers.as_deref().unwrap_or("{}"))?,
            }),
            None => None,
        };
        Ok((Delivery::try_from(self.delivery)?, hook))
    }
}
