//! The write that spends a refresh token already read and judged
//! spendable, one call at a time: MySQL/MariaDB's path, and the rare token
//! a batch's compare-and-set left alone (see `group_commit`).

use sea_orm::{
    sea_query::{Expr, Query},
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
};

use crate::ledger::{
    db_clock::db_now,
    entity::{refresh_seal, refresh_token, session, subject_cut_off},
    LedgerError,
};

/// A refresh token to spend for its successor, with everything the write
/// needs already decided by the read before it.
pub(in crate::ledger) struct Spend {
    /// The presented token's hash.
    pub(super) hash: String,
    pub(super) session_id: String,
    /// The presented token's parent, whose sealed successor it was.
    pub(super) parent_hash: Option<String>,
    /// The successor, sealed with the presented token, for a retry.
    pub(super) seal: Option<String>,
    pub(super) successor: refresh_token::ActiveModel,
    pub(super) successor_hash: String,
    pub(super) now: i64,
}

/// What spending a token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::ledger) enum SpendOutcome {
    /// The token is spent and its successor stored.
    Spent,
    /// Another call spent the token first; nothing of the token's was
    /// written (the session's last use may have been touched).
    LostRace,
    /// The session was revoked (or its subject cut off) since it was read;
    /// nothing was written.
    SessionRevoked,
}

/// Spends `spend` within `txn`. Only [`SpendOutcome::Spent`] leaves rows that
/// matter, so a transaction shared with other calls' writes commits
/// whatever this returns.
pub(in crate::ledger) async fn spend_in(
    txn: &DatabaseTransaction,
    spend: &Spend,
) -> Result<SpendOutcome, LedgerError> {
    // The session first: revocation (or a cut-off) may have landed since
    // the read, and the session must still be live when the new token
    // becomes visible. Being a write, it also takes SQLite's write lock
    // before anything is read.
    let cut_off = Query::select()
        .expr(Expr::value(1))
        .from(subject_cut_off::Entity)
        .and_where(
            Expr::col((subject_cut_off::Entity, subject_cut_off::Column::Subject))
                .equals((session::Entity, session::Column::Subject)),
        )
        .and_where(
            Expr::col((subject_cut_off::Entity, subject_cut_off::Column::NotBefore))
                .gt(Expr::col((session::Entity, session::Column::CreatedAt))),
        )
        .to_owned();
    let touched = session::Entity::update_many()
        .col_expr(session::Column::LastUsedAt, Expr::value(spend.now))
        .filter(session::Column::Id.eq(spend.session_id.as_str()))
        .filter(session::Column::RevokedAt.is_null())
        .filter(Expr::exists(cut_off).not())
        .exec(txn)
        .await?;
    if touched.rows_affected != 1 {
        return Ok(SpendOutcome::SessionRevoked);
    }
    // The compare-and-set: only a still-unspent token is spent.
    let spent = refresh_token::Entity::update_many()
        // The grace window is measured from this moment, so it is taken
        // from the one clock every replica shares.
        .col_expr(
            refresh_token::Column::UsedAt,
            db_now(txn.get_database_backend()),
        )
        .col_expr(
            refresh_token::Column::SuccessorHash,
            Expr::value(spend.successor_hash.as_str()),
        )
        .filter(refresh_token::Column::TokenHash.eq(spend.hash.as_str()))
        .filter(refresh_token::Column::UsedAt.is_null())
        .exec(txn)
        .await?;
    if spent.rows_affected != 1 {
        return Ok(SpendOutcome::LostRace);
    }
    refresh_token::Entity::insert(spend.successor.clone())
        .exec_without_returning(txn)
        .await?;
    let sealed = spend.seal.clone().map(|seal| (spend.hash.clone(), seal));
    keep_seals(txn, sealed).await?;
    clear_parent_seals(txn, spend.parent_hash.iter().cloned()).await?;
    Ok(SpendOutcome::Spent)
}

/// Keeps each `(spent token's hash, its successor sealed under it)` of
/// `sealed` for a retry, dated by the database's clock, which the grace
/// window is measured by.
pub(in crate::ledger) async fn keep_seals(
    txn: &DatabaseTransaction,
    sealed: impl IntoIterator<Item = (String, String)>,
) -> Result<(), LedgerError> {
    let backend = txn.get_database_backend();
    let mut insert = Query::insert();
    insert.into_table(refresh_seal::Entity).columns([
        refresh_seal::Column::TokenHash,
        refresh_seal::Column::SealedAt,
        refresh_seal::Column::Seal,
    ]);
    let mut any = false;
    for (hash, seal) in sealed {
        insert
            .values([hash.into(), db_now(backend), seal.into()])
            .map_err(|_| LedgerError::Corrupt("a seal's row"))?;
        any = true;
    }
    if any {
        txn.execute(backend.build(&insert)).await?;
    }
    Ok(())
}

/// Drops the sealed successors kept by `parents`, tokens whose successor
/// has just been spent: no retry of them can succeed any more. Kept, a
/// seal would let anyone with a copy of the ledger and an older token of
/// the session open the seals one after another.
pub(in crate::ledger) async fn clear_parent_seals(
    txn: &DatabaseTransaction,
    parents: impl IntoIterator<Item = String>,
) -> Result<(), LedgerError> {
    let parents: Vec<String> = parents.into_iter().collect();
    if parents.is_empty() {
        return Ok(());
    }
    refresh_seal::Entity::delete_many()
        .filter(refresh_seal::Column::TokenHash.is_in(parents))
        .exec(txn)
        .await?;
    Ok(())
}
