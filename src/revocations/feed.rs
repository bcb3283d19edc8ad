//! The revocation feed: the one poller of the revocation log in a process.
//! Each poll reads what is new since the last one (plus the overlap, see
//! `position`), applies it to the revocation cache, and hands the read to
//! every `WatchRevocations` stream, so many streams cost the ledger no more
//! than one.
//!
//! The feed also keeps, in memory, every revocation it has read that still
//! matters ([`RevocationFeed::read_since`]): a new stream, or one that fell
//! behind, starts from there, and reads the ledger only for a cursor older
//! than what memory holds. Opening streams, however many, costs the ledger
//! nothing, so it cannot slow Issue and Refresh down.

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, PoisonError,
    },
};

use tokio::sync::broadcast;

use super::{Position, Retention, RevocationCache};
use crate::{
    clock::Clock,
    ledger::{Ledger, LedgerError, LogRead, RevocationEvent},
    metrics::Metrics,
};

/// How many polls a stream may fall behind before it reads the ledger
/// itself to catch up.
const BACKLOG: usize = 64;

/// Where [`RevocationFeed::read_since`] found what it returns.
#[derive(Debug)]
pub enum Read {
    /// In memory, as of the feed's last poll (up to a poll interval old).
    Remembered(Arc<LogRead>),
    /// In the ledger, just now.
    Ledger(Arc<LogRead>),
}

impl Read {
    /// The rows, wherever they came from.
    pub fn rows(&self) -> &Arc<LogRead> {
        match self {
            Read::Remembered(read) | Read::Ledger(read) => read,
        }
    }
}

/// Reads the revocation log for the whole process.
#[derive(Debug)]
pub struct RevocationFeed {
    ledger: Ledger,
    cache: Arc<RevocationCache>,
    /// Each read, numbered by when its poll began.
    reads: broadcast::Sender<(u64, Arc<LogRead>)>,
    /// Polls begun so far.
    polls_begun: AtomicU64,
    /// Where the poller stands; the cache needs no ids, as applying a row
    /// twice changes nothing.
    position: Mutex<Position>,
    /// Every row read so far that still matters, as one read from the
    /// first poll's start to the last poll's clock; `None` before the
    /// first poll.
    history: Mutex<Option<Arc<LogRead>>>,
    /// Where "now" comes from, for what has stopped mattering.
    clock: Clock,
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
            polls_begun: AtomicU64::new(0),
            position: Mutex::new(Position::start()),
            history: Mutex::new(None),
            clock: Clock::system(),
            metrics: None,
        }
    }

    /// This feed, recording each successful read in `metrics` (what
    /// `inkan_revocation_feed_lag_seconds` counts from).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// This feed, reading the time from `clock` (a test's).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The current time by the feed's clock (Unix seconds).
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// How many revoked sessions and cut-off subjects the cache holds.
    pub fn known(&self) -> usize {
        self.cache.len()
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
    /// Every read the poller makes from now on, each with the number of
    /// its poll; and how many polls had begun by then (a read numbered
    /// above that read the ledger after the subscription).
    pub fn subscribe(&self) -> (broadcast::Receiver<(u64, Arc<LogRead>)>, u64) {
        let reads = self.reads.subscribe();
        (reads, self.polls_begun.load(Ordering::SeqCst))
    }

    /// Reads the log from where the feed stands, applies it to the cache
    /// and passes it on to the streams. Returns how many rows were read.
    pub async fn poll(&self) -> Result<usize, LedgerError> {
        let from = self
            .position
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .read_from();
        let number = self.polls_begun.fetch_add(1, Ordering::SeqCst) + 1;
        let read = self.ledger.revocations_since(from).await?;
        if let Some(metrics) = &self.metrics {
            metrics.ledger().feed_read();
        }
        let now = self.now();
        // What no longer refuses anything is forgotten on every tick of the
        // poller (`forget_expired`), whether or not the poll succeeded.
        for event in &read.events {
            self.cache.apply(event);
        }
        self.position
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .advance(&read, |_| false, 0);
        self.remember(&read, now);
        let rows = read.events.len();
        // No stream listening is not an error.
        let _ = self.reads.send((number, Arc::new(read)));
        Ok(rows)
    }

    /// Loads every subject cut-off the ledger holds that may still refuse
    /// a session: the log keeps a day or so, the cut-offs themselves as
    /// long as a session opened before them may live. Called at start-up,
    /// after the first poll.
    pub async fn load_cut_offs(&self) -> Result<usize, LedgerError> {
        let since = self.now().saturating_sub(self.retention().subject_sessions);
        let cut_offs = self.ledger.subject_cut_offs_since(since).await?;
        let loaded = cut_offs.len();
        for (subject, not_before) in cut_offs {
            self.cache.cut_off(subject, not_before);
        }
        Ok(loaded)
    }

    /// What the log holds from `position` on: from memory when memory
    /// covers it (always, once the feed has polled from the start), from
    /// the ledger otherwise.
    pub async fn read_since(&self, position: &Position) -> Result<Read, LedgerError> {
        let remembered = self
            .history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match remembered {
            Some(history) if position.covered_by(&history) => Ok(Read::Remembered(history)),
            _ => Ok(Read::Ledger(Arc::new(
                self.ledger.revocations_since(position.read_from()).await?,
            ))),
        }
    }

    /// Adds `read`'s rows to the history, and drops the rows that no
    /// longer refuse any token at `now` (no stream would send them).
    fn remember(&self, read: &LogRead, now: i64) {
        let retention = self.retention();
        let matters = |e: &RevocationEvent| retention.forget_after(e) > now;
        let mut history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(known) = history.as_mut() else {
            *history = Some(Arc::new(LogRead {
                read_at: read.read_at,
                from: read.from,
                events: read.events.iter().filter(|e| matters(e)).cloned().collect(),
            }));
            return;
        };
        // Only rows in the read's span can be among its rows again (the
        // overlap).
        let seen: HashSet<_> = known
            .events
            .iter()
            .filter(|e| e.recorded_at >= read.from)
            .map(|e| e.id)
            .collect();
        let new: Vec<RevocationEvent> = read
            .events
            .iter()
            .filter(|e| !seen.contains(&e.id) && matters(e))
            .cloned()
            .collect();
        let stale = known.events.iter().any(|e| !matters(e));
        // Streams hold the history only while they copy from it, so this
        // seldom copies.
        let known = Arc::make_mut(known);
        known.read_at = read.read_at;
        if new.is_empty() && !stale {
            return;
        }
        known.events.retain(|e| matters(e));
        known.events.extend(new);
        known.events.sort_by_key(|e| (e.recorded_at, e.id));
    }

    /// Forgets what no longer refuses any token, by the feed's clock.
    pub fn forget_expired(&self) {
        self.cache.forget_before(self.now());
    }
}
