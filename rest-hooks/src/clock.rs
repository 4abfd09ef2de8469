//! Time as the stores keep it: milliseconds since the Unix epoch.

use std::time::Duration;

use time::OffsetDateTime;

/// Now, in milliseconds since the Unix epoch.
pub(crate) fn now_millis() -> i64 {
    millis(OffsetDateTime::now_utc())
}

/// `at` in milliseconds since the Unix epoch.
pub(crate) fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The time `ms` milliseconds after the Unix epoch.
pub(crate) fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Now, cut to the milliseconds a store keeps: a value made now is the value
/// read back.
pub(crate) fn now() -> OffsetDateTime {
    from_millis(now_millis())
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn duration_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
