//! The revocation cache: which sessions are revoked, held in memory so that
//! Verify, the hot path, never waits on the database and keeps answering
//! when the database is slow or down.
//!
//! Each replica fills it from the ledger at start-up and then polls the
//! ledger for recent revocations about twice a second, so a revocation made
//! on any replica reaches every replica's Verify within about a second. A
//! revocation made here is applied at once. Entries are forgotten once no
//! access token of the session can still be alive.

use std::{
    collections::HashMap,
    sync::{PoisonError, RwLock},
    time::Duration,
};

use tracing::{debug, warn};

use crate::{clock::now, ids::SessionId, ledger::Ledger, token::RevocationCheck};

/// How far before the last successful poll each poll looks. Revocation
/// times come from each replica's clock; the margin tolerates that much
/// clock skew between replicas.
const POLL_LOOKBACK_SECS: i64 = 30;

/// Revoked sessions, each kept until its last access token has expired.
#[derive(Debug)]
pub struct RevocationCache {
    revoked: RwLock<HashMap<SessionId, i64>>,
    /// How long after revocation an access token of the session may still be
    /// presented: the access-token lifetime plus the leeway.
    retention: i64,
}

impl RevocationCache {
    /// An empty cache that remembers a revocation for `retention`.
    pub fn new(retention: Duration) -> Self {
        Self {
            revoked: RwLock::new(HashMap::new()),
            retention: i64::try_from(retention.as_secs()).unwrap_or(i64::MAX),
        }
    }

    /// Whether the session has been revoked.
    pub fn is_revoked(&self, session: &SessionId) -> bool {
        let revoked = self.revoked.read().unwrap_or_else(PoisonError::into_inner);
        revoked.contains_key(session)
    }

    /// Records a revocation.
    pub fn insert(&self, session: SessionId, revoked_at: i64) {
        let forget_at = revoked_at.saturating_add(self.retention);
        let mut revoked = self.revoked.write().unwrap_or_else(PoisonError::into_inner);
        revoked.insert(session, forget_at);
    }

    /// How many revoked sessions are held.
    pub fn len(&self) -> usize {
        self.revoked
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no revoked session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn forget_before(&self, now: i64) {
        let mut revoked = self.revoked.write().unwrap_or_else(PoisonError::into_inner);
        revoked.retain(|_, forget_at| *forget_at > now);
    }

    /// Loads every revocation made since `since` (Unix seconds).
    pub async fn load_since(
        &self,
        ledger: &Ledger,
        since: i64,
    ) -> Result<usize, crate::ledger::LedgerError> {
        let rows = ledger.revoked_since(since).await?;
        let count = rows.len();
        for row in rows {
            self.insert(row.id, row.revoked_at);
        }
        Ok(count)
    }

    /// Fills the cache with every revocation whose tokens may still be alive.
    pub async fn load_all(&self, ledger: &Ledger) -> Result<usize, crate::ledger::LedgerError> {
        self.load_since(ledger, now().saturating_sub(self.retention))
            .await
    }

    /// Polls the ledger every `interval` until `stop` resolves. Each poll
    /// reads from the start of the last successful poll, less a margin for
    /// clock skew between replicas, so a database outage of any length
    /// loses no revocation: the first poll after it catches up. A failed
    /// poll is logged and retried; the cache keeps what it knows.
    pub async fn sync(
        &self,
        ledger: Ledger,
        interval: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut cursor = now().saturating_sub(POLL_LOOKBACK_SECS);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = ticker.tick() => {}
            }
            let started = now();
            match self.load_since(&ledger, cursor).await {
                Ok(seen) => {
                    debug!(seen, "revocations polled");
                    if failing {
                        warn!("revocation polling recovered");
                        failing = false;
                    }
                    cursor = started.saturating_sub(POLL_LOOKBACK_SECS);
                }
                Err(err) => {
                    if !failing {
                        warn!(error = %err, "polling revocations failed; keeping the known set and retrying");
                        failing = true;
                    }
                }
            }
            self.forget_before(started);
        }
    }
}

/// Verification asks the cache, through the core crate's trait.
impl RevocationCheck for RevocationCache {
    fn is_revoked(&self, session: &SessionId) -> bool {
        RevocationCache::is_revoked(self, session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_is_forgotten_once_its_tokens_have_expired() {
        let cache = RevocationCache::new(Duration::from_secs(930));
        let (old, fresh) = (SessionId::generate(), SessionId::generate());
        cache.insert(old, 1_000);
        cache.insert(fresh, 2_000);
        cache.forget_before(1_000 + 930);
        assert!(!cache.is_revoked(&old));
        assert!(cache.is_revoked(&fresh));
    }
}
