//! How long the ledger may make anyone wait, and what it retries.
//!
//! Every wait on the database is bounded below a typical RPC deadline, so a
//! slow or unreachable database turns into a prompt `STORAGE_UNAVAILABLE`
//! (action `retry`) instead of a call that hangs until the client gives up:
//! taking a connection from the pool, each statement (by the database
//! itself, where the driver can ask for it), and waiting on another
//! writer's lock. Serialization failures and deadlocks, which the database
//! raises to say "run that again", are retried a few times.

use std::{future::Future, str::FromStr, time::Duration};

use sea_orm::{
    sqlx::{
        self,
        mysql::{MySqlConnectOptions, MySqlDatabaseError},
        pool::PoolOptions,
        postgres::PgConnectOptions,
        sqlite::{SqliteJournalMode, SqliteSynchronous},
        ConnectOptions as _, Executor,
    },
    ConnectOptions, Database, DatabaseConnection, DbErr, RuntimeErr, SqlxMySqlConnector,
    SqlxPostgresConnector,
};
use tracing::debug;

use super::{read_only, sqlite_file, LedgerError};

/// Longest wait for a connection, new or pooled. A refused connection is
/// retried by the pool until then (the database may be restarting).
pub(super) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest a statement may run, enforced by PostgreSQL and MariaDB (MySQL
/// bounds only SELECTs).
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest a statement waits for another transaction's row lock, in whole
/// seconds (MySQL/MariaDB take no less than 1); on PostgreSQL the statement
/// timeout covers it.
const LOCK_WAIT_SECS: u64 = 2;
/// How long SQLite waits for another process's write lock before the
/// statement fails with "database is locked".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(2);
/// How many times an operation runs when the database asks for it to be
/// run again.
const ATTEMPTS: u32 = 3;

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// Serving calls: every statement bounded.
    Serving,
    /// Running migrations: DDL on a big table may rightly take minutes, so
    /// no statement timeout (the connection still times out on connect).
    Migrating,
    /// The group commit's writer on PostgreSQL (`group_commit.rs`): one
    /// connection of its own, every statement bounded, its statements
    /// prepared once and planned once (see [`WRITER_SETTINGS`]).
    Writing,
}

/// The PostgreSQL settings of the writer's connection, set when it opens
/// (a round trip per new connection, about one each 30 minutes), and not
/// in the start-up message with `statement_timeout`: a connection pooler
/// told to ignore start-up `options` would drop them silently, and the
/// plan below would be made without them. The writer runs a handful of
/// statements, every row of which is reached by its primary key; they are
/// prepared once, and planned once, for any arrays (`force_generic_plan`:
/// no parse and no planning per batch, which were a third of the
/// database's work per Refresh). A plan made once must not depend on how
/// big the tables were at that moment: on a young table, never analyzed,
/// the planner prefers scanning the whole table to using its primary key,
/// and would keep that plan as the table grows. With sequential scans
/// priced out, every access the statements can make through an index is
/// made through one.
pub(super) const WRITER_SETTINGS: [(&str, &str); 2] = [
    ("plan_cache_mode", "force_generic_plan"),
    ("enable_seqscan", "off"),
];

