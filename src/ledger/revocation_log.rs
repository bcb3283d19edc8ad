//! The revocation log: every revocation (a session ended, a subject cut
//! off) as a row with a random id and the database's clock at insertion,
//! and the per-subject cut-offs themselves.
//!
//! Readers ask for the rows recorded since a point of the database's clock
//! (see `crate::revocations::Position` for how they avoid missing a row
//! that commits late, and reading one twice). The clock is read before the
//! rows, in its own statement, so every row recorded well before that
//! reading had committed by the time the rows were read.

use sea_orm::{
    sea_query::{Expr, OnConflict, Query},
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    TransactionTrait,
};
use tracing::instrument;
use uuid::Uuid;

use super::{
    db_clock::db_now,
    entity::{revocation_event, subject_cut_off},
    Ledger, LedgerError,
};
use crate::ids::{SessionId, Subject};

/// What a revocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// One session: its access tokens are refused.
    Session(SessionId),
    /// A subject: its tokens issued before the event's time are refused.
    Subject(Subject),
}

impl Revoked {
    fn kind(&self) -> &'static str {
        match self {
            Revoked::Session(_) => KIND_SESSION,
            Revoked::Subject(_) => KIND_SUBJECT,
        }
    }

    fn target(&self) -> String {
        match self {
            Revoked::Session(id) => id.to_string(),
            Revoked::Subject(subject) => subject.to_string(),
        }
    }
}

const KIND_SESSION: &str = "session";
const KIND_SUBJECT: &str = "subject";

/// One row of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationEvent {
    /// The row's random id.
    pub id: Uuid,
    /// What the revocation ended.
    pub revoked: Revoked,
    /// When the session was revoked, or the subject's cut-off (Unix seconds).
    pub at: i64,
    /// The database's clock when the row was written (Unix seconds).
    pub recorded_at: i64,
}

impl TryFrom<revocation_event::Model> for RevocationEvent {
    type Error = LedgerError;

    fn try_from(row: revocation_event::Model) -> Result<Self, LedgerError> {
        let revoked = match row.kind.as_str() {
            KIND_SESSION => Revoked::Session(
                SessionId::parse(&row.target)
                    .map_err(|_| LedgerError::Corrupt("revoked session id"))?,
            ),
            KIND_SUBJECT => Revoked::Subject(
                Subject::parse(&row.target).map_err(|_| LedgerError::Corrupt("cut-off subject"))?,
            ),
            _ => return Err(LedgerError::Corrupt("revocation kind")),
        };
        Ok(Self {
            id: Uuid::parse_str(&row.id).map_err(|_| LedgerError::Corrupt("revocation id"))?,
            revoked,
            at: row.at,
            recorded_at: row.recorded_at,
        })
    }
}

/// What one read of the log returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRead {
    /// The database's clock, read just before the rows.
    pub read_at: i64,
    /// Rows recorded at or after this time were read.
    pub from: i64,
    /// Those rows, by `recorded_at`, then id.
    pub events: Vec<RevocationEvent>,
}

#[derive(FromQueryResult)]
struct DbNow {
    db_now: i64,
}

/// Writes one row of the log on `conn`, inside the caller's transaction:
/// as its last statement, so the row commits right after its clock reading.
pub(super) async fn record<C: ConnectionTrait>(
    conn: &C,
    revoked: &Revoked,
    at: i64,
) -> Result<(), LedgerError> {
    use revocation_event::Column as C;
    let backend = conn.get_database_backend();
    let mut insert = Query::insert();
    insert
        .into_table(revocation_event::Entity)
        .columns([C::Id, C::Kind, C::Target, C::At, C::RecordedAt])
        .values([
            Uuid::new_v4().to_string().into(),
            revoked.kind().into(),
            revoked.target().into(),
            at.into(),
            db_now(backend),
        ])
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    conn.execute(backend.build(&insert)).await?;
    Ok(())
}

