//! Group commit: on SQLite and PostgreSQL, the writes of concurrent calls
//! share one transaction, and so one commit and one sync.
//!
//! Written one by one, each `Issue` and `Refresh` pays its own `BEGIN`,
//! `COMMIT` and sync, and a statement for each row it touches: on SQLite
//! (one writer, one connection; see `bounds.rs`) each statement is also
//! two thread switches to the driver's worker thread and back, and on
//! PostgreSQL a round trip and a backend's parse-and-execute. Here a
//! writer task takes every write that queued up while the last commit ran
//! (up to [`MAX_BATCH`]) and writes them in one transaction, in a few
//! statements for the whole batch:
//!
//! - the new sessions and their first tokens as two multi-row `INSERT`s;
//! - the refresh tokens presented for rotation spent by one `UPDATE`, the
//!   compare-and-set of every one of them at once: a token is spent only
//!   if it is unspent, unexpired and its session live and unexpired, and
//!   the statement returns the tokens it spent (`RETURNING`). Then one
//!   `SELECT` of their sessions, one `INSERT` of the successors, one
//!   `UPDATE` of the sessions' last use and one dropping the parents'
//!   seals. A token the `UPDATE` did not spend (unknown, spent before,
//!   expired, revoked) is answered "not spent here", and its call takes
//!   the path that reads the token and says why, after this commit.
//!
//! That single `UPDATE` is used on SQLite only: PostgreSQL's planner may
//! run its liveness check through the sessions' `revoked_at` index, a
//! scan that grows with the ledger. There each refresh reads its token
//! first and sends its spend (a compare-and-set per call, `spend_in`) to
//! the shared transaction.
//!
//! A call is answered only after the commit that holds its write, so an
//! answered call's record is as durable as before.
//!
//! One call's failure must not become another's: when a batch fails on
//! something one write could cause (a constraint), its writes are run
//! again one per transaction, and each call gets its own outcome. A
//! serialization failure or deadlock (PostgreSQL, replicas writing the
//! same rows) reruns the batch. A fault of the database itself (locked by
//! another process, disk full, unreachable) fails every call of the batch
//! alike, as it would have failed each.
//!
//! MySQL and MariaDB have no `UPDATE … RETURNING`, so there each call
//! writes in a transaction of its own.

use std::collections::{HashMap, HashSet};

use futures::FutureExt;
use sea_orm::{
    sea_query::{CaseStatement, Expr, Query},
    sqlx::{self, error::ErrorKind},
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryTrait, RuntimeErr, TransactionTrait,
};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::debug;

use super::{
    bounds::retrying,
    db_clock::db_now,
    entity::{refresh_token, session},
    rotation::{clear_parent_seals, spend_in, Spend, SpendOutcome},
    LedgerError,
};

/// Most writes in one transaction. The multi-row `INSERT`s differ in text
/// by their number of rows, and the driver keeps 100 prepared statements
/// per connection: 32 of each leaves room for the rest.
pub(super) const MAX_BATCH: usize = 32;
/// Writes that may wait for the writer before callers wait to queue.
const QUEUE: usize = 1024;

/// A write one call asks for.
pub(super) enum Write {
    /// A new session and its first refresh token.
    Open {
        session: session::ActiveModel,
        token: refresh_token::ActiveModel,
    },
    /// Spending a refresh token the ledger has not read yet, in the common
    /// case: answered [`Written::Rotated`].
    Rotate(Rotate),
    /// Spending a refresh token already read and judged spendable.
    Spend(Spend),
}

/// A refresh token to spend for `successor_hash`, if nothing stands in
/// the way.
pub(super) struct Rotate {
    pub(super) hash: String,
    pub(super) successor_hash: String,
    /// The successor sealed under the presented token, for a retry.
    pub(super) seal: Option<String>,
    /// The caller's time: expiry is judged by it.
    pub(super) now: i64,
    /// How long the successor stays usable unused, in seconds.
    pub(super) idle_ttl: i64,
}

/// A token spent by [`Write::Rotate`].
#[derive(Debug)]
pub(super) struct Rotated {
    /// Its session, as it was read after the spend.
    pub(super) session: session::Model,
    pub(super) refresh_expires_at: i64,
}

/// What a write did.
#[derive(Debug)]
pub(super) enum Written {
    Opened,
    /// `None`: not spent here; the call must read the token to learn why.
    Rotated(Option<Box<Rotated>>),
    Spend(SpendOutcome),
}

struct Job {
    write: Write,
    done: oneshot::Sender<Result<Written, LedgerError>>,
}

/// The queue to the writer task; cheap to clone. The task ends when the
/// last clone is dropped, after writing what is queued.
#[derive(Clone)]
pub(super) struct GroupCommit {
    jobs: mpsc::Sender<Job>,
    /// Becomes `true` when the writer task has ended.
    ended: watch::Receiver<bool>,
}

