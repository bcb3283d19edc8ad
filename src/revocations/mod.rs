//! Revocations as replicas and their callers learn of them: which sessions
//! are revoked and since when each subject's tokens are refused.
//!
//! - [`RevocationCache`] (here): held in memory so that Verify, the hot
//!   path, never waits on the database and keeps answering when it is slow
//!   or down.
//! - [`RevocationFeed`] (`feed`): the one poller per process. It reads the
//!   ledger's revocation log about twice a second and feeds both the cache
//!   and every `WatchRevocations` stream, so a revocation made on any
//!   replica reaches every replica's Verify, and every stream, within about
//!   a second.
//! - [`Position`] (`position`): where a reader of the log stands, and the
//!   opaque cursor a client resumes from.
//! - [`Follower`] (`follow`): one `WatchRevocations` stream.
//!
//! Entries are forgotten once no token they refuse can still be valid.

mod feed;
mod follow;
mod position;

use std::{
    collections::HashMap,
    sync::{PoisonError, RwLock},
    time::Duration,
};

/// A row of the revocation log, as the ledger records it: what the streams
/// carry and the cache applies.
pub use crate::ledger::{RevocationEvent, Revoked};
pub use feed::RevocationFeed;
pub use follow::{Batch, Follower};
pub use position::{InvalidCursor, Position};

use crate::{
    ids::{SessionId, Subject},
    token::{RevocationCheck, LEGACY_MAX_LIFETIME_SECS},
};

/// How long each kind of revocation matters, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// After a session's revocation: an access token of it may still be
    /// presented for the access-token lifetime plus the leeway.
    pub session: i64,
    /// After a subject's cut-off: the longest an access token issued
    /// before it may live (inkan's, or a former system's, up to 24 h), plus
    /// the leeway. What Verify and watchers need.
    pub subject: i64,
    /// After a subject's cut-off: the longest a session opened before it
    /// may live (the session lifetime), plus the leeway. A replica keeps
    /// the cut-off this long, so Refresh of such a session is refused
    /// whatever became of ending it. (A former system's refresh token is
    /// checked against the ledger's cut-offs, kept until every legacy key's
    /// sunset.)
    pub subject_sessions: i64,
}

/// How long the revocation log is kept beyond the longest retention: what
/// a reconnecting stream may have missed, and then some.
const LOG_SLACK_SECS: i64 = 3600;

impl Retention {
    /// The retentions for tokens living `access_token_ttl`, checked with
    /// `leeway`, in sessions living at most `session_lifetime`.
    pub fn new(access_token_ttl: Duration, leeway: Duration, session_lifetime: Duration) -> Self {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let (ttl, leeway) = (secs(access_token_ttl), secs(leeway));
        let subject = ttl.max(LEGACY_MAX_LIFETIME_SECS).saturating_add(leeway);
        Self {
            session: ttl.saturating_add(leeway),
            subject,
            subject_sessions: secs(session_lifetime).saturating_add(leeway).max(subject),
        }
    }

    /// When `event` stops mattering (Unix seconds).
    pub fn forget_after(&self, event: &RevocationEvent) -> i64 {
        let keep = match event.revoked {
            Revoked::Session(_) => self.session,
            Revoked::Subject(_) => self.subject,
        };
        event.at.saturating_add(keep)
    }

    /// How long the revocation log keeps a row: longer than any revocation
    /// matters, so a row is never purged while it can still refuse a token.
    pub fn log(&self) -> i64 {
        self.session
            .max(self.subject)
            .saturating_add(LOG_SLACK_SECS)
    }
}

/// Revoked sessions and subjects' cut-offs, each kept until the last token
/// it refuses has expired.
#[derive(Debug)]
pub struct RevocationCache {
    /// Revoked sessions, with when to forget each.
    revoked: RwLock<HashMap<SessionId, i64>>,
    /// Subjects' cut-offs: `(not_before, forget_at)`.
    cut_offs: RwLock<HashMap<Subject, (i64, i64)>>,
    retention: Retention,
}

