//! The shape every background loop shares: a ticker, a stop signal, and a
//! failure logged once per outage rather than on every tick.
//!
//! ```text
//! let mut every = Periodic::new("purge", interval, stop);
//! while every.tick().await {
//!     every.report(ledger.purge().await);
//! }
//! ```

use std::{fmt::Debug, future::Future, pin::Pin, time::Duration};

use tokio::time::{Interval, MissedTickBehavior};
use tracing::{info, warn};

/// A loop's pace and its memory of whether the last run failed.
pub(crate) struct Periodic {
    name: &'static str,
    ticker: Interval,
    stop: Pin<Box<dyn Future<Output = ()> + Send>>,
    failing: bool,
}

impl Periodic {
    /// A loop named `name` (for its log lines), running every `every`
    /// (the first tick at once) until `stop` resolves. A tick missed while
    /// a run took long is not made up for: runs never pile up.
    pub(crate) fn new(
        name: &'static str,
        every: Duration,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            name,
            ticker,
            stop: Box::pin(stop),
            failing: false,
        }
    }

    /// Waits for the next tick: `true` to run again, `false` once stopped.
    pub(crate) async fn tick(&mut self) -> bool {
        tokio::select! {
            _ = &mut self.stop => false,
            _ = self.ticker.tick() => true,
        }
    }

    /// Records how a run went: the first failure of an outage is logged
    /// with its cause, the rest are not, and the first success after it
    /// says the loop recovered. Returns the run's value, if any.
    pub(crate) fn report<T, E: Debug>(&mut self, outcome: Result<T, E>) -> Option<T> {
        match outcome {
            Ok(value) => {
                if self.failing {
                    info!(task = self.name, "{} recovered", self.name);
                    self.failing = false;
                }
                Some(value)
            }
            Err(err) => {
                if !self.failing {
                    warn!(task = self.name, error = ?err, "{} failed; will retry", self.name);
                    self.failing = true;
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    };

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn runs_every_interval_until_stopped_and_remembers_an_outage() {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let runs = Arc::new(AtomicUsize::new(0));
        let seen = runs.clone();
        let task = tokio::spawn(async move {
            let mut every = Periodic::new("test loop", Duration::from_secs(10), async {
                let _ = stop_rx.await;
            });
            let mut failures = Vec::new();
            while every.tick().await {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                // Runs 1 and 2 fail: one outage.
                let outcome = if (1..=2).contains(&n) {
                    Err("down")
                } else {
                    Ok(())
                };
                failures.push(every.report(outcome).is_none());
            }
            failures
        });
        tokio::time::sleep(Duration::from_secs(35)).await;
        stop_tx.send(()).unwrap();
        let failures = task.await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 4, "at 0, 10, 20 and 30 s");
        assert_eq!(failures, [false, true, true, false]);
    }
}