/// Marks the writer ended when dropped.
struct Ended(watch::Sender<bool>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("queued", &(QUEUE - self.jobs.capacity()))
            .finish()
    }
}

impl GroupCommit {
    /// Starts the writer task on `db`.
    pub(super) fn start(db: DatabaseConnection) -> Self {
        Self::spawn(move |queue| run(db, queue))
    }

    /// Runs `writer` over the queue of jobs as the writer task.
    fn spawn<W, F>(writer: W) -> Self
    where
        W: FnOnce(mpsc::Receiver<Job>) -> F,
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let (ended_tx, ended) = watch::channel(false);
        let writing = writer(queue);
        tokio::spawn(async move {
            // Set however the task ends, a panic included.
            let _ended = Ended(ended_tx);
            writing.await;
        });
        Self { jobs, ended }
    }

    /// Resolves if the writer task ends, which it must not while the
    /// ledger is in use: every write after would fail. The server
    /// supervises it like its other tasks.
    pub(super) async fn ended(&self) {
        let mut ended = self.ended.clone();
        let _ = ended.wait_for(|ended| *ended).await;
    }

    /// Writes `write` with whatever else is queued, and answers once it is
    /// committed (or has failed).
    pub(super) async fn write(&self, write: Write) -> Result<Written, LedgerError> {
        let (done, answer) = oneshot::channel();
        let stopped = || LedgerError::Database(DbErr::Custom("the ledger's writer stopped".into()));
        self.jobs
            .send(Job { write, done })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(db: DatabaseConnection, mut queue: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // A bug that panics fails the calls of its batch (their answers
        // are dropped: they report the ledger unavailable), not every
        // write after it.
        let committing = std::panic::AssertUnwindSafe(commit(&db, std::mem::take(&mut batch)));
        if committing.catch_unwind().await.is_err() {
            tracing::error!("the ledger's writer panicked; the calls of that batch failed");
        }
    }
}

/// Writes `batch` in one transaction, or, when that fails on one write's
/// account, each write in its own; answers every job.
async fn commit(db: &DatabaseConnection, batch: Vec<Job>) {
    let (writes, answers): (Vec<Write>, Vec<_>) =
        batch.into_iter().map(|job| (job.write, job.done)).unzip();
    let refs: Vec<&Write> = writes.iter().collect();
    // A serialization failure or deadlock rolled the whole batch back:
    // it is run again as if it never happened.
    let err = match retrying("group commit", || write_together(db, &refs)).await {
        Ok(written) => {
            for (answer, written) in answers.into_iter().zip(written) {
                let _ = answer.send(Ok(written));
            }
            return;
        }
        Err(err) => err,
    };
    if writes.len() == 1 || !caused_by_one_write(&err) {
        let cause = match &err {
            LedgerError::Database(db) => db.to_string(),
            other => other.to_string(),
        };
        let mut first = Some(err);
        for answer in answers {
            let err = first.take().unwrap_or_else(|| {
                LedgerError::Database(DbErr::Custom(format!(
                    "the transaction this write shared failed: {cause}"
                )))
            });
            let _ = answer.send(Err(err));
        }
        return;
    }
    debug!(writes = writes.len(), error = ?err, "a shared transaction failed; writing its writes one by one");
    for (write, answer) in writes.iter().zip(answers) {
        let alone = [write];
        let outcome = retrying("group commit", || write_together(db, &alone))
            .await
            .and_then(|written| {
                written
                    .into_iter()
                    .next()
                    .ok_or(LedgerError::Corrupt("group commit answer"))
            });
        let _ = answer.send(outcome);
    }
}

/// Whether `err` is one a single write's rows could cause (a constraint),
/// rather than a fault of the database that every write would meet.
fn caused_by_one_write(err: &LedgerError) -> bool {
    let LedgerError::Database(
        DbErr::Exec(RuntimeErr::SqlxError(sqlx::Error::Database(db)))
        | DbErr::Query(RuntimeErr::SqlxError(sqlx::Error::Database(db))),
    ) = err
    else {
        return matches!(err, LedgerError::Corrupt(_));
    };
    matches!(
        db.kind(),
        ErrorKind::UniqueViolation
            | ErrorKind::ForeignKeyViolation
            | ErrorKind::NotNullViolation
            | ErrorKind::CheckViolation
    )
}

