//! Issue, Refresh, Revoke and ListSessions: everything that touches the
//! ledger.

use tracing::{info, instrument};

use super::{
    legacy::LegacyLogoutOutcome, secs, Authority, AuthorityError, IssueCommand, RevokeTarget,
    TokenPair,
};
use crate::{
    callers::{Caller, Permission},
    ids::{ClientId, SessionId, Subject},
    ledger::{NewSession, Refusal, RotationPolicy, SessionRecord},
    metrics::{RefreshOutcome, RevokedBy},
    token::{Grant, RefreshToken, REFRESH_TOKEN_PREFIX},
};

impl Authority {
    /// Starts a session: signs an access token and records the session with
    /// its first refresh token.
    #[instrument(skip_all, fields(caller = caller.name(), session_id))]
    pub async fn issue(
        &self,
        caller: &Caller,
        command: IssueCommand,
    ) -> Result<TokenPair, AuthorityError> {
        self.may_issue(caller)?;
        let now = self.now();
        let session = SessionId::generate();
        tracing::Span::current().record("session_id", tracing::field::display(session));
        let session_ends = now.saturating_add(secs(self.policy.session_lifetime));
        let refresh_expires_at = now
            .saturating_add(secs(self.policy.refresh_token_idle_ttl))
            .min(session_ends);
        let grant = Grant {
            audience: command
                .audience
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
            scopes: command
                .scopes
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            claims: command.claims,
        };
        let (access_token, access_expires_at) = self.sign_for_session(
            &command.subject,
            &command.client_id,
            session,
            &grant,
            now,
            session_ends,
        )?;
        let refresh_token = RefreshToken::generate();
        self.ledger
            .open_session(
                NewSession {
                    id: session,
                    subject: &command.subject,
                    client_id: &command.client_id,
                    device: &command.device,
                    grant: &grant,
                    now,
                    expires_at: session_ends,
                    refresh_expires_at,
                },
                &refresh_token,
            )
            .await?;
        self.metrics.sessions().issued();
        info!("session issued");
        Ok(TokenPair {
            access_token,
            access_token_expires_at: access_expires_at,
            refresh_token,
            refresh_token_expires_at: refresh_expires_at,
            session_id: session,
        })
    }

    /// Spends a refresh token for a new pair.
    #[instrument(skip_all, fields(caller = caller.name()))]
    pub async fn refresh(
        &self,
        caller: &Caller,
        presented: &str,
    ) -> Result<TokenPair, AuthorityError> {
        if self.policy.refresh_requires_permission {
            Self::require(caller, Permission::Refresh)?;
        }
        if presented.is_empty() {
            return Err(AuthorityError::InvalidRequest(
                "refresh_token is required".into(),
            ));
        }
        let Some(presented) = RefreshToken::parse(presented) else {
            if !presented.starts_with(REFRESH_TOKEN_PREFIX) {
                // A former system's refresh token (a JWT, or an opaque
                // string), exchanged once if the imported ledger holds it.
                return self.refresh_legacy(presented).await;
            }
            return Err(AuthorityError::RefreshTokenMalformed(
                "refresh token is not one inkan issued; log in again",
            ));
        };
        let now = self.now();
        let policy = RotationPolicy {
            idle_ttl: secs(self.policy.refresh_token_idle_ttl),
            reuse_grace: self.policy.reuse_grace,
        };
        let rotation = match self
            .ledger
            .rotate(&presented, &RefreshToken::generate(), now, policy)
            .await?
        {
            Ok(rotation) => rotation,
            // A session opened before its subject's cut-off is over, even
            // if ending it failed half-way (the cut-off is written first,
            // and kept for as long as such a session can live). The ledger
            // refused the token unspent; end the session now.
            Err(Refusal::CutOff { session }) => {
                self.revoke_one(session, now, "opened before its subject's cut-off")
                    .await?;
                self.revocations.insert(session, now);
                return Err(AuthorityError::SessionRevoked);
            }
            Err(refusal) => return Err(self.refused(refusal, now)),
        };
        let session = rotation.session;
        // A revocation this replica already knows of wins over a rotation
        // that raced it in the ledger.
        if self.revocations.is_revoked(&session.id) {
            return Err(AuthorityError::SessionRevoked);
        }
        let subject = stored(Subject::parse(&session.subject))?;
        let (access_token, access_expires_at) = self.sign_for_session(
            &subject,
            &stored(ClientId::parse(&session.client_id))?,
            session.id,
            &session.grant,
            now,
            session.expires_at,
        )?;
        self.metrics.sessions().refreshed(if rotation.replayed {
            RefreshOutcome::GraceRetry
        } else {
            RefreshOutcome::Rotated
        });
        info!(session_id = %session.id, replayed = rotation.replayed, "session refreshed");
        Ok(TokenPair {
            access_token,
            access_token_expires_at: access_expires_at,
            refresh_token: rotation.refresh_token,
            refresh_token_expires_at: rotation.refresh_expires_at,
            session_id: session.id,
        })
    }

