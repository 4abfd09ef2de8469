//! What the SQL stores share: turning rows into values, and writing deliveries into
//! a caller's transaction.

use async_trait::async_trait;

use uuid::Uuid;

use super::{from_millis, millis, signing_secrets};
use crate::delivery::{Attempt, AttemptResult, Delivery, DeliveryState, Next, Outgoing, Recorded};
use crate::error::{Error, Result};
use crate::hook::Hook;

/// A hook row: id, owner, event, target, secret, active, created_at, metadata,
/// disabled_reason.
pub(super) type HookRow = (
    String,
    String,
    String,
    String,
    String,
    bool,
    i64,
    String,
    Option<String>,
);

/// An attempt row: delivery_id, hook_id, attempted_at, status, error, duration_ms,
/// response_body.
pub(super) type AttemptRow = (
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    i64,
    Option<String>,
);

/// A secrets row: hook id, then [`HookSecrets`].
pub(super) type SecretsRow = (String, String, Option<String>, Option<i64>, bool);

/// What leasing needs of a delivery's hook: secret, previous_secret,
/// previous_secret_until, active.
pub(super) type HookSecrets = (String, Option<String>, Option<i64>, bool);

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
    let (id, owner, event, target, secret, active, created_at, metadata, disabled_reason) = row;
    Ok(Hook {
        id: parse_id(&id)?,
        owner,
        event,
        target,
        secret,
        active,
        disabled_reason,
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

pub(super) fn attempt_from_row(row: AttemptRow) -> Result<Attempt> {
    let (delivery_id, hook_id, attempted_at, status, error, duration_ms, response_body) = row;
    Ok(Attempt {
        delivery_id: parse_id(&delivery_id)?,
        hook_id: parse_id(&hook_id)?,
        attempted_at: from_millis(attempted_at),
        result: AttemptResult::from_stored(status, error.as_deref()),
        duration_ms: u64::try_from(duration_ms).unwrap_or_default(),
        response_body,
    })
}

/// Leased deliveries sorted by their hook. Only those of an active hook are sent,
/// signed with its secrets; those fired from an index that did not know yet that
/// their hook was disabled or deleted (in another process, say) are not.
pub(super) struct Leased {
    /// To send, with the secrets that sign them now.
    pub outgoing: Vec<Outgoing>,
    /// Of a disabled hook: they fail, as its pending deliveries did.
    pub disabled: Vec<String>,
    /// Of a deleted hook: they go, as its deliveries did.
    pub gone: Vec<String>,
}

impl Leased {
    pub fn sort(rows: impl IntoIterator<Item = (Delivery, Option<HookSecrets>)>, now: i64) -> Self {
        let mut leased = Leased {
            outgoing: Vec::new(),
            disabled: Vec::new(),
            gone: Vec::new(),
        };
        for (delivery, hook) in rows {
            match hook {
                Some((secret, previous, until, true)) => leased.outgoing.push(Outgoing {
                    secrets: signing_secrets(secret, previous, until, now),
                    delivery,
                }),
                Some((.., false)) => leased.disabled.push(delivery.id.to_string()),
                None => leased.gone.push(delivery.id.to_string()),
            }
        }
        leased
    }
}

/// The parts of a batch of recorded attempts that the SQL stores write together.
pub(super) struct RecordPlan<'a> {
    /// Attempts to log (all but those whose hook is gone).
    pub logged: Vec<&'a Attempt>,
    /// Deliveries that were delivered.
    pub delivered: Vec<String>,
    /// Hooks that took a delivery: their failing streak ends.
    pub succeeding_hooks: Vec<String>,
    /// Deliveries to retry, with when.
    pub retries: Vec<(String, i64)>,
    /// Deliveries given up on.
    pub failed: Vec<String>,
    /// Hooks with a failed attempt: their failing streak starts or goes on.
    pub failing_hooks: Vec<String>,
    /// Hooks gone (410).
    pub gone_hooks: Vec<String>,
}

impl<'a> RecordPlan<'a> {
    pub fn new(recorded: &'a [Recorded]) -> Self {
        let mut plan = RecordPlan {
            logged: Vec::new(),
            delivered: Vec::new(),
            succeeding_hooks: Vec::new(),
            retries: Vec::new(),
            failed: Vec::new(),
            failing_hooks: Vec::new(),
            gone_hooks: Vec::new(),
        };
        for Recorded { attempt, next } in recorded {
            let delivery = attempt.delivery_id.to_string();
            let hook = attempt.hook_id.to_string();
            match next {
                Next::HookGone => {
                    plan.gone_hooks.push(hook);
                    continue;
                }
                Next::Delivered => {
                    plan.delivered.push(delivery);
                    plan.succeeding_hooks.push(hook);
                }
                Next::RetryAt(at) => {
                    plan.retries.push((delivery, millis(*at)));
                    plan.failing_hooks.push(hook);
                }
                Next::Failed => {
                    plan.failed.push(delivery);
                    plan.failing_hooks.push(hook);
                }
            }
            plan.logged.push(attempt);
        }
        plan.failing_hooks.sort();
        plan.failing_hooks.dedup();
        plan.succeeding_hooks.sort();
        plan.succeeding_hooks.dedup();
        // A hook that succeeded and failed in one batch is judged by its failure.
        plan.succeeding_hooks
            .retain(|h| plan.failing_hooks.binary_search(h).is_err());
        plan
    }
}

pub(super) fn parse_id(id: &str) -> Result<Uuid> {
    Uuid::parse_str(id).map_err(|_| corrupt(format!("id `{id}`")))
}

fn corrupt(what: String) -> Error {
    Error::Store(format!("unreadable {what} in the store").into())
}

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
