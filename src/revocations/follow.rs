//! One `WatchRevocations` stream: first every revocation that still
//! matters (or, resuming from a cursor, every one since it), then a batch
//! marked caught up, then each new revocation as the feed reads it.
//!
//! A stream follows the feed's reads while they cover its position; when
//! they do not (it fell behind, or has just started), it reads what the
//! feed remembers, and the ledger itself only for a cursor older than
//! that, so it never depends on what this process happened to see.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use tokio::sync::broadcast::{self, error::RecvError};

use super::{feed::Read, Position, RevocationFeed};
use crate::ledger::{LedgerError, LogRead, RevocationEvent};

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
    reads: broadcast::Receiver<(u64, Arc<LogRead>)>,
    position: Position,
    pending: VecDeque<Batch>,
    /// Until caught up: the last poll begun before the stream opened. A
    /// read from a later poll saw the ledger after the stream opened, so
    /// with it the stream has everything revoked before it opened.
    catching_up_after: Option<u64>,
}

impl Follower {
    /// Starts a stream at `position` (the start, or a client's cursor):
    /// queues what it owes from what the feed remembers (or, for a cursor
    /// older than that, from the ledger). The batch marked caught up comes
    /// with the feed's next read of the ledger, within a poll interval, so
    /// it covers every revocation made before the stream opened. A position
    /// whose rows were purged starts over.
    pub async fn start(feed: Arc<RevocationFeed>, position: Position) -> Result<Self, LedgerError> {
        // Listen before reading, so no poll between the two is lost.
        let (reads, polls_begun) = feed.subscribe();
        let mut follower = Self {
            feed,
            reads,
            position,
            pending: VecDeque::new(),
            catching_up_after: None,
        };
        let mut read = follower.feed.read_since(&follower.position).await?;
        if follower
            .position
            .expired(read.rows(), follower.feed.retention().log())
        {
            follower.position = Position::start();
            read = follower.feed.read_since(&follower.position).await?;
        }
        match read {
            // Read just now: complete.
            Read::Ledger(rows) => follower.take(&rows, true),
            Read::Remembered(rows) => {
                follower.take(&rows, false);
                follower.catching_up_after = Some(polls_begun);
            }
        }
        Ok(follower)
    }

    /// The next batch: queued ones first, then what the feed reads next.
    pub async fn next(&mut self) -> Result<Batch, LedgerError> {
        loop {
            if let Some(batch) = self.pending.pop_front() {
                return Ok(batch);
            }
            let (read, fresh) = match tokio::time::timeout(KEEPALIVE, self.reads.recv()).await {
                Err(_) => {
                    return Ok(Batch {
                        events: Vec::new(),
                        cursor: self.position.cursor(),
                        caught_up: false,
                    })
                }
                Ok(Ok((number, read))) if self.position.covered_by(&read) => {
                    let fresh = self.catching_up_after.is_some_and(|begun| number > begun);
                    (read, fresh)
                }
                // Fell behind the feed, or the feed's read starts after this
                // position: read from here.
                Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) => {
                    match self.feed.read_since(&self.position).await? {
                        Read::Remembered(rows) => (rows, false),
                        Read::Ledger(rows) => (rows, self.catching_up_after.is_some()),
                    }
                }
                // Cannot happen while this stream holds the feed (which holds
                // the sender); wait rather than spin if it ever does.
                Ok(Err(RecvError::Closed)) => {
                    tokio::time::sleep(KEEPALIVE).await;
                    continue;
                }
            };
            if fresh {
                self.catching_up_after = None;
            }
            self.take(&read, fresh);
        }
    }

    /// Queues what `read` holds that this stream has not sent and that
    /// still matters. The first read always yields a batch, marked caught
    /// up; later ones only when they hold something.
    fn take(&mut self, read: &LogRead, first: bool) {
        let retention = self.feed.retention();
        let now = self.feed.now();
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
