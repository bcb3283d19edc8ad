//! A batch on SQLite: a few statements for the whole batch, in the writer's
//! one transaction. SQLite has no data-modifying CTEs, and its statements
//! cost no round trip (only a hand-off to the driver's thread), so the
//! batch is:
//!
//! - the new sessions and their first tokens as two multi-row `INSERT`s;
//! - the refresh tokens presented for rotation spent by one `UPDATE`, the
//!   compare-and-set of every one of them at once: a token is spent only
//!   if it is unspent, unexpired and its session live, unexpired and not
//!   opened before its subject's cut-off, and the statement returns the
//!   tokens it spent (`RETURNING`, SQLite 3.35 on; sqlx bundles a newer
//!   one). Then one `UPDATE … RETURNING` of their sessions' last use (the
//!   sessions the answers need), one `INSERT` of the successors, one of
//!   their seals, and one `DELETE` of the parents' seals.

use std::collections::{HashMap, HashSet};

use sea_orm::{
    sea_query::{CaseStatement, Expr, Query},
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    IntoActiveModel, QueryFilter, QueryTrait,
};

use super::{Rotate, Rotated, Write};
use crate::ledger::{
    db_clock::db_now,
    entity::{refresh_token, session, subject_cut_off},
    rotation::{clear_parent_seals, keep_seals},
    LedgerError,
};

/// Writes the opens and rotations of `writes` within `txn`. For each
/// [`Write::Rotate`], in order, what it spent.
pub(super) async fn write(
    txn: &DatabaseTransaction,
    writes: &[&Write],
) -> Result<Vec<Option<Box<Rotated>>>, LedgerError> {
    let mut sessions = Vec::new();
    let mut tokens = Vec::new();
    let mut rotations = Vec::new();
    for write in writes {
        match write {
            Write::Open { session, token } => {
                sessions.push(session.clone().into_active_model().reset_all());
                tokens.push(token.clone().into_active_model().reset_all());
            }
            Write::Rotate(rotate) => rotations.push(rotate),
            Write::Spend(_) => {}
        }
    }
    // A session's row goes first: its tokens refer to it.
    if !sessions.is_empty() {
        session::Entity::insert_many(sessions)
            .exec_without_returning(txn)
            .await?;
        refresh_token::Entity::insert_many(tokens)
            .exec_without_returning(txn)
            .await?;
    }
    rotate_all(txn, &rotations).await
}

/// Spends every token of `rotations` that nothing stands in the way of, in
/// a fixed number of statements; for each, what it spent, in order.
async fn rotate_all(
    txn: &DatabaseTransaction,
    rotations: &[&Rotate],
) -> Result<Vec<Option<Box<Rotated>>>, LedgerError> {
    let mut outcome: Vec<Option<Box<Rotated>>> = rotations.iter().map(|_| None).collect();
    // Of calls presenting one token in a batch, the first may spend it;
    // the others find it spent (after this commit) and are retries.
    let mut seen = HashSet::new();
    let candidates: HashMap<&str, usize> = rotations
        .iter()
        .enumerate()
        .filter(|(_, r)| seen.insert(r.hash.as_str()))
        .map(|(i, r)| (r.hash.as_str(), i))
        .collect();
    let Some(now) = rotations.iter().map(|r| r.now).max() else {
        return Ok(outcome);
    };
    let spent = spend_batch(txn, rotations, &candidates, now).await?;
    if spent.is_empty() {
        return Ok(outcome);
    }
    let session_ids: HashSet<&str> = spent.iter().map(|t| t.session_id.as_str()).collect();
    // Their last use, returning the rows the answers carry: one statement
    // where a read and a write were two.
    let mut touch = session::Entity::update_many()
        .col_expr(session::Column::LastUsedAt, Expr::value(now))
        .filter(session::Column::Id.is_in(session_ids.iter().copied()))
        .into_query();
    touch.returning_all();
    let sessions: HashMap<String, session::Model> = session::Entity::find()
        .from_raw_sql(txn.get_database_backend().build(&touch))
        .all(txn)
        .await?
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    let mut successors = Vec::with_capacity(spent.len());
    let mut seals = Vec::new();
    let mut parents = Vec::new();
    for token in &spent {
        let (Some(&i), Some(session)) = (
            candidates.get(token.token_hash.as_str()),
            sessions.get(&token.session_id),
        ) else {
            return Err(LedgerError::Corrupt("spent token without its session"));
        };
        let rotation = rotations[i];
        let refresh_expires_at = rotation
            .now
            .saturating_add(rotation.idle_ttl)
            .min(session.expires_at);
        successors.push(
            refresh_token::Model {
                token_hash: rotation.successor_hash.clone(),
                session_id: token.session_id.clone(),
                parent_hash: Some(token.token_hash.clone()),
                generation: token.generation.saturating_add(1),
                created_at: rotation.now,
                expires_at: refresh_expires_at,
                used_at: None,
                successor_hash: None,
            }
            .into_active_model()
            .reset_all(),
        );
        seals.extend(
            rotation
                .seal
                .clone()
                .map(|seal| (token.token_hash.clone(), seal)),
        );
        // The token spent here was its parent's sealed successor.
        parents.extend(token.parent_hash.clone());
        outcome[i] = Some(Box::new(Rotated {
            session: session.clone(),
            refresh_expires_at,
        }));
    }
    refresh_token::Entity::insert_many(successors)
        .exec_without_returning(txn)
        .await?;
    keep_seals(txn, seals).await?;
    clear_parent_seals(txn, parents).await?;
    Ok(outcome)
}

/// The compare-and-set of a whole batch: spends each candidate token that
/// is unspent and unexpired and whose session is live, unexpired and not
/// cut off at `now` (the batch's latest time: a token this leaves alone is
/// judged again by its own call's time), recording its successor, and
/// returns the tokens it spent.
async fn spend_batch(
    txn: &DatabaseTransaction,
    rotations: &[&Rotate],
    candidates: &HashMap<&str, usize>,
    now: i64,
) -> Result<Vec<refresh_token::Model>, LedgerError> {
    let mut successor = CaseStatement::new();
    for (hash, &i) in candidates {
        let is_this = refresh_token::Column::TokenHash.eq(*hash);
        successor = successor.case(is_this, Expr::value(rotations[i].successor_hash.as_str()));
    }
    // A session opened before its subject's cut-off is over: its token is
    // refused here, unspent, and its call ends the session.
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
    let live_session = Query::select()
        .expr(Expr::value(1))
        .from(session::Entity)
        .and_where(
            Expr::col((session::Entity, session::Column::Id))
                .equals((refresh_token::Entity, refresh_token::Column::SessionId)),
        )
        .and_where(Expr::col((session::Entity, session::Column::RevokedAt)).is_null())
        .and_where(Expr::col((session::Entity, session::Column::ExpiresAt)).gt(now))
        .and_where(Expr::exists(cut_off).not())
        .to_owned();
    let mut spend = refresh_token::Entity::update_many()
        .col_expr(
            refresh_token::Column::UsedAt,
            db_now(txn.get_database_backend()),
        )
        .col_expr(refresh_token::Column::SuccessorHash, successor.into())
        .filter(refresh_token::Column::TokenHash.is_in(candidates.keys().copied()))
        .filter(refresh_token::Column::UsedAt.is_null())
        .filter(refresh_token::Column::ExpiresAt.gt(now))
        .filter(Expr::exists(live_session))
        .into_query();
    spend.returning_all();
    let spent = refresh_token::Entity::find()
        .from_raw_sql(txn.get_database_backend().build(&spend))
        .all(txn)
        .await?;
    Ok(spent)
}
