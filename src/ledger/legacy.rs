//! A former system's refresh tokens: imported by digest, and each exchanged
//! once for an inkan session. The imported ledger is the authority, as the
//! former system's own table was: a well-signed token that is not in it is
//! refused, and one that is there but spent is reuse. An opaque token (a
//! random string) has nothing but its row to vouch for it, so a row says
//! which kind it holds, and a token is exchanged only as that kind.

mod import;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use tracing::{instrument, warn};

pub use import::{ImportConflict, ImportSummary, LegacyImportRow};

use super::{
    bounds::retrying,
    entity::{legacy_refresh_token, subject_cut_off},
    sessions::{insert_session, NewSession},
    Ledger, LedgerError, Refusal,
};
use crate::{ids::SessionId, metrics::LedgerCall, token::RefreshToken};

/// What a former system's refresh token is, which says what vouches for it
/// when it is exchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LegacyTokenKind {
    /// A JWT: a legacy key marked for refresh must verify it, and its
    /// claims must agree with its row.
    #[default]
    Jwt,
    /// A random string (a PHP app's `bin2hex(random_bytes(32))`): its row
    /// alone says whom it belongs to and when it ends.
    Opaque,
}

impl LegacyTokenKind {
    /// The kind of `token` by its shape: three dot-separated parts make a
    /// JWT (RFC 7519's compact form); anything else is opaque.
    pub fn of_token(token: &str) -> Self {
        if token.split('.').count() == 3 {
            Self::Jwt
        } else {
            Self::Opaque
        }
    }

    /// The name an export and the ledger give it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::Opaque => "opaque",
        }
    }

    /// Reads `jwt` or `opaque`, in any case.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Jwt, Self::Opaque]
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(text))
    }
}

/// An imported refresh token as the ledger holds it, before it is spent:
/// what its row says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyRecord {
    /// Whom it belongs to.
    pub subject: String,
    /// When it ends (Unix seconds).
    pub expires_at: i64,
    /// For an opaque token, the legacy key it is exchanged under.
    pub legacy_key: Option<String>,
    /// The client it was issued to, if the export said.
    pub client_id: Option<String>,
    /// The device it was issued on, if the export said.
    pub device: Option<String>,
}

/// The session an exchange opened, as the ledger capped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchanged {
    /// The session's end: never later than the legacy token's own expiry.
    pub session_ends: i64,
    /// When its first refresh token goes idle.
    pub refresh_expires_at: i64,
}

/// What logging out with a former system's refresh token ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyLogout {
    /// The token was never imported: nothing to end.
    NotImported,
    /// The token was not exchanged yet and now never will be.
    Ended,
    /// The token had been exchanged for this session, which the caller
    /// ends.
    Exchanged(SessionId),
    /// The token had been ended before.
    AlreadyEnded,
}

enum Attempt {
    Done(Result<Exchanged, Refusal>),
    LostRace,
}

impl Ledger {
    /// The imported refresh token `token_hash` of `kind`, as its row says,
    /// if the ledger holds one: what an exchange of it would start from.
    #[instrument(skip_all)]
    pub async fn legacy_refresh_token(
        &self,
        token_hash: &str,
        kind: LegacyTokenKind,
    ) -> Result<Option<LegacyRecord>, LedgerError> {
        let row = legacy_refresh_token::Entity::find_by_id(token_hash.to_owned())
            .one(&self.db)
            .await?;
        Ok(row
            .filter(|row| row.kind == kind.as_str())
            .map(|row| LegacyRecord {
                subject: row.subject,
                expires_at: row.expires_at,
                legacy_key: row.legacy_key,
                client_id: row.client_id,
                device: row.device,
            }))
    }

    /// Spends the imported legacy refresh token `token_hash` of `kind` and
    /// `subject` and opens `new` with `first_token` in the same transaction,
    /// or says why not: not imported (or imported for another subject or as
    /// another kind), expired,
    /// or spent already, which is reuse and revokes the session its
    /// exchange opened; or its subject was cut off after the token was
    /// issued (`issued_at`, `None` when the token does not say), read from
    /// the ledger in the same transaction, so no cut-off is ever missed
    /// however long ago it was made. Of concurrent exchanges of one token
    /// exactly one opens a session. `new`'s end and its first token's idle
    /// limit are capped at the legacy token's own expiry.
    #[instrument(skip_all, fields(session_id = %new.id))]
    pub async fn exchange_legacy_refresh_token(
        &self,
        token_hash: &str,
        kind: LegacyTokenKind,
        issued_at: Option<i64>,
        new: NewSession<'_>,
        first_token: &RefreshToken,
    ) -> Result<Result<Exchanged, Refusal>, LedgerError> {
        let exchanging = async {
            // A lost race means the token is now spent: the second read
            // takes the reuse path.
            for _ in 0..2 {
                let attempt = retrying("exchange legacy refresh token", || {
                    self.try_exchange(token_hash, kind, issued_at, &new, first_token)
                })
                .await?;
                match attempt {
                    Attempt::Done(outcome) => return Ok(outcome),
                    Attempt::LostRace => continue,
                }
            }
            Err(LedgerError::Contended)
        };
        self.timed(LedgerCall::Rotate, exchanging).await
    }

