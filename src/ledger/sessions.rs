//! Sessions: opening one at login, reading, revoking and purging them.

use sea_orm::{
    sea_query::Expr, ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use tracing::instrument;

use super::{
    bounds::retrying,
    entity::{legacy_refresh_token, refresh_token, session},
    group_commit::Write,
    revocation_log::{self, Revoked},
    Ledger, LedgerError,
};
use crate::{
    ids::{ClientId, SessionId, Subject},
    metrics::LedgerCall,
    token::{Grant, RefreshToken, TokenHash},
};

/// What a login records.
#[derive(Debug)]
pub struct NewSession<'a> {
    /// The new session's id.
    pub id: SessionId,
    /// Whom the session is for.
    pub subject: &'a Subject,
    /// The caller that asked for it.
    pub client_id: &'a ClientId,
    /// What the caller says of the device.
    pub device: &'a str,
    /// What its tokens grant.
    pub grant: &'a Grant,
    /// The time of the login, in Unix seconds.
    pub now: i64,
    /// The absolute end of the session.
    pub expires_at: i64,
    /// When the first refresh token goes idle.
    pub refresh_expires_at: i64,
}

/// A session as the ledger holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// The session's id.
    pub id: SessionId,
    /// Whom the session is for.
    pub subject: String,
    /// The caller that opened it.
    pub client_id: String,
    /// What the caller said of the device.
    pub device: String,
    /// What its tokens grant.
    pub grant: Grant,
    /// When it was opened, in Unix seconds.
    pub created_at: i64,
    /// When it was last refreshed (or opened), in Unix seconds.
    pub last_used_at: i64,
    /// Its absolute end, in Unix seconds.
    pub expires_at: i64,
    /// When it was revoked, in Unix seconds; `None` while it is not.
    pub revoked_at: Option<i64>,
}

impl TryFrom<session::Model> for SessionRecord {
    type Error = LedgerError;

    fn try_from(row: session::Model) -> Result<Self, LedgerError> {
        let grant = Grant {
            audience: serde_json::from_str(&row.audience)
                .map_err(|_| LedgerError::Corrupt("session audience"))?,
            scopes: row
                .scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            claims: serde_json::from_str(&row.claims)
                .map_err(|_| LedgerError::Corrupt("session claims"))?,
        };
        Ok(Self {
            grant,
            id: SessionId::parse(&row.id).map_err(|_| LedgerError::Corrupt("session id"))?,
            subject: row.subject,
            client_id: row.client_id,
            device: row.device,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
        })
    }
}

/// The rows a new session and its first refresh token are stored as.
pub(super) fn session_rows(
    new: &NewSession<'_>,
    first_token: &RefreshToken,
) -> (session::Model, refresh_token::Model) {
    let session = session::Model {
        id: new.id.to_string(),
        subject: new.subject.to_string(),
        client_id: new.client_id.to_string(),
        device: new.device.to_owned(),
        audience: serde_json::Value::from(new.grant.audience.clone()).to_string(),
        scope: new.grant.scopes.join(" "),
        claims: serde_json::Value::Object(new.grant.claims.clone()).to_string(),
        created_at: new.now,
        last_used_at: new.now,
        expires_at: new.expires_at,
        revoked_at: None,
        revoke_reason: None,
    };
    let token = refresh_token::Model {
        token_hash: first_token.hash().as_str().to_owned(),
        session_id: new.id.to_string(),
        parent_hash: None,
        generation: 0,
        created_at: new.now,
        expires_at: new.refresh_expires_at,
        used_at: None,
        successor_hash: None,
    };
    (session, token)
}

