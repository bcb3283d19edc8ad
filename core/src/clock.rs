//! The one source of "now" for tokens and the ledger: Unix seconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time in Unix seconds.
pub fn now() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
}

/// Where a component reads the time: the system clock, or one a test moves
/// on (`Clock::manual`). Cheap to clone; clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Seconds added to the system clock; `None` for the system clock.
    offset: Option<std::sync::Arc<std::sync::atomic::AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that runs with the system clock until [`Clock::advance`]
    /// moves it on: for tests that must see a day pass without waiting one
    /// (the database's own clock is not moved).
    pub fn manual() -> Self {
        Self {
            offset: Some(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0))),
        }
    }

    /// Moves a manual clock `seconds` on; the system clock cannot be moved,
    /// and is left as it is.
    pub fn advance(&self, seconds: i64) {
        if let Some(offset) = &self.offset {
            offset.fetch_add(seconds, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// The current time in Unix seconds.
    pub fn now(&self) -> i64 {
        let offset = self
            .offset
            .as_ref()
            .map_or(0, |o| o.load(std::sync::atomic::Ordering::SeqCst));
        now().saturating_add(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_when_told_and_its_clones_with_it() {
        let clock = Clock::manual();
        let seen_by_another = clock.clone();
        let before = clock.now();
        clock.advance(25 * 3600);
        assert!(seen_by_another.now() >= before + 25 * 3600);
        let system = Clock::system();
        system.advance(3600);
        assert!(
            system.now() < before + 3600,
            "the system clock is not moved"
        );
    }
}
