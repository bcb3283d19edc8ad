//! The ledger as inkan sees it: its connection pool, how long the calls
//! that matter take, and how far the revocation cache lags behind the
//! ledger's revocation log.

use std::{
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use prometheus::{Gauge, GaugeVec, HistogramVec, Registry};

use super::build::{gauge, gauge_vec, histogram_vec};

/// The ledger calls that are timed: the `call` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerCall {
    /// Recording a new session and its first refresh token.
    OpenSession,
    /// Spending a refresh token for its successor, or a former system's
    /// token for a session.
    Rotate,
    /// Revoking a session.
    Revoke,
    /// One batch of deleting ended sessions and tokens.
    Purge,
}

impl LedgerCall {
    fn as_str(self) -> &'static str {
        match self {
            LedgerCall::OpenSession => "open_session",
            LedgerCall::Rotate => "rotate",
            LedgerCall::Revoke => "revoke",
            LedgerCall::Purge => "purge",
        }
    }
}

/// A connection pool's state at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    /// Open connections nobody is using.
    pub idle: u32,
    /// Connections a call holds.
    pub in_use: u32,
}

/// Ledger metrics.
#[derive(Debug)]
pub struct LedgerMetrics {
    pool: GaugeVec,
    calls: HistogramVec,
    feed_lag: Gauge,
    /// When the revocation feed last read the log; `None` before the first
    /// read (the lag then counts from start-up).
    feed_read: Mutex<Option<Instant>>,
    started: Instant,
}

impl LedgerMetrics {
    pub(super) fn new(registry: &Registry) -> Self {
        Self {
            pool: gauge_vec(
                registry,
                "inkan_ledger_pool_connections",
                "Ledger connections by state (idle, in_use), sampled at scrape time.",
                &["state"],
            ),
            calls: histogram_vec(
                registry,
                "inkan_ledger_call_duration_seconds",
                "Time of a ledger call, retries included, in seconds, by call (open_session, \
                 rotate, revoke, purge).",
                &["call"],
            ),
            feed_lag: gauge(
                registry,
                "inkan_revocation_feed_lag_seconds",
                "Seconds since the revocation feed last read the ledger's revocation log: how \
                 stale this replica's revocation cache may be.",
            ),
            feed_read: Mutex::new(None),
            started: Instant::now(),
        }
    }

    /// Records the pool's state.
    pub fn pool(&self, state: PoolState) {
        self.pool
            .with_label_values(&["idle"])
            .set(f64::from(state.idle));
        self.pool
            .with_label_values(&["in_use"])
            .set(f64::from(state.in_use));
    }

    /// Records how long a ledger call took.
    pub fn call(&self, call: LedgerCall, took: Duration) {
        self.calls
            .with_label_values(&[call.as_str()])
            .observe(took.as_secs_f64());
    }

    /// Records that the revocation feed read the log just now.
    pub fn feed_read(&self) {
        *self
            .feed_read
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }

    /// Brings the lag gauge up to date; called at scrape time, so the lag
    /// keeps growing while the feed fails.
    pub(super) fn sample_feed_lag(&self) {
        let last = self
            .feed_read
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .unwrap_or(self.started);
        self.feed_lag.set(last.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lag_counts_from_the_last_read() {
        let metrics = LedgerMetrics::new(&Registry::new());
        *metrics.feed_read.lock().unwrap() = Some(Instant::now() - Duration::from_secs(7));
        metrics.sample_feed_lag();
        let lag = metrics.feed_lag.get();
        assert!((7.0..8.0).contains(&lag), "lag {lag}");
        metrics.feed_read();
        metrics.sample_feed_lag();
        assert!(metrics.feed_lag.get() < 1.0);
    }
}
