//! The rules of the queue that every store follows, written once: which leased
//! deliveries are sent and with which secrets, and what a batch of recorded
//! attempts changes.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::clock::millis;
use crate::hook::{Hook, HookPatch};
use crate::queue::{Attempt, Delivery, Next, Outgoing, Recorded};

/// What leasing needs of a delivery's hook.
#[derive(Debug, Clone)]
pub(super) struct HookSecrets {
    pub(super) secret: String,
    pub(super) previous_secret: Option<String>,
    /// When the previous secret stops signing, in milliseconds.
    pub(super) previous_secret_until: Option<i64>,
    pub(super) active: bool,
    pub(super) headers: BTreeMap<String, String>,
}

impl HookSecrets {
    /// The secrets that sign the hook's deliveries at `now`: the current one, and
    /// the previous one while its grace period lasts.
    fn signing(self, now: i64) -> Vec<String> {
        let mut valid = vec![self.secret];
        if let (Some(previous), Some(until)) = (self.previous_secret, self.previous_secret_until)
            && until > now
        {
            valid.push(previous);
        }
        valid
    }
}

/// Leased deliveries sorted by their hook. Only those of an active hook are sent,
/// signed with its secrets; those fired from an index that did not know yet that
/// their hook was paused, disabled or deleted (in another process, say) are not.
pub(super) struct Leased {
    /// To send, with the secrets that sign them now and the hook's headers.
    pub(super) outgoing: Vec<Outgoing>,
    /// Of a paused or disabled hook: held, as its pending deliveries were.
    pub(super) held: Vec<Uuid>,
    /// Of a deleted hook: they go, as its deliveries did.
    pub(super) gone: Vec<Uuid>,
}

impl Leased {
    /// Sorts leased deliveries, each with its hook's secrets (`None` when the hook
    /// is gone), at `now` in milliseconds.
    pub(super) fn sort(
        rows: impl IntoIterator<Item = (Delivery, Option<HookSecrets>)>,
        now: i64,
    ) -> Self {
        let mut leased = Leased {
            outgoing: Vec::new(),
            held: Vec::new(),
            gone: Vec::new(),
        };
        for (delivery, hook) in rows {
            match hook {
                Some(mut hook) if hook.active => leased.outgoing.push(Outgoing {
                    headers: std::mem::take(&mut hook.headers),
                    secrets: hook.signing(now),
                    delivery,
                }),
                Some(_) => leased.held.push(delivery.id),
                None => leased.gone.push(delivery.id),
            }
        }
        leased
    }

    /// Whether some leased deliveries are not sent.
    pub(super) fn has_unsendable(&self) -> bool {
        !self.held.is_empty() || !self.gone.is_empty()
    }
}

/// What a batch of recorded attempts changes, in the parts that a store writes
/// together.
pub(super) struct RecordPlan<'a> {
    /// When the batch is recorded, by the store's clock (milliseconds).
    pub(super) now: i64,
    /// Attempts to log (all but those whose hook is gone).
    pub(super) logged: Vec<&'a Attempt>,
    /// Deliveries that were delivered.
    pub(super) delivered: Vec<Uuid>,
    /// Hooks that took a delivery and failed none in this batch: their failing
    /// streak ends.
    pub(super) succeeding_hooks: Vec<Uuid>,
    /// Deliveries to retry, with when (milliseconds).
    pub(super) retries: Vec<(Uuid, i64)>,
    /// Deliveries given up on.
    pub(super) failed: Vec<Uuid>,
    /// Hooks with a failed attempt: their failing streak starts or goes on.
    pub(super) failing_hooks: Vec<Uuid>,
    /// Hooks gone (410): deleted with their deliveries.
    pub(super) gone_hooks: Vec<Uuid>,
}

impl<'a> RecordPlan<'a> {
    /// The plan of recording `recorded` at `now`.
    pub(super) fn new(recorded: &'a [Recorded], now: i64) -> Self {
        let mut plan = RecordPlan {
            now,
            logged: Vec::new(),
            delivered: Vec::new(),
            succeeding_hooks: Vec::new(),
            retries: Vec::new(),
            failed: Vec::new(),
            failing_hooks: Vec::new(),
            gone_hooks: Vec::new(),
        };
        for Recorded { attempt, next } in recorded {
            let (delivery, hook) = (attempt.delivery_id, attempt.hook_id);
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
        for hooks in [
            &mut plan.failing_hooks,
            &mut plan.succeeding_hooks,
            &mut plan.gone_hooks,
        ] {
            hooks.sort();
            hooks.dedup();
        }
        // A hook that succeeded and failed in one batch is judged by its failure.
        plan.succeeding_hooks
            .retain(|h| plan.failing_hooks.binary_search(h).is_err());
        plan
    }

    /// The deliveries of the attempts logged.
    pub(super) fn logged_deliveries(&self) -> Vec<Uuid> {
        self.logged.iter().map(|a| a.delivery_id).collect()
    }

    /// Whether every attempt of the batch delivered: the usual batch, which a store
    /// can write in one statement.
    pub(super) fn successes_only(&self) -> bool {
        self.retries.is_empty()
            && self.failed.is_empty()
            && self.failing_hooks.is_empty()
            && self.gone_hooks.is_empty()
    }
}

/// The least id of a delivery fired at `before` (milliseconds): a UUIDv7 id
/// starts with the time it was made, so the deliveries fired earlier are those
/// with smaller ids, which a purge takes along the primary key.
pub(super) fn fired_before(before: i64) -> Uuid {
    let millis = u64::try_from(before).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &[0; 10]).into_uuid()
}

/// What a change to a hook does to its queued deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HeldDeliveries {
    /// Nothing.
    Keep,
    /// Pausing: the pending ones are held, so that none is leased meanwhile.
    Hold,
    /// Enabling again: the held ones are due again, oldest first (each due when
    /// it was fired, so ahead of anything fired since).
    Release,
    /// Enabling again with `replay: false`: the held ones are discarded.
    Discard,
}

impl HeldDeliveries {
    pub(super) fn after(before: &Hook, patch: &HookPatch) -> Self {
        if before.active && patch.active == Some(false) {
            HeldDeliveries::Hold
        } else if patch.enables(before) {
            if patch.replay {
                HeldDeliveries::Release
            } else {
                HeldDeliveries::Discard
            }
        } else {
            HeldDeliveries::Keep
        }
    }
}
