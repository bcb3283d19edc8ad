//! Storing a former system's refresh-token export: every row of it in one
//! transaction, or none; a rerun of the same export changes nothing.

use std::collections::HashMap;

use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};
use tracing::instrument;

use super::super::{bounds::retrying, entity::legacy_refresh_token, Ledger, LedgerError};
use super::LegacyTokenKind;

/// One imported refresh token: its digest, its kind, whom it belongs to,
/// when it expires, what the export said of its login, and the line of the
/// export it came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LegacyImportRow {
    /// SHA-256 of the token, lowercase hex.
    pub token_hash: String,
    /// A JWT a legacy key verifies, or an opaque string.
    pub kind: LegacyTokenKind,
    /// The subject the former system issued it to.
    pub subject: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// For an opaque token, the legacy key it is exchanged under.
    pub legacy_key: Option<String>,
    /// The client the former system issued it to, if the export says.
    pub client_id: Option<String>,
    /// The device it was issued on, if the export says.
    pub device: Option<String>,
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

/// Rows read or written per statement of an import: far below every
/// backend's limit on bound parameters.
const IMPORT_CHUNK: usize = 500;

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
                            kind: Set(row.kind.as_str().to_owned()),
                            legacy_key: Set(row.legacy_key.clone()),
                            client_id: Set(row.client_id.clone()),
                            device: Set(row.device.clone()),
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
}
