//! When a failed delivery is attempted again: the [`RetrySchedule`].

use std::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;

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
