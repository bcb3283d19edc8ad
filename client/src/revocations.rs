//! Revocations, held locally: a follower of `WatchRevocations` applies
//! each batch (revoked sessions, and subjects cut off before a time) to an
//! in-memory [`RevocationSet`], which `inkan_core::verify_access_token`
//! asks through [`RevocationCheck`]. Each entry is kept until its
//! `forget_after`, when no token it refuses can still be valid, so the set
//! holds only what can still matter.
//!
//! A broken stream is reconnected with backoff and resumed from the last
//! batch's cursor, so nothing is missed and nothing applied twice. Until a
//! connection's `caught_up` batch arrives the set may lack revocations, and
//! the verifier says so.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use inkan_core::{
    clock,
    ids::{SessionId, Subject},
    RevocationCheck,
};
use tokio::sync::watch;
use tonic::{metadata::AsciiMetadataValue, transport::Channel, Code};
use tracing::warn;

use crate::{
    backoff::Backoff,
    metrics::Metrics,
    proto::v1::{
        token_service_client::TokenServiceClient, RevocationBatch, WatchRevocationsRequest,
    },
};

/// How long an entry that does not say when it may be forgotten is kept:
/// longer than any access token lives.
const DEFAULT_RETENTION_SECS: i64 = 24 * 3600;

pub(crate) use inkan_proto::API_KEY_HEADER;

/// Revoked sessions and subject cut-offs, each until its `forget_after`
/// (Unix seconds). Lookups ignore entries past it; applying a batch drops
/// them.
#[derive(Debug, Default)]
pub struct RevocationSet {
    entries: RwLock<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// Session to forget-after.
    sessions: HashMap<SessionId, i64>,
    /// Subject to (not-before, forget-after).
    subjects: HashMap<Subject, (i64, i64)>,
}

fn seconds(time: Option<&prost_types::Timestamp>) -> Option<i64> {
    time.map(|t| t.seconds)
}

impl RevocationSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one `WatchRevocations` batch at `now` (Unix seconds) and
    /// drops every entry past its `forget_after`. Entries that name no
    /// valid session or subject are skipped: they could refuse nothing.
    pub fn apply(&self, batch: &RevocationBatch, now: i64) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let fallback = now.saturating_add(DEFAULT_RETENTION_SECS);
        for revoked in &batch.sessions {
            let Ok(session) = SessionId::parse(&revoked.session_id) else {
                warn!("skipped a revoked session with an invalid id");
                continue;
            };
            let forget = seconds(revoked.forget_after.as_ref()).unwrap_or(fallback);
            let kept = entries.sessions.entry(session).or_insert(forget);
            *kept = (*kept).max(forget);
        }
        for cut in &batch.subjects {
            let (Ok(subject), Some(not_before)) = (
                Subject::parse(&cut.subject),
                seconds(cut.not_before.as_ref()),
            ) else {
                warn!("skipped a subject cut-off without a valid subject or time");
                continue;
            };
            let forget = seconds(cut.forget_after.as_ref()).unwrap_or(fallback);
            // A later cut-off refuses more; keep the widest of the two.
            let kept = entries
                .subjects
                .entry(subject)
                .or_insert((not_before, forget));
            *kept = (kept.0.max(not_before), kept.1.max(forget));
        }
        entries.sessions.retain(|_, forget| *forget > now);
        entries.subjects.retain(|_, (_, forget)| *forget > now);
    }

    /// How many revoked sessions and subject cut-offs are held.
    pub fn len(&self) -> usize {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries.sessions.len() + entries.subjects.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RevocationCheck for RevocationSet {
    fn is_revoked(&self, session: &SessionId) -> bool {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .sessions
            .get(session)
            .is_some_and(|forget| *forget > clock::now())
    }

    fn subject_cut_off(&self, subject: &Subject) -> Option<i64> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .subjects
            .get(subject)
            .filter(|(_, forget)| *forget > clock::now())
            .map(|(not_before, _)| *not_before)
    }
}

/// Follows `WatchRevocations` into a [`RevocationSet`].
pub(crate) struct Follower {
    pub(crate) client: TokenServiceClient<Channel>,
    /// Marked sensitive, so no Debug of the request prints it. `None` when
    /// the channel's client certificate names the caller.
    pub(crate) api_key: Option<AsciiMetadataValue>,
    pub(crate) set: Arc<RevocationSet>,
    pub(crate) metrics: Metrics,
    /// `true` while connected and caught up.
    pub(crate) current: watch::Sender<bool>,
    pub(crate) first_wait: Duration,
}

