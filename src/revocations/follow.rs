//! One `WatchRevocations` stream: first every revocation that still
//! matters (or, resuming from a cursor, every one since it), then a batch
//! marked caught up, then each new revocation as the feed reads it.
//!
//! A stream follows the feed's reads while they cover its position; when
//! they do not (it fell behind, or has just started), it reads the ledger
//! itself from its position, so it never depends on what this process
//! happened to see.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use tokio::sync::broadcast::{self, error::RecvError};

use super::{Position, RevocationFeed};
use crate::{
    clock::now,
    ledger::{LedgerError, LogRead, RevocationEvent},
};

/// The most revocations in one batch.
const BATCH_LIMIT: usize = 500;

/// After this long without a batch, an empty one carries the advanced
/// cursor, so an idle client's cursor never falls out of the log (and the
/// connection shows it is alive).
const KEEPALIVE: Duration = Duration::from_secs(30);

/// What a stream sends at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The revocations, in the order they were recorded.
    pub events: Vec<RevocationEvent>,
    /// Where the stream stands after this batch (empty: resume by starting
    /// over).
    pub cursor: String,
    /// Whether this batch completes what the stream owed when it started.
    pub caught_up: bool,
}

/// One stream's state.
#[derive(Debug)]
pub struct Follower {
    feed: Arc<RevocationFeed>,
    reads: broadcast::Receiver<Arc<LogRead>>,
    position: Position,
    pending: VecDeque<Batch>,
}

impl Follower {
    /// Starts a stream at `position` (the start, or a client's cursor):
    /// reads the ledger from there and queues what it owes, the last batch
    /// marked caught up. A position whose rows were purged starts over.
    pub async fn start(feed: Arc<RevocationFeed>, position: Position) -> Result<Self, LedgerError> {
        // Listen before reading, so no poll between the two is lost.
        let reads = feed.subscribe();
        let mut follower = Self {
            feed,
            reads,
            position,
            pending: VecDeque::new(),
        };
        let mut read = follower
            .feed
            .ledger()
            .revocations_since(follower.position.read_from())
            .await?;
        if follower
            .position
            .expired(&read, follower.feed.retention().log())
        {
            follower.position = Position::start();
            read = follower.feed.ledger().revocations_since(i64::MIN).await?;
        }
        follower.take(&read, true);
        Ok(follower)
    }

    /// The next batch: queued ones first, then what the feed reads next.
    pub async fn next(&mut self) -> Result<Batch, LedgerError> {
        loop {
            if let Some(batch) = self.pending.pop_front() {
                return Ok(batch);
            }
            let read = match tokio::time::timeout(KEEPALIVE, self.reads.recv()).await {
                Err(_) => {
                    return Ok(Batch {
                        events: Vec::new(),
                        cursor: self.position.cursor(),
                        caught_up: false,
                    })
                }
                Ok(Ok(read)) if self.position.covered_by(&read) => read,
                // Fell behind the feed, or the feed's read starts after this
                // position: read the ledger from here.
                Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) => Arc::new(
                    self.feed
                        .ledger()
                        .revocations_since(self.position.read_from())
                        .await?,
                ),
                // Cannot happen while this stream holds the feed (which holds
                // the sender); wait rather than spin if it ever does.
                Ok(Err(RecvError::Closed)) => {
                    tokio::time::sleep(KEEPALIVE).await;
                    continue;
                }
            };
            self.take(&read, false);
        }
    }

    /// Queues what `read` holds that this stream has not sent and that
    /// still matters. The first read always yields a batch, marked caught
    /// up; later ones only when they hold something.
    fn take(&mut self, read: &LogRead, first: bool) {
        let retention = self.feed.retention();
        let now = now();
        let wanted = |event: &RevocationEvent| retention.forget_after(event) > now;
        loop {
            let (events, used_up) = self.position.advance(read, wanted, BATCH_LIMIT);
            if !events.is_empty() || (first && used_up) {
                self.pending.push_back(Batch {
                    events,
                    cursor: self.position.cursor(),
                    caught_up: first && used_up,
                });
            }
            if used_up {
                return;
            }
        }
    }
}
