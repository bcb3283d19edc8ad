//! The ledger: the authority on sessions and refresh tokens.
//!
//! SeaORM over SQLite (a local file), PostgreSQL or MySQL/MariaDB. The ledger
//! stores refresh tokens only as hashes, spends each one exactly once with a
//! compare-and-set (so of any number of concurrent refreshes, across any
//! number of replicas, one wins), and treats any other replay as theft.
//! A spent token keeps its sealed successor only for the grace window.
//! Every revocation is also written to a log that replicas and revocation
//! streams read by the database's clock.
//! It reports database faults as [`LedgerError`], never as token failures,
//! and bounds every wait on the database (see `bounds.rs`).

mod bounds;
mod db_clock;
pub mod entity;
mod group_commit;
mod legacy;
mod migration_lock;
mod ownership;
mod read_only;
mod revocation_log;
mod rotation;
mod schema;
mod seals;
mod sessions;
mod sqlite_file;

use std::{future::Future, sync::Arc, time::Duration, time::Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr};
use secrecy::{ExposeSecret, SecretString};

use crate::metrics::{LedgerCall, Metrics, PoolState};

pub use legacy::{
    Exchanged, ImportConflict, ImportSummary, LegacyImportRow, LegacyLogout, LegacyRecord,
    LegacyTokenKind,
};
pub use revocation_log::{LogRead, RevocationEvent, Revoked};
pub use rotation::{Refusal, Rotation, RotationPolicy};
pub use schema::SchemaState;
pub use sessions::{NewSession, SessionRecord};

/// The database could not do what was asked. The cause is for the log; a
/// caller only learns that storage is unavailable.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The database or its driver failed.
    #[error("ledger database error")]
    Database(#[source] DbErr),
    /// A stored value does not parse; holds what was being read.
    #[error("ledger holds a record it cannot read: {0}")]
    Corrupt(&'static str),
    /// No connection could be opened. The pool reports only that it timed
    /// out (it retries a refused connection, assuming the database is
    /// starting), so `network` says what a plain TCP connection to the
    /// database's address met, when that tells more.
    #[error("cannot connect{}", network.as_ref().map(|n| format!(" ({n})")).unwrap_or_default())]
    Connect {
        /// The pool's own error.
        #[source]
        source: DbErr,
        /// What a plain TCP connection met, when it failed.
        network: Option<String>,
    },
    /// A write kept losing to concurrent writers of the same rows.
    #[error("the ledger stayed contended; the write did not finish")]
    Contended,
    /// Another process held the migration lock the whole time this one
    /// waited: its migration is slow, or it is stuck.
    #[error("another process has been migrating the ledger for over {waited:?}; check its log (a lock left by a killed process lapses within a minute)")]
    MigrationBusy {
        /// How long this process waited for the lock.
        waited: Duration,
    },
    /// The migration lock lapsed (it could not be renewed) and another
    /// process took it over; this one stopped migrating.
    #[error("lost the migration lock to another process; this one stopped migrating")]
    MigrationLockLost,
    /// A table or index the ledger would create already exists, and no
    /// inkan migration history accounts for it: another program's.
    #[error(
        "the database already holds `{name}`, which inkan did not create (no inkan migration history records it); \
         inkan owns every name starting with `inkan_`: rename or drop that one, or give inkan a database (or schema) of its own"
    )]
    ForeignTable {
        /// The table's (or index's) name.
        name: String,
    },
    /// The SQLite database file could not be created.
    #[error("cannot create the SQLite ledger file {}: {source}", path.display())]
    File {
        /// The file's path.
        path: std::path::PathBuf,
        /// Why creating it failed.
        source: std::io::Error,
    },
}

impl From<DbErr> for LedgerError {
    /// Every database error becomes a `LedgerError` here, so this is where
    /// a write refused by a read-only node is noticed, and the pool told to
    /// drop the connections that may lead there (`read_only.rs`).
    fn from(err: DbErr) -> Self {
        if read_only::is_read_only(&err) {
            read_only::seen();
        }
        LedgerError::Database(err)
    }
}

/// What a TCP connection to the database server in `url` meets, when it
/// fails: the OS's own words ("Connection refused", "No route to host").
/// `None` for SQLite, an unparsable address, or a port that answers.
async fn probe(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = match scheme {
        "postgres" | "postgresql" => 5432,
        "mysql" | "mariadb" => 3306,
        _ => return None,
    };
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let address = match host_port.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host.to_owned(), port.parse().ok()?),
        _ => (host_port.to_owned(), default_port),
    };
    let host = address.0.trim_start_matches('[').trim_end_matches(']');
    let attempt = tokio::net::TcpStream::connect((host, address.1));
    match tokio::time::timeout(Duration::from_secs(3), attempt).await {
        Ok(Ok(_)) => None,
        Ok(Err(err)) => Some(format!(
            "a TCP connection to {host}:{} failed: {err}",
            address.1
        )),
        Err(_) => Some(format!(
            "a TCP connection to {host}:{} timed out",
            address.1
        )),
    }
}

