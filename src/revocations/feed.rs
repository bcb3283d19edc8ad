//! The revocation feed: the one poller of the revocation log in a process.
//! Each poll reads what is new since the last one (plus the overlap, see
//! `position`), applies it to the revocation cache, and hands the read to
//! every `WatchRevocations` stream, so many streams cost the ledger no more
//! than one.

use std::{
    future::Future,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tokio::sync::broadcast;
use tracing::{debug, warn};

use super::{Position, Retention, RevocationCache};
use crate::{
    clock::now,
    ledger::{Ledger, LedgerError, LogRead},
    metrics::Metrics,
};

/// How many polls a stream may fall behind before it reads the ledger
/// itself to catch up.
const BACKLOG: usize = 64;

/// Reads the revocation log for the whole process.
#[derive(Debug)]
pub struct RevocationFeed {
    ledger: Ledger,
    cache: Arc<RevocationCache>,
    reads: broadcast::Sender<Arc<LogRead>>,
    /// Where the poller stands; the cache needs no ids, as applying a row
    /// twice changes nothing.
    position: Mutex<Position>,
    /// Where each successful read is recorded, for the feed's lag.
    metrics: Option<Arc<Metrics>>,
}

impl RevocationFeed {
    /// A feed over `ledger` that keeps `cache` up to date.
    pub fn new(ledger: Ledger, cache: Arc<RevocationCache>) -> Self {
        Self {
            ledger,
            cache,
            reads: broadcast::channel(BACKLOG).0,
            position: Mutex::new(Position::start()),
            metrics: None,
        }
    }

    /// This feed, recording each successful read in `metrics` (what
    /// `inkan_revocation_feed_lag_seconds` counts from).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The ledger the feed reads.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// How long revocations matter.
    pub fn retention(&self) -> Retention {
        self.cache.retention()
    }

    /// Every read the poller makes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LogRead>> {
        self.reads.subscribe()
    }

    /// Reads the log from where the feed stands, applies it to the cache
    /// and passes it on to the streams. Returns how many rows were read.
    pub async fn poll(&self) -> Result<usize, LedgerError> {
        let from = self
            .position
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .read_from();
        let read = self.ledger.revocations_since(from).await?;
        if let Some(metrics) = &self.metrics {
            metrics.ledger().feed_read();
        }
        let (retention, now) = (self.retention(), now());
        for event in &read.events {
            if retention.forget_after(event) > now {
                self.cache.apply(event);
            }
        }
        self.position
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .advance(&read, |_| false, 0);
        let rows = read.events.len();
        // No stream listening is not an error.
        let _ = self.reads.send(Arc::new(read));
        Ok(rows)
    }

    /// Polls every `interval` until `stop` resolves. A failed poll is
    /// logged once per outage and retried; the cache keeps what it knows,
    /// and the first poll after the outage reads everything it missed.
    pub async fn run(&self, interval: Duration, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = ticker.tick() => {}
            }
            match self.poll().await {
                Ok(seen) => {
                    debug!(seen, "revocations polled");
                    if failing {
                        warn!("revocation polling recovered");
                        failing = false;
                    }
                }
                Err(err) => {
                    if !failing {
                        warn!(error = ?err, "polling revocations failed; keeping the known set and retrying");
                        failing = true;
                    }
                }
            }
            self.cache.forget_before(now());
        }
    }
}
