//! A former system's refresh tokens: imported by digest, and each exchanged
//! once for an inkan session. The imported ledger is the authority, as the
//! former system's own table was: a well-signed token that is not in it is
//! refused, and one that is there but spent is reuse.

use std::collections::HashMap;

use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};
use tracing::{instrument, warn};

use super::{
    bounds::retrying,
    entity::{legacy_refresh_token, subject_cut_off},
    sessions::{insert_session, NewSession},
    Ledger, LedgerError, Refusal,
};
use crate::{ids::SessionId, metrics::LedgerCall, token::RefreshToken};

/// One imported refresh token: its digest, whom it belongs to, when it
/// expires, and the line of the export it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyImportRow {
    /// SHA-256 of the token, lowercase hex.
    pub token_hash: String,
    /// The subject the former system issued it to.
    pub subject: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// 1-based line of the export.
    pub line: usize,
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportSummary {
    /// Tokens this run stored.
    pub imported: u64,
    /// Already in the ledger (an earlier run), or earlier in this export.
    pub already_present: u64,
}

/// Why an import stored nothing, beyond a database fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportConflict {
    /// A token is already held for another subject, in the ledger or earlier
    /// in the export.
    #[error(
        "line {line}: this token is already in the ledger (or earlier in the export) for another \
         subject; nothing was imported"
    )]
    OtherSubject {
        /// The conflicting token's line in the export, 1-based.
        line: usize,
    },
}

/// The session an exchange opened, as the ledger capped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchanged {
    /// The session's end: never later than the legacy token's own expiry.
    pub session_ends: i64,
    /// When its first refresh token goes idle.
    pub refresh_expires_at: i64,
}

/// Rows read or written per statement of an import: far below every
/// backend's limit on bound parameters.
const IMPORT_CHUNK: usize = 500;

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
    /// Stores `rows` in one transaction: all of them, or (on a conflict or a
    /// fault) none. A token already present for the same subject is counted,
    /// not stored again, so a rerun of the same export changes nothing.
    #[instrument(skip_all, fields(rows = rows.len()))]
    pub async fn import_legacy_refresh_tokens(
        &self,
        rows: &[LegacyImportRow],
        now: i64,
    ) -> Result<Result<ImportSummary, ImportConflict>, LedgerError> {
        retrying("import legacy refresh tokens", || {
            self.try_import(rows, now)
        })
        .await
    }

    async fn try_import(
        &self,
        rows: &[LegacyImportRow],
        now: i64,
    ) -> Result<Result<ImportSummary, ImportConflict>, LedgerError> {
        let txn = self.db.begin().await?;
        let mut summary = ImportSummary::default();
        // Digest -> subject of everything seen so far, in the ledger or in
        // this export.
        let mut known: HashMap<String, String> = HashMap::new();
        for chunk in rows.chunks(IMPORT_CHUNK) {
            let present: Vec<(String, String)> = legacy_refresh_token::Entity::find()
                .select_only()
                .column(legacy_refresh_token::Column::TokenHash)
                .column(legacy_refresh_token::Column::Subject)
                .filter(
                    legacy_refresh_token::Column::TokenHash
                        .is_in(chunk.iter().map(|r| r.token_hash.clone())),
                )
                .into_tuple()
                .all(&txn)
                .await?;
            known.extend(present);
            let mut fresh = Vec::new();
            for row in chunk {
                match known.get(&row.token_hash) {
                    Some(subject) if *subject == row.subject => summary.already_present += 1,
                    Some(_) => {
                        txn.rollback().await?;
                        return Ok(Err(ImportConflict::OtherSubject { line: row.line }));
                    }
                    None => {
                        known.insert(row.token_hash.clone(), row.subject.clone());
                        fresh.push(legacy_refresh_token::ActiveModel {
                            token_hash: Set(row.token_hash.clone()),
                            subject: Set(row.subject.clone()),
                            expires_at: Set(row.expires_at),
                            imported_at: Set(now),
                            used_at: Set(None),
                            session_id: Set(None),
                        });
                    }
                }
            }
            summary.imported += fresh.len() as u64;
            if !fresh.is_empty() {
                legacy_refresh_token::Entity::insert_many(fresh)
                    .exec_without_returning(&txn)
                    .await?;
            }
        }
        txn.commit().await?;
        Ok(Ok(summary))
    }

    /// Spends the imported legacy refresh token `token_hash` of `subject`
    /// and opens `new` with `first_token` in the same transaction, or says
    /// why not: not imported (or imported for another subject), expired,
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
        issued_at: Option<i64>,
        new: NewSession<'_>,
        first_token: &RefreshToken,
    ) -> Result<Result<Exchanged, Refusal>, LedgerError> {
        let exchanging = async {
            // A lost race means the token is now spent: the second read
            // takes the reuse path.
            for _ in 0..2 {
                let attempt = retrying("exchange legacy refresh token", || {
                    self.try_exchange(token_hash, issued_at, &new, first_token)
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
        // The export and the token must agree on whom it belongs to.
        if row.subject != new.subject.as_str() {
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

    /// Ends the imported legacy refresh token `token_hash` (a logout with
    /// it): one not yet exchanged is marked spent, with no session, so
    /// every later exchange is refused; one already exchanged names the
    /// session it opened, for the caller to end.
    #[instrument(skip_all)]
    pub async fn end_legacy_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<LegacyLogout, LedgerError> {
        let ended = legacy_refresh_token::Entity::update_many()
            .col_expr(
                legacy_refresh_token::Column::UsedAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(legacy_refresh_token::Column::TokenHash.eq(token_hash))
            .filter(legacy_refresh_token::Column::UsedAt.is_null())
            .exec(&self.db)
            .await?;
        if ended.rows_affected == 1 {
            return Ok(LegacyLogout::Ended);
        }
        let row = legacy_refresh_token::Entity::find_by_id(token_hash.to_owned())
            .one(&self.db)
            .await?;
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