/// Writes `writes` in one transaction; what each did, in order.
async fn write_together(
    db: &DatabaseConnection,
    writes: &[&Write],
) -> Result<Vec<Written>, LedgerError> {
    let txn = db.begin().await?;
    let mut sessions = Vec::new();
    let mut tokens = Vec::new();
    for write in writes {
        if let Write::Open { session, token } = write {
            sessions.push(session.clone());
            tokens.push(token.clone());
        }
    }
    // Every new session of the batch in one statement, and every first
    // token in another. A session's row goes first: its tokens refer to it.
    if !sessions.is_empty() {
        session::Entity::insert_many(sessions)
            .exec_without_returning(&txn)
            .await?;
        refresh_token::Entity::insert_many(tokens)
            .exec_without_returning(&txn)
            .await?;
    }
    let rotations: Vec<&Rotate> = writes
        .iter()
        .filter_map(|write| match write {
            Write::Rotate(rotate) => Some(rotate),
            _ => None,
        })
        .collect();
    let mut rotated = rotate_all(&txn, &rotations).await?.into_iter();
    let mut written = Vec::with_capacity(writes.len());
    for write in writes {
        written.push(match write {
            Write::Open { .. } => Written::Opened,
            Write::Rotate(_) => Written::Rotated(rotated.next().flatten()),
            Write::Spend(spend) => Written::Spend(spend_in(&txn, spend).await?),
        });
    }
    txn.commit().await?;
    Ok(written)
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
    let sessions: HashMap<String, session::Model> = session::Entity::find()
        .filter(session::Column::Id.is_in(session_ids.iter().copied()))
        .all(txn)
        .await?
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    let mut successors = Vec::with_capacity(spent.len());
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
        successors.push(refresh_token::ActiveModel {
            token_hash: Set(rotation.successor_hash.clone()),
            session_id: Set(token.session_id.clone()),
            parent_hash: Set(Some(token.token_hash.clone())),
            generation: Set(token.generation.saturating_add(1)),
            created_at: Set(rotation.now),
            expires_at: Set(refresh_expires_at),
            used_at: Set(None),
            successor_hash: Set(None),
            successor_seal: Set(None),
        });
        // The token spent here was its parent's sealed successor.
        parents.extend(token.parent_hash.clone());
        outcome[i] = Some(Box::new(Rotated {
            session: session::Model {
                last_used_at: now,
                ..session.clone()
            },
            refresh_expires_at,
        }));
    }
    refresh_token::Entity::insert_many(successors)
        .exec_without_returning(txn)
        .await?;
    session::Entity::update_many()
        .col_expr(session::Column::LastUsedAt, Expr::value(now))
        .filter(session::Column::Id.is_in(session_ids))
        .exec(txn)
        .await?;
    clear_parent_seals(txn, parents).await?;
    Ok(outcome)
}

/// The compare-and-set of a whole batch: spends each candidate token that
/// is unspent and unexpired and whose session is live and unexpired at
/// `now` (the batch's latest time: a token this leaves alone is judged
/// again by its own call's time), recording its successor and seal, and
/// returns the tokens it spent.
async fn spend_batch(
    txn: &DatabaseTransaction,
    rotations: &[&Rotate],
    candidates: &HashMap<&str, usize>,
    now: i64,
) -> Result<Vec<refresh_token::Model>, LedgerError> {
    let mut successor = CaseStatement::new();
    let mut seal = CaseStatement::new();
    for (hash, &i) in candidates {
        let is_this = || refresh_token::Column::TokenHash.eq(*hash);
        successor = successor.case(is_this(), Expr::value(rotations[i].successor_hash.as_str()));
        seal = seal.case(is_this(), Expr::value(rotations[i].seal.clone()));
    }
    let live_session = Query::select()
        .expr(Expr::value(1))
        .from(session::Entity)
        .and_where(
            Expr::col((session::Entity, session::Column::Id))
                .equals((refresh_token::Entity, refresh_token::Column::SessionId)),
        )
        .and_where(Expr::col((session::Entity, session::Column::RevokedAt)).is_null())
        .and_where(Expr::col((session::Entity, session::Column::ExpiresAt)).gt(now))
        .to_owned();
    // The compare-and-set of the whole batch, returning what it spent
    // (SQLite has `RETURNING` since 3.35; sqlx bundles a newer one).
    let mut spend = refresh_token::Entity::update_many()
        .col_expr(
            refresh_token::Column::UsedAt,
            db_now(txn.get_database_backend()),
        )
        .col_expr(refresh_token::Column::SuccessorHash, successor.into())
        .col_expr(refresh_token::Column::SuccessorSeal, seal.into())
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_writer_that_dies_is_noticed_and_fails_the_writes_after_it() {
        let writer = GroupCommit::spawn(|_queue| async { panic!("a bug in the writer") });
        tokio::time::timeout(Duration::from_secs(5), writer.ended())
            .await
            .expect("the supervisor hears that the writer ended");
        let write = Write::Open {
            session: session::ActiveModel::default(),
            token: refresh_token::ActiveModel::default(),
        };
        assert!(
            writer.write(write).await.is_err(),
            "a write after the writer died fails at once instead of hanging"
        );
    }
}
