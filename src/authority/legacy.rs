//! Refresh given a former system's refresh token, exchanged once for an
//! inkan session whose pair the client uses from then on. A JWT one is
//! verified by a legacy key marked for refresh and must be in the imported
//! ledger, unspent; an opaque one (a random string) is only its imported
//! row, which says whom it belongs to, when it ends and which legacy key's
//! sunset and grant it is exchanged under.

use sha2::{Digest, Sha256};
use tracing::info;

use super::{secs, Authority, AuthorityError, TokenPair};
use crate::{
    ids::{ClientId, Kid, SessionId, Subject},
    ledger::{LedgerError, LegacyLogout, LegacyRecord, LegacyTokenKind, NewSession, Refusal},
    token::{
        verify_legacy_refresh_token, Grant, LegacyRefreshError, RefreshToken, VerifyError,
        MAX_TOKEN_BYTES,
    },
};

/// What an exchange of a former refresh token starts from, whichever its
/// kind: what vouches for it has been checked, the ledger has yet to spend
/// it.
struct Former {
    kind: LegacyTokenKind,
    /// The legacy key it is exchanged under.
    label: Kid,
    subject: Subject,
    /// When it was issued, if it says (an opaque token never does).
    issued_at: Option<i64>,
    /// Its own end, if it says (the ledger caps the session at its row's).
    expires_at: Option<i64>,
    grant: Grant,
    /// What its row says of its login, if anything.
    record: LegacyRecord,
}

impl Authority {
    /// Exchanges the former system's refresh token `presented` once: found
    /// good by its kind's rules, not cut off by a revocation of its
    /// subject, spent in the imported ledger, and replaced by a new session
    /// with its legacy key's grant.
    pub(super) async fn refresh_legacy(
        &self,
        presented: &str,
    ) -> Result<TokenPair, AuthorityError> {
        let now = self.now();
        let former = match LegacyTokenKind::of_token(presented) {
            LegacyTokenKind::Jwt => self.former_jwt(presented, now).await?,
            LegacyTokenKind::Opaque => self.former_opaque(presented, now).await?,
        };
        // Revoking the whole subject reaches its former tokens too: one
        // issued before the cut-off (or that does not say when it was
        // issued) opens no session. Memory answers at once for recent
        // cut-offs; the ledger, read in the exchange itself, for all.
        if let Some(cut_off) = self.revocations.subject_cut_off(&former.subject) {
            if former.issued_at.is_none_or(|iat| iat < cut_off) {
                return Err(AuthorityError::SessionRevoked);
            }
        }
        let client_id = match former.record.client_id.as_deref() {
            Some(id) => ClientId::parse(id).map_err(|_| corrupt())?,
            None => ClientId::parse(former.label.as_str())?,
        };
        let device = former
            .record
            .device
            .clone()
            .unwrap_or_else(|| format!("exchanged from legacy key {}", former.label));
        let session = SessionId::generate();
        let mut session_ends = now.saturating_add(secs(self.policy.session_lifetime));
        if let Some(exp) = former.expires_at {
            session_ends = session_ends.min(exp);
        }
        let new = NewSession {
            id: session,
            subject: &former.subject,
            client_id: &client_id,
            device: &device,
            grant: &former.grant,
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
                former.kind,
                former.issued_at,
                new,
                &refresh_token,
            )
            .await?
            .map_err(|refusal| self.refused(refusal, now))?;
        let (access_token, access_expires_at) = self.sign_for_session(
            &former.subject,
            &client_id,
            session,
            &former.grant,
            now,
            exchanged.session_ends,
        )?;
        self.metrics.sessions().issued();
        self.metrics
            .keys()
            .legacy_refresh_exchanged(former.label.as_str());
        info!(
            session_id = %session,
            legacy_key = %former.label,
            kind = former.kind.as_str(),
            "legacy refresh token exchanged for a session"
        );
        Ok(TokenPair {
            access_token,
            access_token_expires_at: access_expires_at,
            refresh_token,
            refresh_token_expires_at: exchanged.refresh_expires_at,
            session_id: session,
        })
    }

    /// A former refresh JWT: verified by a legacy key marked for refresh
    /// (each way that can fail answered as the contract says; a
    /// placeholder-signed token is also counted and logged as a security
    /// event), then found in the imported ledger.
    async fn former_jwt(&self, presented: &str, now: i64) -> Result<Former, AuthorityError> {
        let keys = self.keys.current();
        let legacy = match verify_legacy_refresh_token(
            presented,
            keys.verifying(),
            now,
            secs(self.policy.leeway),
        ) {
            Ok(legacy) => legacy,
            Err(LegacyRefreshError::NotLegacy) => {
                return Err(AuthorityError::RefreshTokenMalformed(
                    "this is an access token, not a refresh token; log in again",
                ))
            }
            Err(LegacyRefreshError::Placeholder(err)) => {
                if let VerifyError::PlaceholderSigned {
                    placeholder,
                    token_id,
                } = &err
                {
                    self.placeholder_signed("Refresh", placeholder, token_id);
                }
                return Err(AuthorityError::AccessToken(err));
            }
            Err(other) => return Err(AuthorityError::LegacyRefresh(other)),
        };
        let grant = self.legacy_grant(&legacy.label)?;
        let record = self
            .ledger
            .legacy_refresh_token(&digest(presented), LegacyTokenKind::Jwt)
            .await?
            .ok_or_else(|| self.refused(Refusal::NotImported, now))?;
        Ok(Former {
            kind: LegacyTokenKind::Jwt,
            label: legacy.label,
            subject: legacy.subject,
            issued_at: legacy.issued_at,
            expires_at: legacy.expires_at,
            grant,
            record,
        })
    }

