//! Sending deliveries: the engine that leases them from the store, posts each one
//! through a [`Deliverer`] and records what came back, the retry decision, and
//! Standard Webhooks signing.

mod confirm;
mod dispatcher;
mod engine;
mod http;
mod outcome;
mod recorder;
mod retry;
pub mod sign;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub use crate::queue::{Next, Outgoing};
pub(crate) use confirm::Confirmer;
pub(crate) use engine::{Engine, EngineConfig, Stop};
pub use http::{Deliverer, HttpDeliverer};
pub use retry::RetrySchedule;

use crate::queue::AttemptResult;

/// What one attempt got back, as a [`Deliverer`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The HTTP status, or why there was none.
    pub result: AttemptResult,
    /// The start of the response body, at most [`RESPONSE_BODY_LIMIT`] bytes.
    pub response_body: Option<String>,
    /// The delay a `Retry-After` header asked for.
    pub retry_after: Option<Duration>,
}

/// The most of a response body that is kept with an attempt, in bytes.
pub const RESPONSE_BODY_LIMIT: usize = 4096;

/// Locks `mutex`; a panic while it was held leaves nothing half-done here (a
/// map insert, a slot set), so its data is used all the same.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
