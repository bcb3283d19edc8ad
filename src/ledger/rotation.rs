//! Spending a refresh token: the one compare-and-set that makes rotation
//! safe, the grace window for a client's retry, and reuse detection.

use std::time::Duration;

use sea_orm::{
    sea_query::{Expr, Query, SimpleExpr},
    ActiveValue::Set,
    ColumnTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryResult, QuerySelect,
    TransactionTrait,
};
use tracing::{instrument, warn};

use super::{
    bounds::retrying,
    db_clock::db_now,
    entity::{refresh_seal, refresh_token, session, subject_cut_off},
    group_commit::{Rotate, Write, Written},
    Ledger, LedgerError, SessionRecord,
};
use crate::{
    ids::SessionId,
    metrics::LedgerCall,
    reason::Reason,
    token::{RefreshToken, TokenHash},
};

/// The rules a rotation follows.
#[derive(Debug, Clone, Copy)]
pub struct RotationPolicy {
    /// How long a new refresh token stays usable without being used, in
    /// seconds. Never past the session's absolute end.
    pub idle_ttl: i64,
    /// How long after a token was spent a replay of it counts as the same
    /// client retrying (and gets the same successor), by the database's
    /// clock; zero turns the grace window off: every replay is reuse.
    pub reuse_grace: Duration,
}

impl RotationPolicy {
    /// The grace window in the whole seconds the database's clock counts
    /// in; a window shorter than a second is no window.
    fn grace_secs(&self) -> i64 {
        i64::try_from(self.reuse_grace.as_secs()).unwrap_or(i64::MAX)
    }
}

/// A refresh the ledger granted.
#[derive(Debug)]
pub struct Rotation {
    /// The session the token belongs to, as of this refresh.
    pub session: SessionRecord,
    /// The live refresh token of the session, to hand back to the client.
    pub refresh_token: RefreshToken,
    /// When that refresh token goes idle, in Unix seconds.
    pub refresh_expires_at: i64,
    /// Whether this was a retry that got the successor an earlier call made.
    pub replayed: bool,
}

/// Why the ledger refused a refresh token.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// No such token (or its session) is in the ledger.
    #[error("refresh token is not known to this service; log in again")]
    Unknown,
    /// A former system's refresh token that was not imported for its subject.
    #[error("this former system's refresh token was not imported into inkan's ledger, so it cannot be exchanged; log in again")]
    NotImported,
    /// The refresh token passed its expiry unused.
    #[error("refresh token has expired; log in again")]
    Expired,
    /// The session passed its absolute end.
    #[error("session reached its maximum lifetime; log in again")]
    SessionExpired,
    /// The session has been revoked.
    #[error("session has been revoked; log in again")]
    SessionRevoked,
    /// A spent token came back, not as a retry within the grace window; its
    /// session is now revoked.
    #[error("refresh token was already used, so the session has been revoked; log in again")]
    Reused {
        /// The session revoked for the reuse.
        session: SessionId,
    },
    /// The session was opened before its subject's cut-off: it is over,
    /// and the token was left unspent. The caller ends the session.
    #[error("session has been revoked; log in again")]
    CutOff {
        /// The session to end.
        session: SessionId,
    },
}

impl Refusal {
    /// The contract reason for this refusal.
    pub fn reason(&self) -> Reason {
        match self {
            Refusal::Unknown | Refusal::NotImported => Reason::RefreshTokenInvalid,
            Refusal::Expired | Refusal::SessionExpired => Reason::RefreshTokenExpired,
            Refusal::SessionRevoked | Refusal::CutOff { .. } => Reason::SessionRevoked,
            Refusal::Reused { .. } => Reason::RefreshTokenReused,
        }
    }
}

/// A refresh token's row, read together with the database's clock and its
/// subject's cut-off in the same statement (so neither costs an extra
/// round trip).
struct Spendable {
    token: refresh_token::Model,
    /// The database's time when the row was read, in Unix seconds.
    read_at: i64,
    /// The session's subject's cut-off, if it has one.
    cut_off: Option<i64>,
}

/// The alias the database's clock is read under.
const DB_NOW: &str = "inkan_db_now";
/// The alias the subject's cut-off is read under.
const CUT_OFF: &str = "inkan_cut_off";

impl FromQueryResult for Spendable {
    fn from_query_result(row: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Self {
            token: refresh_token::Model::from_query_result(row, pre)?,
            // Selected beside the joined models, under no model's prefix.
            read_at: row.try_get("", DB_NOW)?,
            cut_off: row.try_get("", CUT_OFF)?,
        })
    }
}

/// The cut-off of the joined session's subject, as a scalar subquery.
fn subjects_cut_off() -> SimpleExpr {
    let select = Query::select()
        .column((subject_cut_off::Entity, subject_cut_off::Column::NotBefore))
        .from(subject_cut_off::Entity)
        .and_where(
            Expr::col((subject_cut_off::Entity, subject_cut_off::Column::Subject))
                .equals((session::Entity, session::Column::Subject)),
        )
        .to_owned();
    SimpleExpr::SubQuery(None, Box::new(select.into_sub_query_statement()))
}