impl Follower {
    /// Follows the stream for as long as the task runs.
    pub(crate) async fn run(mut self) {
        let mut backoff = Backoff::new(self.first_wait, Duration::from_secs(30));
        let mut cursor = String::new();
        loop {
            let mut request = tonic::Request::new(WatchRevocationsRequest {
                since: cursor.clone(),
            });
            if let Some(api_key) = &self.api_key {
                request
                    .metadata_mut()
                    .insert(API_KEY_HEADER, api_key.clone());
            }
            match self.client.watch_revocations(request).await {
                Ok(response) => {
                    let mut stream = response.into_inner();
                    loop {
                        match stream.message().await {
                            Ok(Some(batch)) => {
                                backoff.reset();
                                self.set.apply(&batch, clock::now());
                                if !batch.cursor.is_empty() {
                                    cursor = batch.cursor;
                                }
                                if batch.caught_up {
                                    self.current.send_replace(true);
                                }
                                self.publish();
                            }
                            Ok(None) => break,
                            Err(status) => {
                                warn!(code = ?status.code(), "the WatchRevocations stream broke; resuming from its cursor");
                                break;
                            }
                        }
                    }
                }
                Err(status) if status.code() == Code::Unimplemented => {
                    warn!(
                        "this inkan does not serve WatchRevocations; revocations are not followed"
                    );
                }
                Err(status) => {
                    warn!(code = ?status.code(), "WatchRevocations failed; retrying");
                }
            }
            // Whatever was missed is replayed from the cursor, and the set
            // is current again only with the next `caught_up`.
            self.current.send_replace(false);
            self.publish();
            tokio::time::sleep(backoff.next_wait()).await;
        }
    }

    fn publish(&self) {
        self.metrics
            .set_revocations(self.set.len(), *self.current.borrow());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1::{RevokedSession, SubjectCutOff};
    use prost_types::Timestamp;

    fn at(seconds: i64) -> Option<Timestamp> {
        Some(Timestamp { seconds, nanos: 0 })
    }

    const SESSION: &str = "6c3b7a4e-59f1-4a56-9e1d-2f8c0f7a9b10";

    #[test]
    fn batches_add_revocations_and_forget_them_after_their_time() {
        let set = RevocationSet::new();
        let now = clock::now();
        set.apply(
            &RevocationBatch {
                sessions: vec![
                    RevokedSession {
                        session_id: SESSION.into(),
                        revoked_at: at(now),
                        forget_after: at(now + 600),
                    },
                    RevokedSession {
                        session_id: "not-a-session".into(),
                        revoked_at: at(now),
                        forget_after: at(now + 600),
                    },
                ],
                subjects: vec![SubjectCutOff {
                    subject: "user-7".into(),
                    not_before: at(now - 10),
                    forget_after: at(now + 600),
                }],
                cursor: "c1".into(),
                caught_up: true,
            },
            now,
        );
        let session = SessionId::parse(SESSION).unwrap();
        let subject = Subject::parse("user-7").unwrap();
        assert_eq!(set.len(), 2);
        assert!(set.is_revoked(&session));
        assert_eq!(set.subject_cut_off(&subject), Some(now - 10));
        assert_eq!(
            set.subject_cut_off(&Subject::parse("user-8").unwrap()),
            None
        );

        // Applied again later, the entries are past forget_after and go.
        set.apply(&RevocationBatch::default(), now + 601);
        assert!(set.is_empty());
    }

    #[test]
    fn a_later_cut_off_widens_an_earlier_one() {
        let set = RevocationSet::new();
        let now = clock::now();
        let cut = |not_before, forget| RevocationBatch {
            subjects: vec![SubjectCutOff {
                subject: "user-7".into(),
                not_before: at(not_before),
                forget_after: at(forget),
            }],
            ..Default::default()
        };
        set.apply(&cut(now - 100, now + 100), now);
        set.apply(&cut(now - 50, now + 50), now);
        let subject = Subject::parse("user-7").unwrap();
        assert_eq!(set.subject_cut_off(&subject), Some(now - 50));
        set.apply(&RevocationBatch::default(), now + 60);
        assert_eq!(
            set.subject_cut_off(&subject),
            Some(now - 50),
            "kept until the later forget_after"
        );
    }
}
