//! What the SQL stores share: turning rows into values, and writing deliveries into
//! a caller's transaction.

use async_trait::async_trait;
use uuid::Uuid;

use super::from_millis;
use crate::delivery::{Delivery, DeliveryState};
use crate::error::{Error, Result};
use crate::hook::Hook;

/// A hook row: id, owner, event, target, secret, active, created_at, metadata.
pub(super) type HookRow = (String, String, String, String, String, bool, i64, String);

/// A delivery row: id, hook_id, owner, event, target, payload, state, attempts,
/// created_at.
pub(super) type DeliveryRow = (
    String,
    String,
    String,
    String,
    String,
    Vec<u8>,
    String,
    i64,
    i64,
);

pub(super) fn hook_from_row(row: HookRow) -> Result<Hook> {
    let (id, owner, event, target, secret, active, created_at, metadata) = row;
    Ok(Hook {
        id: parse_id(&id)?,
        owner,
        event,
        target,
        secret,
        active,
        created_at: from_millis(created_at),
        metadata: serde_json::from_str(&metadata)
            .map_err(|e| corrupt(format!("hook metadata: {e}")))?,
    })
}

pub(super) fn delivery_from_row(row: DeliveryRow) -> Result<Delivery> {
    let (id, hook_id, owner, event, target, payload, state, attempts, created_at) = row;
    Ok(Delivery {
        id: parse_id(&id)?,
        hook_id: parse_id(&hook_id)?,
        owner,
        event,
        target,
        payload,
        state: DeliveryState::from_name(&state)
            .ok_or_else(|| corrupt(format!("delivery state `{state}`")))?,
        attempts: u32::try_from(attempts)
            .map_err(|_| corrupt(format!("delivery attempts {attempts}")))?,
        created_at: from_millis(created_at),
    })
}

fn parse_id(id: &str) -> Result<Uuid> {
    Uuid::parse_str(id).map_err(|_| corrupt(format!("id `{id}`")))
}

fn corrupt(what: String) -> Error {
    Error::Store(format!("unreadable {what} in the store").into())
}

/// How many deliveries one `INSERT` writes: 11 parameters a row stays well under
/// SQLite's and PostgreSQL's limits on bound parameters.
pub(super) const INSERT_CHUNK: usize = 1000;

/// A database connection that deliveries can be written into, inside the caller's
/// transaction: `hooks.fire_in(&mut *tx, …)` queues them so that they exist exactly
/// when the transaction commits.
#[async_trait]
pub trait WriteDeliveries: Send {
    /// Inserts the deliveries through this connection.
    async fn write_deliveries(&mut self, deliveries: &[Delivery]) -> Result<()>;
}

/// The crate's migrations for one backend, tracked in `rest_hooks_migrations` so
/// that they never mix with the application's own sqlx migrations.
pub(super) fn migrator(files: &[(i64, &'static str, &'static str)]) -> sqlx::migrate::Migrator {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    let migrations = files
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                description.into(),
                MigrationType::Simple,
                sqlx::SqlStr::from_static(sql),
                false,
            )
        })
        .collect();
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.dangerous_set_table_name("rest_hooks_migrations");
    migrator
}