/// Sets each of `settings` on `conn`, skipping, with a warning, one the
/// database does not know or refuses the value of: a PostgreSQL-compatible
/// engine the ledger may run on (the distributed ones, or a fork on an
/// older PostgreSQL) need not have PostgreSQL's planner settings, and
/// plans by its own rules. Any other error (a broken connection) fails the
/// connection.
async fn apply_settings(
    conn: &mut sqlx::PgConnection,
    settings: &[(&str, &str)],
) -> Result<(), sqlx::Error> {
    for (name, value) in settings {
        match conn.execute(format!("SET {name} = {value}").as_str()).await {
            Ok(_) => {}
            // 42704: unrecognized configuration parameter; 22023: invalid
            // parameter value.
            Err(sqlx::Error::Database(err))
                if matches!(err.code().as_deref(), Some("42704" | "22023")) =>
            {
                tracing::warn!(
                    setting = name,
                    error = %err,
                    "the database does not take a setting of the ledger's writer; \
                     its statements are planned as the database chooses"
                );
            }
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// When a pool opens its first connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Connect {
    /// Now: opening fails if the database does not answer.
    Now,
    /// On first use (a database server; SQLite, a local file, still opens
    /// now): for a server that waits for its database instead of exiting.
    Lazily,
}

/// Opens a pool on `url` with the bounds `purpose` calls for.
pub(super) async fn open(url: &str, purpose: Purpose) -> Result<DatabaseConnection, LedgerError> {
    open_with(url, purpose, Connect::Now).await
}

/// [`open`], connecting when `connect` says.
pub(super) async fn open_with(
    url: &str,
    purpose: Purpose,
    connect: Connect,
) -> Result<DatabaseConnection, LedgerError> {
    let bounded = purpose != Purpose::Migrating;
    let lazy = connect == Connect::Lazily;
    let server = if url.starts_with("mysql:") || url.starts_with("mariadb:") {
        Some(open_mysql(url, bounded, lazy).await)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Some(open_postgres(url, purpose, lazy).await)
    } else {
        None
    };
    if let Some(opened) = server {
        return opened.map_err(|source| LedgerError::Connect {
            source,
            network: None,
        });
    }
    let (url, synchronous) = if url.starts_with("sqlite:") {
        take_synchronous(url)?
    } else {
        (url.to_owned(), Durability::Full)
    };
    let url = url.as_str();
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .connect_timeout(ACQUIRE_TIMEOUT)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // Statements are logged by inkan's own spans, without values.
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        sqlite_file::create_owner_only(url)?;
        // SQLite has one writer at a time; one connection makes that
        // explicit and keeps concurrent rotations from failing with
        // "database is locked" instead of waiting their turn.
        //
        // WAL: a commit appends its pages to the write-ahead log and syncs
        // that one file, where the default rollback journal writes and syncs
        // the journal, the database and the directory; readers (the CLI,
        // `inkan ledger` commands) never block the writer. The synchronous
        // level is stated, not left to the build: FULL unless the URL says
        // `synchronous=normal` (see `take_synchronous`).
        options.max_connections(1).map_sqlx_sqlite_opts(move |o| {
            o.busy_timeout(SQLITE_BUSY_TIMEOUT)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(match synchronous {
                    Durability::Full => SqliteSynchronous::Full,
                    Durability::Normal => SqliteSynchronous::Normal,
                })
                // The journal a multi-row statement keeps to undo itself
                // alone, in memory: not a temporary file opened, written
                // and deleted for each.
                .pragma("temp_store", "memory")
        });
    }
    // Several processes opening a new SQLite file at once (replicas, or
    // `migrate` beside `serve`) race to switch it to WAL, and SQLite answers
    // the loser "database is locked" at once, without its busy handler: try
    // again within the busy timeout, as a statement would have waited.
    let sqlite = url.starts_with("sqlite:");
    let give_up = std::time::Instant::now() + SQLITE_BUSY_TIMEOUT;
    loop {
        match Database::connect(options.clone()).await {
            Err(source)
                if sqlite
                    && std::time::Instant::now() < give_up
                    && source.to_string().contains("database is locked") =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            result => {
                return result.map_err(|source| LedgerError::Connect {
                    source,
                    network: None,
                })
            }
        }
    }
}

/// How much of a SQLite ledger's acknowledged writes a crash can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Durability {
    /// `synchronous=FULL`, the default: the WAL is synced at every commit,
    /// so every answered call's record survives a process crash, an OS
    /// crash and a power loss.
    Full,
    /// `synchronous=NORMAL`: the WAL is synced only at checkpoints, so a
    /// process crash loses nothing, but an OS crash or power loss may lose
    /// the last commits (the database stays consistent). Refresh tokens
    /// handed out just before may then be unknown, and a spent token
    /// unspent again, until the client logs in anew.
    Normal,
}

/// Takes inkan's own `synchronous` parameter out of a SQLite URL (sqlx
/// refuses parameters it does not know): `full` (the default) or `normal`.
fn take_synchronous(url: &str) -> Result<(String, Durability), LedgerError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), Durability::Full));
    };
    let mut durability = Durability::Full;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("synchronous", value)) => {
                durability = match value.to_ascii_lowercase().as_str() {
                    "full" => Durability::Full,
                    "normal" => Durability::Normal,
                    _ => {
                        return Err(LedgerError::Connect {
                            source: DbErr::Custom(format!(
                                "the SQLite URL's synchronous={value} is not one inkan takes: \
                                 use full (the default) or normal"
                            )),
                            network: None,
                        })
                    }
                }
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, durability))
}