    /// A former opaque refresh token: nothing in it can be checked, so its
    /// imported row is the authority for its subject and end, and the
    /// legacy key the row names must still take refresh tokens.
    async fn former_opaque(&self, presented: &str, now: i64) -> Result<Former, AuthorityError> {
        let not_ours = AuthorityError::RefreshTokenMalformed(
            "refresh token is not one inkan issued; log in again",
        );
        // Without a legacy key for refresh nothing was imported to exchange,
        // and the ledger is not asked about garbage.
        if !could_be_opaque(presented) || !self.takes_legacy_refresh() {
            return Err(not_ours);
        }
        let record = self
            .ledger
            .legacy_refresh_token(&digest(presented), LegacyTokenKind::Opaque)
            .await?
            .ok_or_else(|| self.refused(Refusal::NotImported, now))?;
        let label = record
            .legacy_key
            .as_deref()
            .and_then(|label| Kid::parse(label).ok())
            .ok_or_else(corrupt)?;
        let keys = self.keys.current();
        // The key gone (dropped after its sunset) or past its sunset: the
        // former system's tokens are no longer honoured.
        let live = keys
            .set()
            .keys()
            .iter()
            .find(|k| k.kid() == &label)
            .and_then(|k| k.legacy())
            .is_some_and(|terms| terms.refresh && now < terms.sunset);
        if !live {
            return Err(LegacyRefreshError::Sunset { label }.into());
        }
        let grant = self.legacy_grant(&label)?;
        Ok(Former {
            kind: LegacyTokenKind::Opaque,
            subject: Subject::parse(&record.subject).map_err(|_| corrupt())?,
            label,
            issued_at: None,
            expires_at: Some(record.expires_at),
            grant,
            record,
        })
    }

    /// Whether any legacy key exchanges refresh tokens.
    fn takes_legacy_refresh(&self) -> bool {
        let keys = self.keys.current();
        keys.verifying()
            .legacy()
            .iter()
            .any(|key| key.terms().refresh)
    }

    /// What a session opened by exchanging a token of the legacy key
    /// `label` carries: its key's session grant.
    fn legacy_grant(&self, label: &Kid) -> Result<Grant, AuthorityError> {
        let keys = self.keys.current();
        let Some(grant) = keys
            .set()
            .keys()
            .iter()
            .find(|k| k.kid() == label)
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

    /// Logs out with the former system's refresh token `presented`: one
    /// the ledger imported (a JWT one also verified by a legacy key) is
    /// ended, never to be exchanged; if it was exchanged already, the
    /// session it opened is returned, for the caller to end. Counted as the
    /// one session the token stood for. A JWT no legacy key verifies, or
    /// any token when no legacy key takes refresh tokens, ends nothing, as
    /// an unknown refresh token does not.
    pub(super) async fn logout_legacy(
        &self,
        presented: &str,
        now: i64,
    ) -> Result<LegacyLogoutOutcome, AuthorityError> {
        let kind = LegacyTokenKind::of_token(presented);
        let vouched = match kind {
            LegacyTokenKind::Jwt => {
                let keys = self.keys.current();
                verify_legacy_refresh_token(
                    presented,
                    keys.verifying(),
                    now,
                    secs(self.policy.leeway),
                )
                .is_ok()
            }
            LegacyTokenKind::Opaque => could_be_opaque(presented) && self.takes_legacy_refresh(),
        };
        if !vouched {
            return Ok(LegacyLogoutOutcome::Nothing);
        }
        Ok(
            match self
                .ledger
                .end_legacy_refresh_token(&digest(presented), kind, now)
                .await?
            {
                LegacyLogout::Ended => {
                    info!(
                        kind = kind.as_str(),
                        "a former system's refresh token was ended by a logout"
                    );
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

/// Whether `presented` could be an imported opaque token: what the import
/// takes (at most 8 KiB, no whitespace or control characters).
fn could_be_opaque(presented: &str) -> bool {
    presented.len() <= MAX_TOKEN_BYTES
        && !presented
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
}

/// A row of the imported ledger that does not read back as it was written.
fn corrupt() -> AuthorityError {
    AuthorityError::Storage(LedgerError::Corrupt("legacy refresh token row"))
}

/// The digest the ledger keeps of a former system's refresh token.
fn digest(presented: &str) -> String {
    Sha256::digest(presented.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
