//! Group commit: on SQLite and PostgreSQL, the writes of concurrent calls
//! share one commit, and so one sync.
//!
//! Written one by one, each `Issue` and `Refresh` pays its own `BEGIN`,
//! `COMMIT` and sync, and a statement for each row it touches: on SQLite
//! (one writer, one connection; see `bounds.rs`) each statement is also
//! two thread switches to the driver's worker thread and back, and on
//! PostgreSQL a round trip and a backend's parse-and-execute. Here a
//! writer task takes every write that queued up while the last commit ran
//! (up to [`MAX_BATCH`]) and writes them together: on PostgreSQL as a
//! statement over arrays for the batch's new sessions and one for its
//! rotations, a round trip each (`postgres.rs`); on SQLite as a few statements for the whole batch in
//! one transaction (`sqlite.rs`). Either way the refresh tokens presented
//! for rotation are spent by a compare-and-set of the whole batch, which
//! spends a token only if it is unspent, unexpired, and its session live,
//! unexpired and not opened before its subject's cut-off. A token it did
//! not spend (unknown, spent before, expired, revoked, cut off) is
//! answered "not spent here", and its call takes the path that reads the
//! token and says why, after this commit.
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

mod postgres;
mod sqlite;

use futures::FutureExt;
use sea_orm::{
    sqlx::{self, error::ErrorKind, postgres::PgPool},
    DatabaseConnection, DbErr, RuntimeErr, TransactionTrait,
};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::debug;

use super::{
    bounds::retrying,
    entity::{refresh_token, session},
    rotation::{spend_in, Spend, SpendOutcome},
    LedgerError,
};

/// Most writes in one batch. On SQLite the multi-row `INSERT`s differ in
/// text by their number of rows, and the driver keeps 100 prepared
/// statements per connection: 32 of each leaves room for the rest.
pub(super) const MAX_BATCH: usize = 32;
/// Writes that may wait for the writer before callers wait to queue.
const QUEUE: usize = 1024;

/// A write one call asks for.
pub(super) enum Write {
    /// A new session and its first refresh token.
    Open {
        session: session::Model,
        token: refresh_token::Model,
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
    /// Starts the writer task on `db`. On PostgreSQL, `writer` is the
    /// writer's own pool (`bounds::Purpose::Writing`) that opens and
    /// rotations go through; the rare spends use `db`.
    pub(super) fn start(db: DatabaseConnection, writer: Option<PgPool>) -> Self {
        let sink = Sink {
            db,
            postgres: writer.map(postgres::Writer::new),
        };
        Self::spawn(move |queue| run(sink, queue))
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

/// What the writer task writes with.
struct Sink {
    /// The ledger's pool: SQLite's one connection, or PostgreSQL's shared
    /// pool for the spends' transactions.
    db: DatabaseConnection,
    /// PostgreSQL: the writer's own connection, for opens and rotations.
    postgres: Option<postgres::Writer>,
}

async fn run(sink: Sink, mut queue: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // A bug that panics fails the calls of its batch (their answers
        // are dropped: they report the ledger unavailable), not every
        // write after it.
        let committing = std::panic::AssertUnwindSafe(commit(&sink, std::mem::take(&mut batch)));
        if committing.catch_unwind().await.is_err() {
            tracing::error!("the ledger's writer panicked; the calls of that batch failed");
        }
    }
}

/// Writes `batch`. On PostgreSQL in up to three parts, each committed by
/// itself: its opens and its rotations (a statement each) and its spends
/// (rare: tokens a compare-and-set left alone, then found spendable; a
/// transaction). A failed part is rerun on its own: a rerun of a part that
/// committed would write its rows twice.
async fn commit(sink: &Sink, batch: Vec<Job>) {
    if sink.postgres.is_none() {
        return commit_together(sink, batch).await;
    }
    let (mut opens, mut rotations, mut spends) = (Vec::new(), Vec::new(), Vec::new());
    for job in batch {
        match job.write {
            Write::Open { .. } => opens.push(job),
            Write::Rotate(_) => rotations.push(job),
            Write::Spend(_) => spends.push(job),
        }
    }
    for part in [opens, rotations, spends] {
        if !part.is_empty() {
            commit_together(sink, part).await;
        }
    }
}

/// Writes `batch` in one transaction, or, when that fails on one write's
/// account, each write in its own; answers every job.
async fn commit_together(sink: &Sink, batch: Vec<Job>) {
    let (writes, answers): (Vec<Write>, Vec<_>) =
        batch.into_iter().map(|job| (job.write, job.done)).unzip();
    let refs: Vec<&Write> = writes.iter().collect();
    // A serialization failure or deadlock rolled the whole batch back:
    // it is run again as if it never happened.
    let err = match retrying("group commit", || write_together(sink, &refs)).await {
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
        let outcome = retrying("group commit", || write_together(sink, &alone))
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

/// Writes `writes` together; what each did, in order. On PostgreSQL,
/// `writes` are all of one kind (see `commit`).
async fn write_together(sink: &Sink, writes: &[&Write]) -> Result<Vec<Written>, LedgerError> {
    match (writes.first(), &sink.postgres) {
        (Some(Write::Open { .. }), Some(writer)) => {
            postgres::open(writer, writes).await?;
            return Ok(answers(writes, Vec::new(), Vec::new()));
        }
        (Some(Write::Rotate(_)), Some(writer)) => {
            let rotated = postgres::rotate(writer, writes).await?;
            return Ok(answers(writes, rotated, Vec::new()));
        }
        _ => {}
    }
    let txn = sink.db.begin().await?;
    let rotated = if sink.postgres.is_some() {
        Vec::new()
    } else {
        sqlite::write(&txn, writes).await?
    };
    let mut spent = Vec::new();
    for write in writes {
        if let Write::Spend(spend) = write {
            spent.push(spend_in(&txn, spend).await?);
        }
    }
    txn.commit().await?;
    Ok(answers(writes, rotated, spent))
}

/// Each write's answer, in order, from what the rotations and the spends
/// (each in the order of the writes) did.
fn answers(
    writes: &[&Write],
    rotated: Vec<Option<Box<Rotated>>>,
    spent: Vec<SpendOutcome>,
) -> Vec<Written> {
    let (mut rotated, mut spent) = (rotated.into_iter(), spent.into_iter());
    writes
        .iter()
        .map(|write| match write {
            Write::Open { .. } => Written::Opened,
            Write::Rotate(_) => Written::Rotated(rotated.next().flatten()),
            Write::Spend(_) => Written::Spend(spent.next().unwrap_or(SpendOutcome::LostRace)),
        })
        .collect()
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
        let write = Write::Rotate(Rotate {
            hash: String::new(),
            successor_hash: String::new(),
            seal: None,
            now: 0,
            idle_ttl: 0,
        });
        assert!(
            writer.write(write).await.is_err(),
            "a write after the writer died fails at once instead of hanging"
        );
    }
}