/// A pool's options with the bounds and the hooks every server pool
/// has: the acquire timeout, and dropping connections opened before the
/// database was last met read-only (`read_only.rs`).
fn pool_options<DB: sqlx::Database>() -> PoolOptions<DB> {
    PoolOptions::new()
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .before_acquire(|_, meta| Box::pin(async move { Ok(read_only::keep(&meta)) }))
        .after_release(|_, meta| Box::pin(async move { Ok(read_only::keep(&meta)) }))
}

/// PostgreSQL: inkan builds the pool (SeaORM does not expose sqlx's pool
/// hooks) so it can drop connections that met a read-only server.
async fn open_postgres(
    url: &str,
    purpose: Purpose,
    lazy: bool,
) -> Result<DatabaseConnection, DbErr> {
    let conn_err = |e| DbErr::Conn(RuntimeErr::SqlxError(e));
    let mut options = PgConnectOptions::from_str(url)
        .map_err(conn_err)?
        .disable_statement_logging();
    if purpose != Purpose::Migrating {
        // Sent with the start-up message: no extra round trip, and no
        // connection ever runs unbounded.
        let statement_ms = STATEMENT_TIMEOUT.as_millis().to_string();
        options = options.options([("statement_timeout", statement_ms.as_str())]);
    }
    let mut pool = pool_options::<sqlx::Postgres>();
    if purpose == Purpose::Writing {
        // The writer commits one batch at a time, on a connection it holds
        // and checks itself (`group_commit/postgres.rs`); the pool tests
        // a connection as it is given back, so not again as it is taken.
        pool = pool
            .max_connections(1)
            .test_before_acquire(false)
            .after_connect(|conn, _| Box::pin(apply_settings(conn, &WRITER_SETTINGS)));
    }
    let pool = if lazy {
        pool.connect_lazy_with(options)
    } else {
        pool.connect_with(options).await.map_err(conn_err)?
    };
    Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool))
}

/// MySQL/MariaDB: sqlx sets session variables only through a pool's
/// `after_connect`, which SeaORM does not expose, so inkan builds the pool.
async fn open_mysql(url: &str, bounded: bool, lazy: bool) -> Result<DatabaseConnection, DbErr> {
    let conn_err = |e| DbErr::Conn(RuntimeErr::SqlxError(e));
    let options = MySqlConnectOptions::from_str(url)
        .map_err(conn_err)?
        .disable_statement_logging();
    let mut pool = pool_options::<sqlx::MySql>();
    if bounded {
        pool = pool.after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute(
                    format!("SET SESSION innodb_lock_wait_timeout = {LOCK_WAIT_SECS}").as_str(),
                )
                .await?;
                // MariaDB bounds every statement, in seconds; MySQL has no
                // such variable and bounds SELECTs, in milliseconds.
                let mariadb = format!(
                    "SET SESSION max_statement_time = {}",
                    STATEMENT_TIMEOUT.as_secs()
                );
                if conn.execute(mariadb.as_str()).await.is_err() {
                    let mysql = format!(
                        "SET SESSION max_execution_time = {}",
                        STATEMENT_TIMEOUT.as_millis()
                    );
                    conn.execute(mysql.as_str()).await?;
                }
                Ok(())
            })
        });
    }
    let pool = if lazy {
        pool.connect_lazy_with(options)
    } else {
        pool.connect_with(options).await.map_err(conn_err)?
    };
    Ok(SqlxMySqlConnector::from_sqlx_mysql_pool(pool))
}

impl LedgerError {
    /// Whether the database asked for the operation to be run again: a
    /// serialization failure or a deadlock (PostgreSQL and the distributed
    /// engines: SQLSTATE 40001, 40P01; MySQL/MariaDB: 1213, 1205), or a
    /// write refused by a read-only node, whose connection is dropped (see
    /// `read_only.rs`) so the next attempt takes a new one. The transaction
    /// was rolled back, so running it again is safe.
    pub(super) fn is_transient(&self) -> bool {
        if let LedgerError::Database(err) = self {
            if read_only::is_read_only(err) {
                return true;
            }
        }
        let LedgerError::Database(
            DbErr::Exec(RuntimeErr::SqlxError(err)) | DbErr::Query(RuntimeErr::SqlxError(err)),
        ) = self
        else {
            return false;
        };
        let sqlx::Error::Database(db) = err else {
            return false;
        };
        if let Some(mysql) = db.try_downcast_ref::<MySqlDatabaseError>() {
            return matches!(mysql.number(), 1213 | 1205);
        }
        matches!(db.code().as_deref(), Some("40001" | "40P01"))
    }
}

