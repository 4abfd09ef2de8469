//! What an attempt's outcome tells the world besides the store: `metrics` counters
//! and a latency histogram, and a `tracing` event.

use std::time::Duration;

use crate::queue::{AttemptResult, Next};

/// Counts the attempt by outcome, records its latency, and logs it.
pub(super) fn report(result: &AttemptResult, next: Next, elapsed: Duration) {
    let outcome = match next {
        Next::Delivered => "delivered",
        Next::RetryAt(_) => "retry",
        Next::Failed => "failed",
        Next::HookGone => "gone",
    };
    metrics::counter!("rest_hooks_attempts_total", "outcome" => outcome).increment(1);
    metrics::histogram!("rest_hooks_attempt_seconds").record(elapsed.as_secs_f64());
    match next {
        Next::Delivered => tracing::debug!(?result, ?elapsed, "delivered"),
        _ => tracing::info!(?result, ?elapsed, outcome, "not delivered"),
    }
}
