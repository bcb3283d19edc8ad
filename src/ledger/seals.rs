//! Sealed successors after their grace window: deleted, so a copy of the
//! ledger (a backup) and any older refresh token of a session never open the
//! seals one after another up to the live token.
//!
//! A seal is deleted in the rotation that spends its successor (see
//! `rotation.rs`); what is left, a seal whose successor is still unspent, is
//! deleted here once its grace window has passed by the database's clock.

use std::time::Duration;

use sea_orm::{sea_query::Expr, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use tracing::instrument;

use super::{db_clock::db_now, entity::refresh_seal, Ledger, LedgerError};

/// Rows deleted per statement: small, so a pass never holds locks a
/// rotation waits for more than a moment.
const SEAL_BATCH: u64 = 200;

impl Ledger {
    /// Deletes every seal made at least `reuse_grace` ago by the database's
    /// clock, counted in whole seconds (every seal, when that is 0), in
    /// small batches. Returns how many it deleted.
    #[instrument(skip_all)]
    pub async fn clear_stale_seals(&self, reuse_grace: Duration) -> Result<u64, LedgerError> {
        // The database's clock counts whole seconds.
        let grace = i64::try_from(reuse_grace.as_secs()).unwrap_or(i64::MAX);
        let mut cleared = 0;
        loop {
            // Read, then delete by primary key: MySQL cannot delete from a
            // table it selects from, and a plain delete over a range would
            // lock it. The table holds only seals within their window, and
            // its index on `sealed_at` keeps this read to the stale ones.
            let stale: Vec<String> = refresh_seal::Entity::find()
                .select_only()
                .column(refresh_seal::Column::TokenHash)
                .filter(
                    Expr::col(refresh_seal::Column::SealedAt)
                        .lte(db_now(self.backend()).sub(grace)),
                )
                .limit(SEAL_BATCH)
                .into_tuple()
                .all(&self.db)
                .await?;
            let full = stale.len() as u64 == SEAL_BATCH;
            if stale.is_empty() {
                return Ok(cleared);
            }
            cleared += refresh_seal::Entity::delete_many()
                .filter(refresh_seal::Column::TokenHash.is_in(stale))
                .exec(&self.db)
                .await?
                .rows_affected;
            if !full {
                return Ok(cleared);
            }
        }
    }
}
