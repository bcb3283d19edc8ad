//! The ledger: the authority on sessions and refresh tokens.
//!
//! SeaORM over SQLite (a local file), PostgreSQL or MySQL/MariaDB. The ledger
//! stores refresh tokens only as hashes, spends each one exactly once with a
//! compare-and-set (so of any number of concurrent refreshes, across any
//! number of replicas, one wins), and treats any other replay as theft.
//! A spent token keeps its sealed successor only for the grace window.
//! It reports database faults as [`LedgerError`], never as token failures.

mod db_clock;
pub mod entity;
mod rotation;
mod seals;
mod sessions;
mod sqlite_file;

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};

pub use rotation::{Refusal, Rotation, RotationPolicy};
pub use sessions::{NewSession, RevokedSession, SessionRecord};

/// The database could not do what was asked. The cause is for the log; a
/// caller only learns that storage is unavailable.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger database error")]
    Database(#[from] DbErr),
    #[error("ledger holds a record it cannot read: {0}")]
    Corrupt(&'static str),
    #[error("cannot create the SQLite ledger file {}: {source}", path.display())]
    File {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// A handle on the ledger; cheap to clone (it holds a connection pool).
#[derive(Clone, Debug)]
pub struct Ledger {
    db: DatabaseConnection,
}

impl Ledger {
    /// Connects to the database at `url` (`sqlite://file.db?mode=rwc`,
    /// `postgres://...`, `mysql://...`). A SQLite file it creates is readable
    /// by its owner only.
    pub async fn connect(url: &str) -> Result<Self, LedgerError> {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(5))
            // Statements are logged by inkan's own spans, without values.
            .sqlx_logging(false);
        if url.starts_with("sqlite:") {
            sqlite_file::create_owner_only(url)?;
            // SQLite has one writer at a time; one connection makes that
            // explicit and keeps concurrent rotations from failing with
            // "database is locked" instead of waiting their turn.
            options.max_connections(1);
        }
        Ok(Self {
            db: Database::connect(options).await?,
        })
    }

    /// Brings the schema up to date.
    pub async fn migrate(&self) -> Result<(), LedgerError> {
        use inkan_migrations::{Migrator, MigratorTrait};
        Migrator::up(&self.db, None).await?;
        Ok(())
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), LedgerError> {
        self.db.ping().await?;
        Ok(())
    }

    /// Which database engine this ledger runs on.
    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// The underlying connection, for tests that inspect raw rows.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }
}
