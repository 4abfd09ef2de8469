//! What the delivery queue (the outbox) holds: a [`Delivery`] of one event to one
//! hook, the [`Attempt`]s at it, and what follows each attempt. The stores keep
//! these; the delivery engine takes and records them.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::hook::{Hook, HookState};

/// One event on its way to one hook.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The delivery's id: a UUIDv7, the same on every attempt.
    pub id: Uuid,
    /// The hook it goes to.
    pub hook_id: Uuid,
    /// The hook's owner.
    pub owner: String,
    /// The event name.
    pub event: String,
    /// The URL it is posted to.
    pub target: String,
    /// The JSON body.
    pub payload: Vec<u8>,
    /// Where it stands.
    pub state: DeliveryState,
    /// How many attempts were made.
    pub attempts: u32,
    /// When it was fired.
    pub created_at: OffsetDateTime,
    /// Whether it is a test, sent by `POST /hooks/{id}/test` with the event's
    /// example payload.
    pub test: bool,
}

impl Delivery {
    /// A pending delivery of `payload` to `hook`.
    pub fn new(hook: &Hook, payload: Vec<u8>) -> Self {
        Self {
            id: Uuid::now_v7(),
            hook_id: hook.id,
            owner: hook.owner.clone(),
            event: hook.event.clone(),
            target: hook.target.clone(),
            payload,
            // A hook the library disabled gets its events held, for when its owner
            // enables it again.
            state: match hook.state() {
                HookState::Disabled => DeliveryState::Held,
                HookState::Active | HookState::Paused => DeliveryState::Pending,
            },
            attempts: 0,
            created_at: crate::clock::now(),
            test: false,
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "axum", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its first or next attempt.
    Pending,
    /// The target answered 2xx.
    Delivered,
    /// Given up on.
    Failed,
    /// Waiting for its hook, disabled or paused, to be enabled again; not
    /// attempted meanwhile.
    Held,
    /// Dropped unsent: its hook was enabled again without replaying what it held.
    Discarded,
}

impl DeliveryState {
    /// The name stored in SQL.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Held => "held",
            DeliveryState::Discarded => "discarded",
        }
    }

    /// The state stored as `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "failed" => Some(DeliveryState::Failed),
            "held" => Some(DeliveryState::Held),
            "discarded" => Some(DeliveryState::Discarded),
            _ => None,
        }
    }
}

/// A leased delivery, with the secrets to sign it with now: the hook's secret, and
/// its previous one during a rotation's grace period.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The delivery.
    pub delivery: Delivery,
    /// The secrets that sign it, newest first.
    pub secrets: Vec<String>,
    /// The hook's custom headers, sent with it.
    pub headers: BTreeMap<String, String>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum AttemptResult {
    /// The target answered with this status.
    Status(u16),
    /// The target did not answer within the timeout.
    Timeout,
    /// No connection could be made (refused, reset, unreachable, DNS).
    Connect(String),
    /// The target policy refused the address the target resolved to.
    NotAllowed(String),
    /// Anything else that went wrong with the request.
    Error(String),
}

impl AttemptResult {
    /// Whether the target took the delivery (2xx).
    pub fn is_success(&self) -> bool {
        matches!(self, AttemptResult::Status(200..=299))
    }

    /// The status as stored, if any.
    pub fn status(&self) -> Option<u16> {
        match self {
            AttemptResult::Status(status) => Some(*status),
            _ => None,
        }
    }

    /// The error as stored, `kind` or `kind: detail`, if there was no status.
    pub fn error(&self) -> Option<String> {
        match self {
            AttemptResult::Status(_) => None,
            AttemptResult::Timeout => Some("timeout".to_owned()),
            AttemptResult::Connect(detail) => Some(format!("connect: {detail}")),
            AttemptResult::NotAllowed(detail) => Some(format!("not_allowed: {detail}")),
            AttemptResult::Error(detail) => Some(format!("error: {detail}")),
        }
    }

    /// The result that [`status`](Self::status) and [`error`](Self::error) stored.
    pub fn from_stored(status: Option<i64>, error: Option<&str>) -> Self {
        if let Some(status) = status.and_then(|s| u16::try_from(s).ok()) {
            return AttemptResult::Status(status);
        }
        let error = error.unwrap_or("error: unknown");
        let (kind, detail) = error.split_once(": ").unwrap_or((error, ""));
        match kind {
            "timeout" => AttemptResult::Timeout,
            "connect" => AttemptResult::Connect(detail.to_owned()),
            "not_allowed" => AttemptResult::NotAllowed(detail.to_owned()),
            _ => AttemptResult::Error(detail.to_owned()),
        }
    }
}

/// One attempt at a delivery, as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attempt {
    /// The delivery.
    pub delivery_id: Uuid,
    /// The hook it went to.
    pub hook_id: Uuid,
    /// When it started.
    #[serde(with = "time::serde::rfc3339")]
    pub attempted_at: OffsetDateTime,
    /// How it ended.
    pub result: AttemptResult,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// The start of the response body.
    pub response_body: Option<String>,
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Delivered: done.
    Delivered,
    /// Attempted again at this time.
    RetryAt(OffsetDateTime),
    /// Given up on: kept as failed, retryable by hand.
    Failed,
    /// The target answered `410 Gone`: the hook is deleted, with its queue.
    HookGone,
}

/// An attempt and what follows it, as the worker hands it to the store.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The attempt.
    pub attempt: Attempt,
    /// What follows.
    pub next: Next,
}

/// A change to a hook that recording attempts made, which the in-memory index of
/// every process must follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookChange {
    /// Disabled after failing for too long.
    Disabled(Uuid),
    /// Deleted after a `410 Gone`.
    Deleted(Uuid),
}

/// The outcome of one attempt, as [`Hooks::observe`](crate::Hooks::observe) tells it.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The delivery, as it was leased.
    pub delivery: Delivery,
    /// The attempt.
    pub attempt: Attempt,
    /// What follows it.
    pub next: Next,
}

/// Which of an owner's deliveries to list: all of them, or those of one hook, in
/// one state, fired since a time.
///
/// ```
/// use rest_hooks::{DeliveryFilter, DeliveryState};
///
/// let failed_today = DeliveryFilter::new()
///     .state(DeliveryState::Failed)
///     .since(time::OffsetDateTime::now_utc() - time::Duration::days(1));
/// # let _ = failed_today;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryFilter {
    /// Only this hook's.
    pub hook: Option<Uuid>,
    /// Only those in this state.
    pub state: Option<DeliveryState>,
    /// Only those fired at or after this time.
    pub since: Option<OffsetDateTime>,
}

impl DeliveryFilter {
    /// Every delivery of the owner.
    pub fn new() -> Self {
        Self::default()
    }

    /// The deliveries of one hook.
    pub fn of_hook(hook: Uuid) -> Self {
        Self::new().hook(hook)
    }

    /// Only this hook's.
    pub fn hook(mut self, hook: Uuid) -> Self {
        self.hook = Some(hook);
        self
    }

    /// Only those in `state`.
    pub fn state(mut self, state: DeliveryState) -> Self {
        self.state = Some(state);
        self
    }

    /// Only those fired at or after `since`.
    pub fn since(mut self, since: OffsetDateTime) -> Self {
        self.since = Some(since);
        self
    }

    /// Whether `delivery` is one of these.
    pub(crate) fn matches(&self, delivery: &Delivery) -> bool {
        self.hook.is_none_or(|h| delivery.hook_id == h)
            && self.state.is_none_or(|s| delivery.state == s)
            && self.since.is_none_or(|t| delivery.created_at >= t)
    }
}