/// Runs `operation` until it succeeds, fails for good, or has been run
/// [`ATTEMPTS`] times; `what` names it in the log.
pub(super) async fn retrying<T, F, Fut>(
    what: &'static str,
    mut operation: F,
) -> Result<T, LedgerError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, LedgerError>>,
{
    let mut attempt = 1;
    loop {
        let outcome = operation().await;
        if let Err(LedgerError::Database(err)) = &outcome {
            // Every write passes here, however its error was built: the
            // pool drops the connections that may lead to a read-only node
            // before the next attempt takes one.
            if read_only::is_read_only(err) {
                read_only::seen();
            }
        }
        match outcome {
            Err(err) if attempt < ATTEMPTS && err.is_transient() => {
                debug!(what, attempt, error = ?err, "the database asked for a retry");
                // Spread the retries of colliding transactions apart.
                let jitter = rand::random::<u64>() % 20;
                tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt) + jitter)).await;
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synchronous_is_taken_out_of_a_sqlite_url() {
        let full = take_synchronous("sqlite://a.db?mode=rwc").unwrap();
        assert_eq!(
            full,
            ("sqlite://a.db?mode=rwc".to_owned(), Durability::Full)
        );
        let normal = take_synchronous("sqlite://a.db?synchronous=normal&mode=rwc").unwrap();
        assert_eq!(
            normal,
            ("sqlite://a.db?mode=rwc".to_owned(), Durability::Normal)
        );
        let only = take_synchronous("sqlite://a.db?synchronous=FULL").unwrap();
        assert_eq!(only, ("sqlite://a.db".to_owned(), Durability::Full));
        let wrong = take_synchronous("sqlite://a.db?synchronous=off").unwrap_err();
        assert!(
            format!("{:?}", wrong).contains("use full (the default) or normal"),
            "{wrong:?}"
        );
    }

    #[tokio::test]
    async fn a_setting_the_database_does_not_know_is_skipped_and_the_rest_applied() {
        use sea_orm::sqlx::Connection as _;
        let Ok(server) = std::env::var("INKAN_TEST_DATABASE_URL") else {
            eprintln!("INKAN_TEST_DATABASE_URL is not set: PostgreSQL not covered");
            return;
        };
        let mut conn = sqlx::PgConnection::connect(&server).await.unwrap();
        let settings = [
            ("inkan_no_such_setting", "on"),
            ("enable_seqscan", "maybe"),
            ("plan_cache_mode", "force_generic_plan"),
        ];
        apply_settings(&mut conn, &settings)
            .await
            .expect("unknown settings and values are skipped");
        let (plan, seqscan): (String, String) = sqlx::query_as(
            "SELECT current_setting('plan_cache_mode'), current_setting('enable_seqscan')",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(plan, "force_generic_plan", "the known setting was applied");
        assert_eq!(seqscan, "on", "the refused value left the default");
    }

    #[tokio::test]
    async fn a_sqlite_ledger_runs_in_wal_mode_with_the_stated_synchronous_level() {
        use sea_orm::{ConnectionTrait, Statement};
        let dir = tempfile::tempdir().unwrap();
        for (query, level) in [("", 2), ("&synchronous=normal", 1)] {
            let url = format!(
                "sqlite://{}?mode=rwc{query}",
                dir.path().join(format!("l{level}.db")).display()
            );
            let db = open(&url, Purpose::Serving).await.unwrap();
            let pragma = |name: &'static str| {
                let db = db.clone();
                async move {
                    db.query_one(Statement::from_string(
                        db.get_database_backend(),
                        format!("PRAGMA {name}"),
                    ))
                    .await
                    .unwrap()
                    .unwrap()
                }
            };
            let mode: String = pragma("journal_mode").await.try_get_by_index(0).unwrap();
            assert_eq!(mode, "wal");
            let sync: i32 = pragma("synchronous").await.try_get_by_index(0).unwrap();
            assert_eq!(sync, level, "FULL is 2, NORMAL 1");
            let temp: i32 = pragma("temp_store").await.try_get_by_index(0).unwrap();
            assert_eq!(temp, 2, "statement journals in memory (MEMORY is 2)");
        }
    }
}