mod spend;
#[cfg(test)]
pub(in crate::ledger) mod tests;

pub(super) use spend::{clear_parent_seals, keep_seals, spend_in, Spend, SpendOutcome};

/// The outcome of one attempt to spend a token.
enum Attempt {
    Done(Box<Result<Rotation, Refusal>>),
    /// Another call spent the token between our read and our write.
    LostRace,
}

impl Ledger {
    /// Spends `presented` and records `successor` in its place, or explains
    /// why not. Of concurrent calls with one token exactly one spends it; the
    /// others see it spent and are treated as retries (within the grace
    /// window) or as reuse.
    ///
    /// `now` is this replica's time, for expiry; when the token was spent and
    /// how long ago that was come from the database's clock, so replicas with
    /// skewed clocks agree on the grace window.
    #[instrument(skip_all)]
    pub async fn rotate(
        &self,
        presented: &RefreshToken,
        successor: &RefreshToken,
        now: i64,
        policy: RotationPolicy,
    ) -> Result<Result<Rotation, Refusal>, LedgerError> {
        self.timed(
            LedgerCall::Rotate,
            self.rotate_untimed(presented, successor, now, policy),
        )
        .await
    }

    async fn rotate_untimed(
        &self,
        presented: &RefreshToken,
        successor: &RefreshToken,
        now: i64,
        policy: RotationPolicy,
    ) -> Result<Result<Rotation, Refusal>, LedgerError> {
        let hash = presented.hash();
        // The common case is spent in the shared commit without reading
        // first (one statement per batch on PostgreSQL). A token it leaves
        // alone is read below, to learn why.
        if let Some(writer) = &self.writer {
            let rotate = Rotate {
                hash: hash.as_str().to_owned(),
                successor_hash: successor.hash().as_str().to_owned(),
                seal: (policy.grace_secs() > 0).then(|| presented.seal_successor(successor)),
                now,
                idle_ttl: policy.idle_ttl,
            };
            if let Written::Rotated(Some(rotated)) = writer.write(Write::Rotate(rotate)).await? {
                return Ok(Ok(Rotation {
                    session: SessionRecord::try_from(rotated.session)?,
                    refresh_token: successor.clone(),
                    refresh_expires_at: rotated.refresh_expires_at,
                    replayed: false,
                }));
            }
        }
        // A lost race means the token is now spent, so the second read takes
        // the replay path; a third attempt cannot be needed.
        for _ in 0..2 {
            // A serialization failure or deadlock rolled the attempt back
            // whole, so it is run again as if it never happened.
            let attempt = retrying("rotation", || {
                self.try_rotate(&hash, presented, successor, now, policy)
            })
            .await?;
            match attempt {
                Attempt::Done(outcome) => return Ok(*outcome),
                Attempt::LostRace => continue,
            }
        }
        // Not the token's fault: the write could not finish, and the client
        // may retry it (a refusal here would log a user out for nothing).
        warn!("refresh token stayed unspent after losing two races; answering retry");
        Err(LedgerError::Contended)
    }

