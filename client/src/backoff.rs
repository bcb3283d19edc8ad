//! How long to wait before reconnecting a stream that broke: doubling from
//! a short first wait up to a ceiling, so a restarting inkan is not met by
//! every verifier at once in a tight loop, and a brief blip costs little.

use std::time::Duration;

/// Doubling waits between `first` and `ceiling`.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    first: Duration,
    ceiling: Duration,
    next: Duration,
}

impl Backoff {
    /// Waits starting at `first`, never longer than `ceiling`.
    pub(crate) fn new(first: Duration, ceiling: Duration) -> Self {
        Self {
            first,
            ceiling,
            next: first,
        }
    }

    /// The wait before the next attempt; each call doubles the one after.
    pub(crate) fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.ceiling);
        wait
    }

    /// Called once a connection delivered something: the next failure is
    /// a new one and starts from the first wait again.
    pub(crate) fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_ceiling_and_reset() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let waits: Vec<u128> = (0..5).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        b.reset();
        assert_eq!(b.next_wait(), Duration::from_millis(100));
    }
}
