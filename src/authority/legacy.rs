//! Refresh given a former system's refresh JWT: verified by a legacy key
//! marked for refresh, found unspent in the imported ledger, and exchanged
//! once for an inkan session, whose pair the client uses from then on.

use sha2::{Digest, Sha256};
use tracing::info;

use super::{secs, Authority, AuthorityError, TokenPair};
use crate::{
    ids::{ClientId, SessionId},
    ledger::{LegacyLogout, NewSession, Refusal},
    token::{
        verify_legacy_refresh_token, Grant, LegacyRefresh, LegacyRefreshError, RefreshToken,
        VerifyError,
    },
};

impl Authority {
    /// Exchanges the former system's refresh token `presented` once:
    /// verified by a legacy key marked for refresh, not cut off by a
    /// revocation of its subject, spent in the imported ledger, and
    /// replaced by a new session with the key's grant.
    pub(super) async fn refresh_legacy(
        &self,
        presented: &str,
    ) -> Result<TokenPair, AuthorityError> {
        let now = self.now();
        let legacy = self.verify_legacy_refresh(presented, now)?;
        let grant = self.legacy_grant(&legacy)?;
        // Revoking the whole subject reaches its former tokens too: one
        // issued before the cut-off (or that does not say when it was
        // issued) opens no session. Memory answers at once for recent
        // cut-offs; the ledger, read in the exchange itself, for all.
        if let Some(cut_off) = self.revocations.subject_cut_off(&legacy.subject) {
            if legacy.issued_at.is_none_or(|iat| iat < cut_off) {
                return Err(AuthorityError::SessionRevoked);
            }
        }
        let client_id = ClientId::parse(legacy.label.as_str())?;
        let device = format!("exchanged from legacy key {}", legacy.label);
        let session = SessionId::generate();
        let mut session_ends = now.saturating_add(secs(self.policy.session_lifetime));
        if let Some(exp) = legacy.expires_at {
            session_ends = session_ends.min(exp);
        }
        let new = NewSession {
            id: session,
            subject: &legacy.subject,
            client_id: &client_id,
            device: &device,
            grant: &grant,
            now,
            expires_at: session_ends,
            refresh_expires_at: now
                .saturating_add(secs(self.policy.refresh_token_idle_ttl))
                .min(session_ends),
        };
        let refresh_token = RefreshToken::generate();
        let exchanged = self
            .ledger
            .exchange_legacy_refresh_token(
                &digest(presented),
                legacy.issued_at,
                new,
                &refresh_token,
            )
            .await?
            .map_err(|refusal| self.refused(refusal, now))?;
        let (access_token, access_expires_at) = self.sign_for_session(
            &legacy.subject,
            &client_id,
            session,
            &grant,
            now,
            exchanged.session_ends,
        )?;
        self.metrics.sessions().issued();
        self.metrics
            .keys()
            .legacy_refresh_exchanged(legacy.label.as_str());
        info!(session_id = %session, legacy_key = %legacy.label, "legacy refresh token exchanged for a session");
        Ok(TokenPair {
            access_token,
            access_token_expires_at: access_expires_at,
            refresh_token,
            refresh_token_expires_at: exchanged.refresh_expires_at,
            session_id: session,
        })
    }

    /// Verifies `presented` with the legacy keys marked for refresh, each
    /// way it can fail answered as the contract says (a placeholder-signed
    /// token is also counted and logged as a security event).
    fn verify_legacy_refresh(
        &self,
        presented: &str,
        now: i64,
    ) -> Result<LegacyRefresh, AuthorityError> {
        let keys = self.keys.current();
        match verify_legacy_refresh_token(
            presented,
            keys.verifying(),
            now,
            secs(self.policy.leeway),
        ) {
            Ok(legacy) => Ok(legacy),
            Err(LegacyRefreshError::NotLegacy) => Err(AuthorityError::RefreshTokenMalformed(
                "this is an access token, not a refresh token; log in again",
            )),
            Err(LegacyRefreshError::Placeholder(err)) => {
                if let VerifyError::PlaceholderSigned {
                    placeholder,
                    token_id,
                } = &err
                {
                    self.placeholder_signed("Refresh", placeholder, token_id);
                }
                Err(AuthorityError::AccessToken(err))
            }
            Err(other) => Err(AuthorityError::LegacyRefresh(other)),
        }
    }

    /// What a session opened by exchanging `legacy` carries: its key's
    /// session grant.
    fn legacy_grant(&self, legacy: &LegacyRefresh) -> Result<Grant, AuthorityError> {
        let keys = self.keys.current();
        let Some(grant) = keys
            .set()
            .keys()
            .iter()
            .find(|k| k.kid() == &legacy.label)
            .and_then(|k| k.legacy_session_grant())
        else {
            // Every legacy key marked for refresh has a session grant (the
            // key set is refused otherwise).
            return Err(AuthorityError::LegacyRefresh(LegacyRefreshError::NotLegacy));
        };
        Ok(Grant {
            audience: grant.audience.clone(),
            scopes: grant.scopes.clone(),
            claims: Default::default(),
        })
    }

    /// The error for a refused refresh or exchange; reuse revokes the
    /// session, in this replica's memory as well as in the ledger.
    pub(super) fn refused(&self, refusal: Refusal, now: i64) -> AuthorityError {
        if let Refusal::Reused { session } = &refusal {
            self.revocations.insert(*session, now);
            self.metrics.sessions().reuse_detected();
        }
        refusal.into()
    }

    /// Logs out with the former system's refresh token `presented`: one a
    /// legacy key verifies and the ledger imported is ended, never to be
    /// exchanged; if it was exchanged already, the session it opened is
    /// returned, for the caller to end. Counted as the one session the
    /// token stood for. A token no legacy key verifies ends nothing, as an
    /// unknown refresh token does not.
    pub(super) async fn logout_legacy(
        &self,
        presented: &str,
        now: i64,
    ) -> Result<LegacyLogoutOutcome, AuthorityError> {
        let keys = self.keys.current();
        if verify_legacy_refresh_token(presented, keys.verifying(), now, secs(self.policy.leeway))
            .is_err()
        {
            return Ok(LegacyLogoutOutcome::Nothing);
        }
        Ok(
            match self
                .ledger
                .end_legacy_refresh_token(&digest(presented), now)
                .await?
            {
                LegacyLogout::Ended => {
                    info!("a former system's refresh token was ended by a logout");
                    LegacyLogoutOutcome::Ended
                }
                LegacyLogout::Exchanged(session) => LegacyLogoutOutcome::Session(session),
                LegacyLogout::NotImported | LegacyLogout::AlreadyEnded => {
                    LegacyLogoutOutcome::Nothing
                }
            },
        )
    }
}

/// What a logout with a former system's refresh token reached.
pub(super) enum LegacyLogoutOutcome {
    /// Nothing: not verified, not imported, or ended before.
    Nothing,
    /// The token, never exchanged, can no longer be.
    Ended,
    /// The session the token was exchanged for.
    Session(SessionId),
}

/// The digest the ledger keeps of a former system's refresh token.
fn digest(presented: &str) -> String {
    Sha256::digest(presented.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