    /// Ends sessions; returns how many this call ended. Revoking what is
    /// already revoked, or unknown, ends nothing and is not an error.
    /// Revoking a subject also refuses its tokens issued before now, those
    /// that name no session included (see `Ledger::cut_off_subject`). By
    /// refresh token, or by an access token that is still valid, no caller
    /// is needed; by an expired access token, a session id or a subject,
    /// `admin` is.
    #[instrument(skip_all, fields(caller = caller.name()))]
    pub async fn revoke(
        &self,
        caller: &Caller,
        target: RevokeTarget,
        reason: &str,
    ) -> Result<u32, AuthorityError> {
        let now = self.now();
        let by = match &target {
            RevokeTarget::RefreshToken(_) => RevokedBy::RefreshToken,
            RevokeTarget::AccessToken(_) => RevokedBy::AccessToken,
            RevokeTarget::Session(_) => RevokedBy::Session,
            RevokeTarget::Subject(_) => RevokedBy::Subject,
        };
        let ended: Vec<SessionId> = match target {
            RevokeTarget::RefreshToken(text) => {
                if text.is_empty() {
                    return Err(AuthorityError::InvalidRequest(
                        "refresh_token is required".into(),
                    ));
                }
                let Some(token) = RefreshToken::parse(&text) else {
                    if text.starts_with(REFRESH_TOKEN_PREFIX) {
                        return Ok(0);
                    }
                    // A former system's refresh token: the logout ends it.
                    return match self.logout_legacy(&text, now).await? {
                        LegacyLogoutOutcome::Nothing => Ok(0),
                        LegacyLogoutOutcome::Ended => {
                            self.metrics.sessions().revoked(by, 1);
                            Ok(1)
                        }
                        LegacyLogoutOutcome::Session(id) => {
                            let ended = self.revoke_one(id, now, reason).await?;
                            for id in &ended {
                                self.revocations.insert(*id, now);
                            }
                            self.metrics.sessions().revoked(by, ended.len() as u64);
                            Ok(u32::try_from(ended.len()).unwrap_or(u32::MAX))
                        }
                    };
                };
                match self.ledger.session_of_token(&token.hash()).await? {
                    Some(id) => self.revoke_one(id, now, reason).await?,
                    None => Vec::new(),
                }
            }
            RevokeTarget::AccessToken(text) => {
                if text.is_empty() {
                    return Err(AuthorityError::InvalidRequest(
                        "access_token is required".into(),
                    ));
                }
                let mut expect = self.expectations(None, &[], now);
                // Holding a valid token proves the right to end its session.
                // An expired one proves little: every log line and resource
                // server that ever saw it holds it too. Past its expiry (and
                // the leeway) only an administrator may name a session by it;
                // anyone else hears TOKEN_EXPIRED, as from Verify.
                expect.allow_expired = caller.is_authenticated() && caller.may(Permission::Admin);
                let keys = self.keys.current();
                let verified = crate::token::verify_access_token(&text, keys.verifying(), &expect)?;
                match verified.session_id {
                    Some(id) => self.revoke_one(id, now, reason).await?,
                    // A legacy token names no session of inkan's.
                    None => Vec::new(),
                }
            }
            RevokeTarget::Session(id) => {
                Self::require(caller, Permission::Admin)?;
                self.revoke_one(id, now, reason).await?
            }
            RevokeTarget::Subject(subject) => {
                Self::require(caller, Permission::Admin)?;
                // The cut-off first: it alone reaches tokens that name no
                // session (a former system's), and it covers the sessions
                // too should ending them one by one fail half-way.
                self.ledger.cut_off_subject(&subject, now).await?;
                self.revocations.cut_off(subject.clone(), now);
                self.ledger.revoke_subject(&subject, now, reason).await?
            }
        };
        for id in &ended {
            self.revocations.insert(*id, now);
        }
        self.metrics
            .sessions()
            .revoked(by, u64::try_from(ended.len()).unwrap_or(u64::MAX));
        info!(sessions = ended.len(), "sessions revoked");
        Ok(u32::try_from(ended.len()).unwrap_or(u32::MAX))
    }

    async fn revoke_one(
        &self,
        id: SessionId,
        now: i64,
        reason: &str,
    ) -> Result<Vec<SessionId>, AuthorityError> {
        let ended = self.ledger.revoke_session(id, now, reason).await?;
        Ok(if ended == 1 { vec![id] } else { Vec::new() })
    }

    /// A subject's sessions, newest first. Needs `admin`.
    #[instrument(skip_all, fields(caller = caller.name()))]
    pub async fn list_sessions(
        &self,
        caller: &Caller,
        subject: &Subject,
    ) -> Result<Vec<SessionRecord>, AuthorityError> {
        Self::require(caller, Permission::Admin)?;
        Ok(self.ledger.list_sessions(subject).await?)
    }

    /// Signs an access token that never outlives its session.
    pub(super) fn sign_for_session(
        &self,
        subject: &Subject,
        client_id: &ClientId,
        session: SessionId,
        grant: &Grant,
        now: i64,
        session_ends: i64,
    ) -> Result<(String, i64), AuthorityError> {
        let expires_at = now
            .saturating_add(secs(self.policy.access_token_ttl))
            .min(session_ends);
        let keys = self.keys.current();
        let token = self.sign(
            keys.set().active(),
            subject,
            client_id,
            session,
            grant,
            now,
            expires_at,
        )?;
        Ok((token, expires_at))
    }
}

/// A value the ledger held that no longer parses is a storage fault.
fn stored<T>(value: Result<T, crate::ids::InvalidId>) -> Result<T, AuthorityError> {
    value.map_err(|_| AuthorityError::Storage(crate::ledger::LedgerError::Corrupt("session field")))
}
