//! What follows an attempt: done, the hook gone, or another attempt at a time the
//! [`RetrySchedule`] gives (or a `Retry-After` asks for), until the last one fails.

use std::time::Duration;

use time::OffsetDateTime;

use super::Sent;
use crate::queue::{AttemptResult, Next};

/// The delays before each retry of a delivery, with jitter.
///
/// The default is that of the Standard Webhooks ecosystem: 5 s, 5 min, 30 min,
/// 2 h, 5 h, 10 h, 10 h (eight attempts over about 27 hours), each ±20 %.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
    jitter: f64,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        Self::new([
            Duration::from_secs(5),
            minutes(5),
            minutes(30),
            minutes(120),
            minutes(300),
            minutes(600),
            minutes(600),
        ])
    }
}

impl RetrySchedule {
    /// Retries after each of `delays` in turn, ±20 %; after the last one fails, the
    /// delivery fails.
    pub fn new(delays: impl IntoIterator<Item = Duration>) -> Self {
        Self {
            delays: delays.into_iter().collect(),
            jitter: 0.2,
        }
    }

    /// Sets the jitter, a fraction of each delay (0.2 is ±20 %; 0 is none).
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction.clamp(0.0, 1.0);
        self
    }

    /// The delay before the next attempt after `attempts` failed ones, or `None`
    /// when the schedule is exhausted. `retry_after` (from a 429 or 503) is honoured
    /// within `[delay, 2 × delay]`; `random` is uniform in `[0, 1)`.
    pub fn next_delay(
        &self,
        attempts: u32,
        retry_after: Option<Duration>,
        random: f64,
    ) -> Option<Duration> {
        let index = usize::try_from(attempts).ok()?.checked_sub(1)?;
        let base = *self.delays.get(index)?;
        if let Some(asked) = retry_after {
            return Some(asked.clamp(base, base.saturating_mul(2)));
        }
        let factor = 1.0 + self.jitter * (2.0 * random - 1.0);
        Some(base.mul_f64(factor.max(0.0)))
    }

    /// How many attempts a delivery gets in all.
    pub fn attempts(&self) -> usize {
        self.delays.len() + 1
    }
}

/// What follows attempt number `attempt` (the first is 1) that got `sent`, decided
/// at `now`: a 2xx is delivered; a `410 Gone` deletes the hook; anything else is
/// attempted again after the schedule's next delay (within what a `Retry-After` of
/// a 429 or 503 asks for), or fails once the schedule is exhausted. `random`
/// draws the jitter, uniform in `[0, 1)`; it is called only for a retry.
pub(crate) fn decide(
    schedule: &RetrySchedule,
    sent: &Sent,
    attempt: u32,
    now: OffsetDateTime,
    random: impl FnOnce() -> f64,
) -> Next {
    match sent.result {
        ref result if result.is_success() => Next::Delivered,
        AttemptResult::Status(410) => Next::HookGone,
        ref result => {
            let retry_after = match result {
                AttemptResult::Status(429 | 503) => sent.retry_after,
                _ => None,
            };
            match schedule.next_delay(attempt, retry_after, random()) {
                Some(delay) => Next::RetryAt(now + delay),
                None => Next::Failed,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(result: AttemptResult, retry_after: Option<u64>) -> Sent {
        Sent {
            result,
            response_body: None,
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    fn two_retries() -> RetrySchedule {
        RetrySchedule::new([Duration::from_secs(10), Duration::from_secs(100)])
    }

    const NOW: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    #[test]
    fn a_2xx_is_delivered() {
        for status in [200, 201, 204, 299] {
            let next = decide(
                &two_retries(),
                &sent(AttemptResult::Status(status), None),
                1,
                NOW,
                || 0.5,
            );
            assert_eq!(next, Next::Delivered, "{status}");
        }
    }

    #[test]
    fn a_410_deletes_the_hook_even_on_the_last_attempt() {
        let gone = sent(AttemptResult::Status(410), None);
        assert_eq!(
            decide(&two_retries(), &gone, 1, NOW, || 0.5),
            Next::HookGone
        );
        assert_eq!(
            decide(&two_retries(), &gone, 3, NOW, || 0.5),
            Next::HookGone
        );
    }

    #[test]
    fn a_429_or_503_retries_when_retry_after_asks_within_one_to_two_delays() {
        for status in [429, 503] {
            let busy = sent(AttemptResult::Status(status), Some(15));
            assert_eq!(
                decide(&two_retries(), &busy, 1, NOW, || 0.0),
                Next::RetryAt(NOW + Duration::from_secs(15)),
                "{status}"
            );
        }
        let far = sent(AttemptResult::Status(429), Some(3600));
        assert_eq!(
            decide(&two_retries(), &far, 1, NOW, || 0.0),
            Next::RetryAt(NOW + Duration::from_secs(20))
        );
    }

    #[test]
    fn other_failures_follow_the_schedule_with_jitter_and_ignore_retry_after() {
        let schedule = two_retries();
        let error = sent(AttemptResult::Status(500), Some(60));
        assert_eq!(
            decide(&schedule, &error, 1, NOW, || 0.5),
            Next::RetryAt(NOW + Duration::from_secs(10))
        );
        assert_eq!(
            decide(&schedule, &error, 1, NOW, || 0.0),
            Next::RetryAt(NOW + Duration::from_secs(8))
        );
        for result in [
            AttemptResult::Timeout,
            AttemptResult::Connect("refused".into()),
        ] {
            assert_eq!(
                decide(&schedule, &sent(result, None), 2, NOW, || 0.5),
                Next::RetryAt(NOW + Duration::from_secs(100))
            );
        }
    }

    #[test]
    fn the_last_attempt_failing_fails_the_delivery() {
        let schedule = two_retries();
        assert_eq!(schedule.attempts(), 3);
        let error = sent(AttemptResult::Status(500), None);
        assert_eq!(decide(&schedule, &error, 3, NOW, || 0.5), Next::Failed);
        let busy = sent(AttemptResult::Status(503), Some(5));
        assert_eq!(decide(&schedule, &busy, 3, NOW, || 0.5), Next::Failed);
    }

    #[test]
    fn the_default_schedule_retries_seven_times_with_jitter() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.attempts(), 8);
        assert_eq!(
            schedule.next_delay(1, None, 0.5),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            schedule.next_delay(1, None, 0.0),
            Some(Duration::from_secs(4))
        );
        assert_eq!(
            schedule.next_delay(2, None, 0.5),
            Some(Duration::from_secs(300))
        );
        let last = schedule.next_delay(7, None, 0.999).unwrap();
        assert!(last > Duration::from_secs(35_990) && last < Duration::from_secs(43_200));
        assert_eq!(schedule.next_delay(8, None, 0.5), None);
        assert_eq!(schedule.next_delay(0, None, 0.5), None);
    }

    #[test]
    fn retry_after_is_honoured_within_one_to_two_delays() {
        let schedule = RetrySchedule::new([Duration::from_secs(10)]);
        let asked = |secs| schedule.next_delay(1, Some(Duration::from_secs(secs)), 0.5);
        assert_eq!(asked(15), Some(Duration::from_secs(15)));
        assert_eq!(asked(1), Some(Duration::from_secs(10)));
        assert_eq!(asked(3600), Some(Duration::from_secs(20)));
    }
}
