//! Sealed successors after their grace window: cleared, so a copy of the
//! ledger (a backup) and any older refresh token of a session never open the
//! seals one after another up to the live token.
//!
//! A seal is cleared in the rotation that spends its successor (see
//! `rotation.rs`); what is left, a seal whose successor is still unspent, is
//! cleared here once its grace window has passed by the database's clock.

use std::time::Duration;

use sea_orm::{sea_query::Expr, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use tracing::instrument;

use super::{db_clock::db_now, entity::refresh_token, Ledger, LedgerError};

/// Rows cleared per statement: small, so a clearing pass never holds locks a
/// rotation waits for more than a moment.
const SEAL_BATCH: u64 = 200;

impl Ledger {
    /// Clears every seal spent at least `reuse_grace` ago by the database's
    /// clock, counted in whole seconds (every seal, when that is 0), in
    /// small batches. Returns how many it cleared.
    #[instrument(skip_all)]
    pub async fn clear_stale_seals(&self, reuse_grace: Duration) -> Result<u64, LedgerError> {
        // The database's clock counts whole seconds.
        let grace = i64::try_from(reuse_grace.as_secs()).unwrap_or(i64::MAX);
        let mut cleared = 0;
        loop {
            // Read, then update by primary key: MySQL cannot update a table
            // it selects from, and a plain update over a range would lock it.
            // The index on sealed rows (migration m20261128_000001) keeps
            // this read small however big the table grows.
            let stale: Vec<String> = refresh_token::Entity::find()
                .select_only()
                .column(refresh_token::Column::TokenHash)
                .filter(refresh_token::Column::SuccessorSeal.is_not_null())
                .filter(
                    Expr::col(refresh_token::Column::UsedAt).lte(db_now(self.backend()).sub(grace)),
                )
                .limit(SEAL_BATCH)
                .into_tuple()
                .all(&self.db)
                .await?;
            let full = stale.len() as u64 == SEAL_BATCH;
            if stale.is_empty() {
                return Ok(cleared);
            }
            cleared += refresh_token::Entity::update_many()
                .col_expr(
                    refresh_token::Column::SuccessorSeal,
                    Expr::value(Option::<String>::None),
                )
                .filter(refresh_token::Column::TokenHash.is_in(stale))
                .filter(refresh_token::Column::SuccessorSeal.is_not_null())
                .exec(&self.db)
                .await?
                .rows_affected;
            if !full {
                return Ok(cleared);
            }
        }
    }
}
