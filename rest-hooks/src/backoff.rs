//! How long to wait before trying the store again after it failed: doubling from
//! 100 ms up to a ceiling, so that a database that is down is not hammered and one
//! that is back is used again soon.

use std::time::Duration;

const FIRST: Duration = Duration::from_millis(100);

/// The waits between consecutive failures of one operation.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
    ceiling: Duration,
}

impl Backoff {
    /// Waits that double from 100 ms up to `ceiling`.
    pub(crate) fn new(ceiling: Duration) -> Self {
        Self {
            next: FIRST.min(ceiling),
            ceiling,
        }
    }

    /// The wait after one more failure.
    pub(crate) fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.ceiling);
        wait
    }

    /// After a success: the next failure waits the shortest time again.
    pub(crate) fn reset(&mut self) {
        self.next = FIRST.min(self.ceiling);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_ceiling_and_start_again_after_a_success() {
        let mut backoff = Backoff::new(Duration::from_millis(500));
        let waits: Vec<u128> = (0..5).map(|_| backoff.next_wait().as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        backoff.reset();
        assert_eq!(backoff.next_wait(), Duration::from_millis(100));
    }
}