/// Records a session and its first refresh token within `txn`.
pub(super) async fn insert_session(
    txn: &sea_orm::DatabaseTransaction,
    new: &NewSession<'_>,
    first_token: &RefreshToken,
) -> Result<(), LedgerError> {
    let (session, token) = session_rows(new, first_token);
    session::Entity::insert(session.into_active_model().reset_all())
        .exec_without_returning(txn)
        .await?;
    refresh_token::Entity::insert(token.into_active_model().reset_all())
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// Most sessions returned for one subject: a bound on what one call reads.
const MAX_LISTED_SESSIONS: u64 = 1000;

impl Ledger {
    /// Records a new session and its first refresh token, together or not
    /// at all.
    #[instrument(skip_all, fields(session_id = %new.id))]
    pub async fn open_session(
        &self,
        new: NewSession<'_>,
        first_token: &RefreshToken,
    ) -> Result<(), LedgerError> {
        let opening = retrying("open session", || self.try_open_session(&new, first_token));
        self.timed(LedgerCall::OpenSession, opening).await
    }

    async fn try_open_session(
        &self,
        new: &NewSession<'_>,
        first_token: &RefreshToken,
    ) -> Result<(), LedgerError> {
        if let Some(writer) = &self.writer {
            let (session, token) = session_rows(new, first_token);
            writer.write(Write::Open { session, token }).await?;
            return Ok(());
        }
        let txn = self.db.begin().await?;
        insert_session(&txn, new, first_token).await?;
        txn.commit().await?;
        Ok(())
    }

    /// The session a refresh token belongs to, if the ledger knows the token.
    #[instrument(skip_all)]
    pub async fn session_of_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<SessionId>, LedgerError> {
        let row = refresh_token::Entity::find_by_id(hash.as_str().to_owned())
            .one(&self.db)
            .await?;
        row.map(|t| SessionId::parse(&t.session_id).map_err(|_| LedgerError::Corrupt("session id")))
            .transpose()
    }

    /// Ends one session. Returns how many sessions this call ended: 0 when it
    /// was unknown or already ended.
    #[instrument(skip_all, fields(session_id = %id))]
    pub async fn revoke_session(
        &self,
        id: SessionId,
        now: i64,
        reason: &str,
    ) -> Result<u32, LedgerError> {
        // The revocation and its row in the log commit together: a reader
        // of the log never misses a revocation, nor sees one that did not
        // happen.
        let revoking = retrying("revoke session", || async {
            let txn = self.db.begin().await?;
            let result = session::Entity::update_many()
                .col_expr(session::Column::RevokedAt, Expr::value(now))
                .col_expr(session::Column::RevokeReason, Expr::value(truncate(reason)))
                .filter(session::Column::Id.eq(id.to_string()))
                .filter(session::Column::RevokedAt.is_null())
                .exec(&txn)
                .await?;
            if result.rows_affected == 1 {
                revocation_log::record(&txn, &Revoked::Session(id), now).await?;
            }
            txn.commit().await?;
            Ok(result)
        });
        let result = self.timed(LedgerCall::Revoke, revoking).await?;
        Ok(u32::try_from(result.rows_affected).unwrap_or(u32::MAX))
    }

    /// Ends every live session of a subject; returns the sessions it ended.
    #[instrument(skip_all)]
    pub async fn revoke_subject(
        &self,
        subject: &Subject,
        now: i64,
        reason: &str,
    ) -> Result<Vec<SessionId>, LedgerError> {
        let live: Vec<String> = session::Entity::find()
            .select_only()
            .column(session::Column::Id)
            .filter(session::Column::Subject.eq(subject.as_str()))
            .filter(session::Column::RevokedAt.is_null())
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut ended = Vec::with_capacity(live.len());
        for id in live {
            let id = SessionId::parse(&id).map_err(|_| LedgerError::Corrupt("session id"))?;
            // One by one, so the count is exactly what this call ended even
            // when another call revokes some of them at the same time.
            if self.revoke_session(id, now, reason).await? == 1 {
                ended.push(id);
            }
        }
        Ok(ended)
    }

    /// A subject's sessions, newest first.
    #[instrument(skip_all)]
    pub async fn list_sessions(
        &self,
        subject: &Subject,
    ) -> Result<Vec<SessionRecord>, LedgerError> {
        session::Entity::find()
            .filter(session::Column::Subject.eq(subject.as_str()))
            .order_by_desc(session::Column::CreatedAt)
            .limit(MAX_LISTED_SESSIONS)
            .all(&self.db)
            .await?
            .into_iter()
            .map(SessionRecord::try_from)
            .collect()
    }

    /// Deletes sessions that ended (reached their end or were revoked)
    /// before `cutoff`, with their refresh tokens, and refresh tokens that
    /// went idle before it: no token they hold can be accepted any more.
    /// Works in small batches, each its own short transaction with a pause
    /// after it, so however big the backlog, a rotation never waits on the
    /// purge for more than one batch. Returns rows deleted.
    /// Each batch is timed as a `purge` ledger call; the pauses are not.
    #[instrument(skip_all)]
    pub async fn purge_ended(&self, cutoff: i64) -> Result<u64, LedgerError> {
        let mut deleted = 0;
        loop {
            let (rows, more) = self
                .timed(LedgerCall::Purge, self.purge_batch(cutoff))
                .await?;
            deleted += rows;
            if !more {
                return Ok(deleted);
            }
            // Let the rotations queued behind this batch through first.
            tokio::time::sleep(PURGE_PAUSE).await;
        }
    }

    /// One purge step: rows deleted, and whether there may be more.
    async fn purge_batch(&self, cutoff: i64) -> Result<(u64, bool), LedgerError> {
        let mut deleted = 0;
        let tokens: Vec<String> = refresh_token::Entity::find()
            .select_only()
            .column(refresh_token::Column::TokenHash)
            .filter(refresh_token::Column::ExpiresAt.lt(cutoff))
            .limit(PURGE_BATCH)
            .into_tuple()
            .all(&self.db)
            .await?;
        let ended: Vec<String> = session::Entity::find()
            .select_only()
            .column(session::Column::Id)
            .filter(
                Condition::any()
                    .add(session::Column::ExpiresAt.lt(cutoff))
                    .add(session::Column::RevokedAt.lt(cutoff)),
            )
            .limit(PURGE_BATCH)
            .into_tuple()
            .all(&self.db)
            .await?;
        // A former system's imported refresh tokens past their expiry can
        // no longer be exchanged, nor their replay matter.
        let legacy: Vec<String> = legacy_refresh_token::Entity::find()
            .select_only()
            .column(legacy_refresh_token::Column::TokenHash)
            .filter(legacy_refresh_token::Column::ExpiresAt.lt(cutoff))
            .limit(PURGE_BATCH)
            .into_tuple()
            .all(&self.db)
            .await?;
        let more = tokens.len() as u64 == PURGE_BATCH
            || ended.len() as u64 == PURGE_BATCH
            || legacy.len() as u64 == PURGE_BATCH;
        if tokens.is_empty() && ended.is_empty() && legacy.is_empty() {
            return Ok((0, false));
        }
        let txn = self.db.begin().await?;
        if !legacy.is_empty() {
            deleted += legacy_refresh_token::Entity::delete_many()
                .filter(legacy_refresh_token::Column::TokenHash.is_in(legacy))
                .exec(&txn)
                .await?
                .rows_affected;
        }
        deleted += refresh_token::Entity::delete_many()
            .filter(refresh_token::Column::TokenHash.is_in(tokens))
            .exec(&txn)
            .await?
            .rows_affected;
        if !ended.is_empty() {
            deleted += refresh_token::Entity::delete_many()
                .filter(refresh_token::Column::SessionId.is_in(ended.clone()))
                .exec(&txn)
                .await?
                .rows_affected;
            deleted += session::Entity::delete_many()
                .filter(session::Column::Id.is_in(ended))
                .exec(&txn)
                .await?
                .rows_affected;
        }
        txn.commit().await?;
        Ok((deleted, more))
    }
}

/// Rows looked at per purge step: small, so each step's transaction is
/// short (a session's tokens go with it, so a step may delete more).
const PURGE_BATCH: u64 = 200;
/// The pause between purge steps.
const PURGE_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);

fn truncate(reason: &str) -> String {
    reason.chars().take(255).collect()
}