impl Ledger {
    /// Records that `subject`'s tokens issued before `not_before` are
    /// refused. The latest cut-off wins: an earlier one never moves it back.
    #[instrument(skip_all)]
    pub async fn cut_off_subject(
        &self,
        subject: &Subject,
        not_before: i64,
    ) -> Result<(), LedgerError> {
        use subject_cut_off::Column as C;
        let backend = self.backend();
        let txn = self.db.begin().await?;
        let mut insert = Query::insert();
        insert
            .into_table(subject_cut_off::Entity)
            .columns([C::Subject, C::NotBefore])
            .values([subject.as_str().into(), not_before.into()])
            .map_err(|e| DbErr::Custom(e.to_string()))?
            .on_conflict(
                OnConflict::column(C::Subject)
                    .do_nothing_on([C::Subject])
                    .to_owned(),
            );
        txn.execute(backend.build(&insert)).await?;
        subject_cut_off::Entity::update_many()
            .col_expr(C::NotBefore, Expr::value(not_before))
            .filter(C::Subject.eq(subject.as_str()))
            .filter(C::NotBefore.lt(not_before))
            .exec(&txn)
            .await?;
        record(&txn, &Revoked::Subject(subject.clone()), not_before).await?;
        txn.commit().await?;
        Ok(())
    }

    /// A subject's cut-off, if it has one.
    #[instrument(skip_all)]
    pub async fn subject_cut_off(&self, subject: &Subject) -> Result<Option<i64>, LedgerError> {
        Ok(
            subject_cut_off::Entity::find_by_id(subject.as_str().to_owned())
                .one(&self.db)
                .await?
                .map(|row| row.not_before),
        )
    }

    /// Every subject's cut-off made at or after `since` (Unix seconds).
    #[instrument(skip_all)]
    pub async fn subject_cut_offs_since(
        &self,
        since: i64,
    ) -> Result<Vec<(Subject, i64)>, LedgerError> {
        subject_cut_off::Entity::find()
            .filter(subject_cut_off::Column::NotBefore.gte(since))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| {
                let subject = Subject::parse(&row.subject)
                    .map_err(|_| LedgerError::Corrupt("cut-off subject"))?;
                Ok((subject, row.not_before))
            })
            .collect()
    }

    /// The log's rows recorded at or after `from` (the database's clock),
    /// with the database's clock read just before them.
    #[instrument(skip_all)]
    pub async fn revocations_since(&self, from: i64) -> Result<LogRead, LedgerError> {
        let backend = self.backend();
        let mut select = Query::select();
        select.expr_as(db_now(backend), sea_orm::sea_query::Alias::new("db_now"));
        let read_at = DbNow::find_by_statement(backend.build(&select))
            .one(&self.db)
            .await?
            .ok_or(LedgerError::Corrupt("the database's clock"))?
            .db_now;
        let events = revocation_event::Entity::find()
            .filter(revocation_event::Column::RecordedAt.gte(from))
            .order_by_asc(revocation_event::Column::RecordedAt)
            .order_by_asc(revocation_event::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(RevocationEvent::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LogRead {
            read_at,
            from,
            events,
        })
    }

    /// Deletes log rows recorded more than `retention` seconds ago by the
    /// database's clock, and cut-offs older than `cut_off_before` (Unix
    /// seconds): neither can refuse a token any more. Returns rows deleted.
    #[instrument(skip_all)]
    pub async fn purge_revocations(
        &self,
        retention: i64,
        cut_off_before: i64,
    ) -> Result<u64, LedgerError> {
        let events = revocation_event::Entity::delete_many()
            .filter(
                Expr::col(revocation_event::Column::RecordedAt)
                    .lt(db_now(self.backend()).sub(retention)),
            )
            .exec(&self.db)
            .await?
            .rows_affected;
        let cut_offs = subject_cut_off::Entity::delete_many()
            .filter(subject_cut_off::Column::NotBefore.lt(cut_off_before))
            .exec(&self.db)
            .await?
            .rows_affected;
        Ok(events + cut_offs)
    }
}