    async fn try_exchange(
        &self,
        token_hash: &str,
        kind: LegacyTokenKind,
        issued_at: Option<i64>,
        new: &NewSession<'_>,
        first_token: &RefreshToken,
    ) -> Result<Attempt, LedgerError> {
        let Some(row) = legacy_refresh_token::Entity::find_by_id(token_hash.to_owned())
            .one(&self.db)
            .await?
        else {
            return Ok(Attempt::Done(Err(Refusal::NotImported)));
        };
        // The export and the token must agree on whom it belongs to, and on
        // what vouches for it.
        if row.subject != new.subject.as_str() || row.kind != kind.as_str() {
            return Ok(Attempt::Done(Err(Refusal::NotImported)));
        }
        if row.used_at.is_some() {
            let Some(session) = row.session_id.as_deref() else {
                // Spent by a logout, not an exchange.
                return Ok(Attempt::Done(Err(Refusal::SessionRevoked)));
            };
            let Ok(session) = SessionId::parse(session) else {
                return Err(LedgerError::Corrupt("legacy refresh token session id"));
            };
            warn!(%session, "legacy refresh token reuse detected; revoking the session it opened");
            self.revoke_session(session, new.now, "legacy refresh token reused")
                .await?;
            return Ok(Attempt::Done(Err(Refusal::Reused { session })));
        }
        if new.now >= row.expires_at {
            return Ok(Attempt::Done(Err(Refusal::Expired)));
        }
        let capped = NewSession {
            expires_at: new.expires_at.min(row.expires_at),
            refresh_expires_at: new.refresh_expires_at.min(row.expires_at),
            ..*new
        };
        let txn = self.db.begin().await?;
        // The compare-and-set, first in the transaction (on SQLite it takes
        // the write lock before anything else): only an unspent token is
        // spent, and it names the session it opens.
        let spent = legacy_refresh_token::Entity::update_many()
            .col_expr(
                legacy_refresh_token::Column::UsedAt,
                sea_orm::sea_query::Expr::value(new.now),
            )
            .col_expr(
                legacy_refresh_token::Column::SessionId,
                sea_orm::sea_query::Expr::value(new.id.to_string()),
            )
            .filter(legacy_refresh_token::Column::TokenHash.eq(token_hash))
            .filter(legacy_refresh_token::Column::UsedAt.is_null())
            .exec(&txn)
            .await?;
        if spent.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(Attempt::LostRace);
        }
        let cut_off = subject_cut_off::Entity::find_by_id(new.subject.as_str().to_owned())
            .one(&txn)
            .await?;
        if let Some(cut_off) = cut_off {
            if issued_at.is_none_or(|iat| iat < cut_off.not_before) {
                // Not spent: the token stays refused, and says why, for as
                // long as the cut-off is kept.
                txn.rollback().await?;
                return Ok(Attempt::Done(Err(Refusal::SessionRevoked)));
            }
        }
        insert_session(&txn, &capped, first_token).await?;
        txn.commit().await?;
        Ok(Attempt::Done(Ok(Exchanged {
            session_ends: capped.expires_at,
            refresh_expires_at: capped.refresh_expires_at,
        })))
    }

    /// Ends the imported legacy refresh token `token_hash` of `kind` (a
    /// logout with it): one not yet exchanged is marked spent, with no session, so
    /// every later exchange is refused; one already exchanged names the
    /// session it opened, for the caller to end.
    #[instrument(skip_all)]
    pub async fn end_legacy_refresh_token(
        &self,
        token_hash: &str,
        kind: LegacyTokenKind,
        now: i64,
    ) -> Result<LegacyLogout, LedgerError> {
        let ended = legacy_refresh_token::Entity::update_many()
            .col_expr(
                legacy_refresh_token::Column::UsedAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(legacy_refresh_token::Column::TokenHash.eq(token_hash))
            .filter(legacy_refresh_token::Column::Kind.eq(kind.as_str()))
            .filter(legacy_refresh_token::Column::UsedAt.is_null())
            .exec(&self.db)
            .await?;
        if ended.rows_affected == 1 {
            return Ok(LegacyLogout::Ended);
        }
        let row = legacy_refresh_token::Entity::find_by_id(token_hash.to_owned())
            .one(&self.db)
            .await?
            .filter(|row| row.kind == kind.as_str());
        Ok(match row {
            None => LegacyLogout::NotImported,
            Some(row) => match row.session_id.as_deref() {
                None => LegacyLogout::AlreadyEnded,
                Some(id) => LegacyLogout::Exchanged(
                    SessionId::parse(id)
                        .map_err(|_| LedgerError::Corrupt("legacy refresh token session id"))?,
                ),
            },
        })
    }

    /// How many imported legacy refresh tokens are not yet exchanged and
    /// not yet expired at `now`.
    pub async fn legacy_refresh_tokens_left(&self, now: i64) -> Result<u64, LedgerError> {
        use sea_orm::PaginatorTrait;
        Ok(legacy_refresh_token::Entity::find()
            .filter(legacy_refresh_token::Column::UsedAt.is_null())
            .filter(legacy_refresh_token::Column::ExpiresAt.gt(now))
            .count(&self.db)
            .await?)
    }
}