impl RevocationCache {
    /// An empty cache that remembers revocations for `retention`.
    pub fn new(retention: Retention) -> Self {
        Self {
            revoked: RwLock::new(HashMap::new()),
            cut_offs: RwLock::new(HashMap::new()),
            retention,
        }
    }

    /// How long this cache remembers revocations.
    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// Whether the session has been revoked.
    pub fn is_revoked(&self, session: &SessionId) -> bool {
        let revoked = self.revoked.read().unwrap_or_else(PoisonError::into_inner);
        revoked.contains_key(session)
    }

    /// Records a revocation.
    pub fn insert(&self, session: SessionId, revoked_at: i64) {
        let forget_at = revoked_at.saturating_add(self.retention.session);
        let mut revoked = self.revoked.write().unwrap_or_else(PoisonError::into_inner);
        revoked.insert(session, forget_at);
    }

    /// Records a subject's cut-off; the latest one wins. It is kept for as
    /// long as a session opened before it may live.
    pub fn cut_off(&self, subject: Subject, not_before: i64) {
        let forget_at = not_before.saturating_add(self.retention.subject_sessions);
        let mut cut_offs = self
            .cut_offs
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = cut_offs.entry(subject).or_insert((not_before, forget_at));
        if not_before > entry.0 {
            *entry = (not_before, forget_at);
        }
    }

    /// The time before which `subject`'s tokens are refused, if any.
    pub fn subject_cut_off(&self, subject: &Subject) -> Option<i64> {
        let cut_offs = self.cut_offs.read().unwrap_or_else(PoisonError::into_inner);
        cut_offs.get(subject).map(|(not_before, _)| *not_before)
    }

    /// Records what a row of the revocation log says.
    pub fn apply(&self, event: &RevocationEvent) {
        match &event.revoked {
            Revoked::Session(id) => self.insert(*id, event.at),
            Revoked::Subject(subject) => self.cut_off(subject.clone(), event.at),
        }
    }

    /// How many revoked sessions and cut-off subjects are held.
    pub fn len(&self) -> usize {
        let sessions = self
            .revoked
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        let subjects = self
            .cut_offs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        sessions + subjects
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets what no longer refuses any token at `now`.
    pub(crate) fn forget_before(&self, now: i64) {
        self.revoked
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, forget_at| *forget_at > now);
        self.cut_offs
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, (_, forget_at)| *forget_at > now);
    }
}

/// Verification asks the cache, through the core crate's trait.
impl RevocationCheck for RevocationCache {
    fn is_revoked(&self, session: &SessionId) -> bool {
        RevocationCache::is_revoked(self, session)
    }

    fn subject_cut_off(&self, subject: &Subject) -> Option<i64> {
        RevocationCache::subject_cut_off(self, subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    fn cache() -> RevocationCache {
        RevocationCache::new(Retention::new(
            Duration::from_secs(900),
            Duration::from_secs(30),
            Duration::from_secs(90 * DAY),
        ))
    }

    #[test]
    fn a_revocation_is_forgotten_once_its_tokens_have_expired() {
        let cache = cache();
        let (old, fresh) = (SessionId::generate(), SessionId::generate());
        cache.insert(old, 1_000);
        cache.insert(fresh, 2_000);
        cache.forget_before(1_000 + 930);
        assert!(!cache.is_revoked(&old));
        assert!(cache.is_revoked(&fresh));
    }

    #[test]
    fn the_latest_cut_off_wins_and_lasts_as_long_as_a_session_opened_before_it() {
        let cache = cache();
        let subject = Subject::parse("user-42").unwrap();
        cache.cut_off(subject.clone(), 2_000);
        cache.cut_off(subject.clone(), 1_000);
        assert_eq!(cache.subject_cut_off(&subject), Some(2_000));
        cache.forget_before(2_000 + LEGACY_MAX_LIFETIME_SECS + 3_600);
        assert_eq!(
            cache.subject_cut_off(&subject),
            Some(2_000),
            "a session opened before the cut-off may live 90 days"
        );
        cache.forget_before(2_000 + 90 * 86_400 + 30);
        assert_eq!(cache.subject_cut_off(&subject), None);
    }
}