    async fn try_rotate(
        &self,
        hash: &TokenHash,
        presented: &RefreshToken,
        successor: &RefreshToken,
        now: i64,
        policy: RotationPolicy,
    ) -> Result<Attempt, LedgerError> {
        // The token, its session, its subject's cut-off and the database's
        // clock in one round trip.
        let Some((
            Spendable {
                token,
                read_at,
                cut_off,
            },
            session,
        )) = refresh_token::Entity::find_by_id(hash.as_str().to_owned())
            .find_also_related(session::Entity)
            .column_as(db_now(self.backend()), DB_NOW)
            .column_as(subjects_cut_off(), CUT_OFF)
            .into_model::<Spendable, session::Model>()
            .one(&self.db)
            .await?
        else {
            return Ok(Attempt::Done(Box::new(Err(Refusal::Unknown))));
        };
        let Some(session) = session else {
            return Ok(Attempt::Done(Box::new(Err(Refusal::Unknown))));
        };
        let session = SessionRecord::try_from(session)?;
        if session.revoked_at.is_some() {
            return Ok(Attempt::Done(Box::new(Err(Refusal::SessionRevoked))));
        }
        // Before the replay path: a session its subject's cut-off ended is
        // over, whether its token is spent or not, and nothing is written.
        if cut_off.is_some_and(|cut_off| cut_off > session.created_at) {
            return Ok(Attempt::Done(Box::new(Err(Refusal::CutOff {
                session: session.id,
            }))));
        }
        if let Some(used_at) = token.used_at {
            // Both times are the database's: no replica's clock is involved.
            let elapsed = read_at.saturating_sub(used_at);
            return self
                .replay(presented, &token, session, elapsed, now, policy)
                .await
                .map(|outcome| Attempt::Done(Box::new(outcome)));
        }
        if now >= session.expires_at {
            return Ok(Attempt::Done(Box::new(Err(Refusal::SessionExpired))));
        }
        if now >= token.expires_at {
            return Ok(Attempt::Done(Box::new(Err(Refusal::Expired))));
        }

        let successor_hash = successor.hash();
        let refresh_expires_at = now.saturating_add(policy.idle_ttl).min(session.expires_at);
        let spend = Spend {
            hash: hash.as_str().to_owned(),
            session_id: token.session_id.clone(),
            parent_hash: token.parent_hash.clone(),
            // The seal exists only for a retry within the grace window;
            // with no window there is nothing to keep.
            seal: (policy.grace_secs() > 0).then(|| presented.seal_successor(successor)),
            successor: refresh_token::ActiveModel {
                token_hash: Set(successor_hash.as_str().to_owned()),
                session_id: Set(token.session_id.clone()),
                parent_hash: Set(Some(hash.as_str().to_owned())),
                generation: Set(token.generation.saturating_add(1)),
                created_at: Set(now),
                expires_at: Set(refresh_expires_at),
                used_at: Set(None),
                successor_hash: Set(None),
            },
            successor_hash: successor_hash.as_str().to_owned(),
            now,
        };
        let spent = match &self.writer {
            Some(writer) => match writer.write(Write::Spend(spend)).await? {
                Written::Spend(spent) => spent,
                _ => return Err(LedgerError::Corrupt("group commit answer")),
            },
            None => {
                let txn = self.db.begin().await?;
                let spent = spend_in(&txn, &spend).await?;
                if spent == SpendOutcome::Spent {
                    txn.commit().await?;
                } else {
                    txn.rollback().await?;
                }
                spent
            }
        };
        match spent {
            SpendOutcome::LostRace => Ok(Attempt::LostRace),
            SpendOutcome::SessionRevoked => {
                Ok(Attempt::Done(Box::new(Err(Refusal::SessionRevoked))))
            }
            SpendOutcome::Spent => Ok(Attempt::Done(Box::new(Ok(Rotation {
                session: SessionRecord {
                    last_used_at: now,
                    ..session
                },
                refresh_token: successor.clone(),
                refresh_expires_at,
                replayed: false,
            })))),
        }
    }

    /// A spent token came back, `elapsed` seconds after it was spent (by the
    /// database's clock). Within the grace window, and while its successor
    /// is still the session's live token, it is the same client retrying and
    /// gets that successor again. Anything else is reuse: the token was
    /// copied, so the session ends.
    async fn replay(
        &self,
        presented: &RefreshToken,
        token: &refresh_token::Model,
        session: SessionRecord,
        elapsed: i64,
        now: i64,
        policy: RotationPolicy,
    ) -> Result<Result<Rotation, Refusal>, LedgerError> {
        // A grace of 0 never retries. A negative elapsed time (the database's
        // clock stepped back) counts by its size, so no clock step can make
        // the window longer than the grace itself.
        let grace = policy.grace_secs();
        let within_grace = grace > 0 && elapsed.saturating_abs() < grace;
        if within_grace {
            let seal = match &token.successor_hash {
                Some(_) => refresh_seal::Entity::find_by_id(token.token_hash.clone())
                    .one(&self.db)
                    .await?
                    .map(|sealed| sealed.seal),
                None => None,
            };
            if let (Some(next_hash), Some(seal)) = (&token.successor_hash, seal) {
                let next = refresh_token::Entity::find_by_id(next_hash.clone())
                    .one(&self.db)
                    .await?;
                let live = next.filter(|n| n.used_at.is_none() && n.expires_at > now);
                let opened =
                    presented.open_successor(&seal, &TokenHash::from_stored(next_hash.clone()));
                if let (Some(next), Some(successor)) = (live, opened) {
                    // The session may have been revoked since it was read:
                    // hand out the successor only if it is still live now.
                    let touched = session::Entity::update_many()
                        .col_expr(session::Column::LastUsedAt, Expr::value(now))
                        .filter(session::Column::Id.eq(session.id.to_string()))
                        .filter(session::Column::RevokedAt.is_null())
                        .exec(&self.db)
                        .await?;
                    if touched.rows_affected != 1 {
                        return Ok(Err(Refusal::SessionRevoked));
                    }
                    return Ok(Ok(Rotation {
                        session,
                        refresh_token: successor,
                        refresh_expires_at: next.expires_at,
                        replayed: true,
                    }));
                }
            }
        }
        warn!(session_id = %session.id, "refresh token reuse detected; revoking the session");
        self.revoke_session(session.id, now, "refresh token reused")
            .await?;
        Ok(Err(Refusal::Reused {
            session: session.id,
        }))
    }
}