/// The database engine a ledger runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// SQLite: a file, or memory.
    Sqlite,
    /// PostgreSQL (and engines that speak its protocol).
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
            Engine::MySql => "mysql",
        })
    }
}

/// A handle on the ledger; cheap to clone (it holds a connection pool).
#[derive(Clone, Debug)]
pub struct Ledger {
    db: DatabaseConnection,
    /// The database's URL, for the connection migrations run on; `None`
    /// for SQLite, which migrates on its one connection.
    url: Option<Arc<SecretString>>,
    /// The writer task sessions and spends go through on SQLite and
    /// PostgreSQL, so that concurrent calls share a commit; `None` on
    /// MySQL/MariaDB.
    writer: Option<group_commit::GroupCommit>,
    /// Where call latencies go; `None` outside a server (the CLI, tests
    /// that open a ledger directly).
    metrics: Option<Arc<Metrics>>,
}

impl Ledger {
    /// Connects to the database at `url` (`sqlite://file.db?mode=rwc`,
    /// `postgres://...`, `mysql://...`). A SQLite file it creates is readable
    /// by its owner only.
    pub async fn connect(url: &str) -> Result<Self, LedgerError> {
        Self::open(url, bounds::Connect::Now).await
    }

    /// [`Ledger::connect`] without connecting to a database server yet:
    /// only a malformed URL (or an unusable SQLite file) fails here, and the
    /// first call connects. For `serve`, which waits for its database
    /// instead of exiting.
    pub async fn connect_lazily(url: &str) -> Result<Self, LedgerError> {
        Self::open(url, bounds::Connect::Lazily).await
    }

    async fn open(url: &str, connect: bounds::Connect) -> Result<Self, LedgerError> {
        let opened = match bounds::open_with(url, bounds::Purpose::Serving, connect).await {
            // The writer's pool connects on the first Issue or Refresh: a
            // command that never writes through it (`check`, `migrate`, the
            // `ledger` commands) opens no connection for it.
            Ok(db) if db.get_database_backend() == DbBackend::Postgres => {
                bounds::open_with(url, bounds::Purpose::Writing, bounds::Connect::Lazily)
                    .await
                    .map(|writer| (db, Some(writer.get_postgres_connection_pool().clone())))
            }
            other => other.map(|db| (db, None)),
        };
        match opened {
            Ok((db, postgres_writer)) => Ok(Self {
                writer: matches!(
                    db.get_database_backend(),
                    DbBackend::Sqlite | DbBackend::Postgres
                )
                .then(|| group_commit::GroupCommit::start(db.clone(), postgres_writer)),
                db,
                url: (!url.starts_with("sqlite:")).then(|| Arc::new(SecretString::from(url))),
                metrics: None,
            }),
            Err(LedgerError::Connect { source, .. }) => Err(LedgerError::Connect {
                network: probe(url).await,
                source,
            }),
            Err(other) => Err(other),
        }
    }

    /// Resolves if the writer that Issue and Refresh go through has ended
    /// (it must not, while the ledger serves); never, on an engine that
    /// writes each call in its own transaction.
    pub async fn writer_ended(&self) {
        match &self.writer {
            Some(writer) => writer.ended().await,
            None => std::future::pending().await,
        }
    }

    /// This ledger, recording the latency of its main calls in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Runs `operation`, recording how long it took (retries included:
    /// that is what the caller waited) as `call`.
    async fn timed<T>(&self, call: LedgerCall, operation: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let outcome = operation.await;
        if let Some(metrics) = &self.metrics {
            metrics.ledger().call(call, started.elapsed());
        }
        outcome
    }

    /// The connection pool's state, cheap enough for every scrape: sqlx
    /// keeps both numbers as atomics.
    pub fn pool_state(&self) -> PoolState {
        let (size, idle) = match self.db.get_database_backend() {
            DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            DbBackend::MySql => {
                let pool = self.db.get_mysql_connection_pool();
                (pool.size(), pool.num_idle())
            }
            DbBackend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        PoolState {
            idle,
            in_use: size.saturating_sub(idle),
        }
    }

    /// What a plain TCP connection to the database server meets, when it
    /// fails ("Connection refused"): the pool itself only reports that it
    /// timed out. `None` for SQLite or a port that answers. Never holds
    /// the URL's credentials.
    pub async fn network_failure(&self) -> Option<String> {
        match &self.url {
            Some(url) => probe(url.expose_secret()).await,
            None => None,
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), LedgerError> {
        self.db.ping().await?;
        Ok(())
    }

    /// Which database engine this ledger runs on.
    pub fn engine(&self) -> Engine {
        match self.backend() {
            DbBackend::Sqlite => Engine::Sqlite,
            DbBackend::Postgres => Engine::Postgres,
            DbBackend::MySql => Engine::MySql,
        }
    }

    /// SeaORM's name for the engine, for the statements built here.
    pub(crate) fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// The underlying connection, for tests that inspect raw rows.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }
}
