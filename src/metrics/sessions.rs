//! The life cycle of sessions: how many start, how refreshes go, how often
//! a refresh token is replayed (theft, or a client bug), and why sessions
//! end.

use prometheus::{IntCounter, IntCounterVec, Registry};

use super::build::{counter, counter_vec};

/// How a successful refresh went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was spent for a new one.
    Rotated,
    /// A retry within the grace window got the successor already minted.
    GraceRetry,
}

impl RefreshOutcome {
    fn as_str(self) -> &'static str {
        match self {
            RefreshOutcome::Rotated => "rotated",
            RefreshOutcome::GraceRetry => "grace_retry",
        }
    }
}

/// What a revocation named: the `by` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokedBy {
    /// The session of a presented refresh token.
    RefreshToken,
    /// The session of a presented access token.
    AccessToken,
    /// One session, by id.
    Session,
    /// Every session of a subject.
    Subject,
    /// The ledger revoked the session because its refresh token was
    /// replayed outside the grace window.
    Reuse,
}

impl RevokedBy {
    fn as_str(self) -> &'static str {
        match self {
            RevokedBy::RefreshToken => "refresh_token",
            RevokedBy::AccessToken => "access_token",
            RevokedBy::Session => "session",
            RevokedBy::Subject => "subject",
            RevokedBy::Reuse => "reuse",
        }
    }
}

/// Session life-cycle counters.
#[derive(Debug)]
pub struct SessionMetrics {
    issued: IntCounter,
    refreshes: IntCounterVec,
    reuse: IntCounter,
    revoked: IntCounterVec,
}

impl SessionMetrics {
    pub(super) fn new(registry: &Registry) -> Self {
        let metrics = Self {
            issued: counter(
                registry,
                "inkan_sessions_issued_total",
                "Sessions started by Issue.",
            ),
            refreshes: counter_vec(
                registry,
                "inkan_refreshes_total",
                "Successful refreshes, by outcome (rotated, or grace_retry: a retry within the \
                 grace window answered with the same successor).",
                &["outcome"],
            ),
            reuse: counter(
                registry,
                "inkan_refresh_reuse_detected_total",
                "Refresh tokens replayed outside the grace window; each revoked its session.",
            ),
            revoked: counter_vec(
                registry,
                "inkan_sessions_revoked_total",
                "Sessions ended, by what the revocation named (refresh_token, access_token, \
                 session, subject, or reuse).",
                &["by"],
            ),
        };
        // Every series exists from the start, so `rate()` and `increase()`
        // see the first event rather than a series appearing.
        for outcome in [RefreshOutcome::Rotated, RefreshOutcome::GraceRetry] {
            metrics.refreshes.with_label_values(&[outcome.as_str()]);
        }
        for by in [
            RevokedBy::RefreshToken,
            RevokedBy::AccessToken,
            RevokedBy::Session,
            RevokedBy::Subject,
            RevokedBy::Reuse,
        ] {
            metrics.revoked.with_label_values(&[by.as_str()]);
        }
        metrics
    }

    /// Counts a session started.
    pub fn issued(&self) {
        self.issued.inc();
    }

    /// Counts a successful refresh.
    pub fn refreshed(&self, outcome: RefreshOutcome) {
        self.refreshes.with_label_values(&[outcome.as_str()]).inc();
    }

    /// Counts a replayed refresh token, and the session it revoked.
    pub fn reuse_detected(&self) {
        self.reuse.inc();
        self.revoked(RevokedBy::Reuse, 1);
    }

    /// Counts `sessions` ended by a revocation naming `by`.
    pub fn revoked(&self, by: RevokedBy, sessions: u64) {
        self.revoked
            .with_label_values(&[by.as_str()])
            .inc_by(sessions);
    }
}
