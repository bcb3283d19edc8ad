//! Migrating with any number of replicas starting at once. Without a lock,
//! two migrators race on the same DDL and the loser exits with a database
//! error ("duplicate key value violates unique constraint
//! pg_type_typname_nsp_index", "Duplicate key name"), so a rollout that
//! starts replicas together fails at random.
//!
//! The lock is a row in a small table of its own, not an advisory lock
//! (which the distributed PostgreSQL-compatible engines lack, and which
//! MySQL and SQLite spell differently or not at all): one INSERT of the one
//! primary key can win. The row names its owner and expires by the
//! database's clock, renewed while the migration runs, so a migrator killed
//! mid-way holds the others up for at most [`LOCK_TTL_SECS`]. The others
//! poll, and stop waiting as soon as the schema is current.

use std::time::{Duration, Instant};

use sea_orm::{
    sea_query::{Alias, ColumnDef, Expr, Query, Table},
    ConnectionTrait, DbErr, SqlErr,
};
use secrecy::ExposeSecret;
use tracing::{info, instrument, warn};

use super::{
    bounds::{self, Purpose},
    db_clock::db_now,
    Ledger, LedgerError,
};

/// The lock's table; not a migration of its own, since it must exist
/// before any migration runs.
pub(super) const LOCK_TABLE: &str = "inkan_migration_lock";
/// The one lock the table holds.
const LOCK_NAME: &str = "schema";
/// How long a lock lasts unless renewed, in seconds.
const LOCK_TTL_SECS: i64 = 60;
/// How often the holder renews it: several times per lifetime, so a slow
/// renewal or two never lets it lapse.
const LOCK_RENEW: Duration = Duration::from_secs(15);
/// How often a waiting process looks again.
const WAIT_POLL: Duration = Duration::from_millis(250);
/// How long a process waits for another's migration before giving up: past
/// the lock's lifetime, so a dead holder's lock lapses well before.
pub(super) const MIGRATION_WAIT: Duration = Duration::from_secs(180);

fn table() -> Alias {
    Alias::new(LOCK_TABLE)
}

fn col(name: &str) -> Alias {
    Alias::new(name)
}

impl Ledger {
    /// Brings the schema up to date; safe to run from any number of
    /// processes at once. One migrates while the others wait for it (at
    /// most [`MIGRATION_WAIT`]) or find the schema already current.
    #[instrument(skip_all)]
    pub async fn migrate(&self) -> Result<(), LedgerError> {
        if self.schema_state().await?.is_current() {
            return Ok(());
        }
        // Before creating anything, the lock's table included: a refused
        // database is left as it was found.
        self.refuse_foreign_names().await?;
        self.create_lock_table().await?;
        let owner = uuid::Uuid::new_v4().to_string();
        let started = Instant::now();
        let mut announced = false;
        loop {
            if self.try_lock(&owner).await? {
                let outcome = self.migrate_holding_lock(&owner).await;
                // An unreleased lock lapses by itself; say so, do not fail.
                if let Err(err) = self.unlock(&owner).await {
                    warn!(error = ?err, "cannot release the migration lock; it lapses within {LOCK_TTL_SECS} s");
                }
                return outcome;
            }
            if self.schema_state().await?.is_current() {
                info!("another process migrated the ledger");
                return Ok(());
            }
            if !announced {
                info!("another process is migrating the ledger; waiting for it");
                announced = true;
            }
            if started.elapsed() >= MIGRATION_WAIT {
                return Err(LedgerError::MigrationBusy {
                    waited: MIGRATION_WAIT,
                });
            }
            tokio::time::sleep(WAIT_POLL).await;
        }
    }

    async fn migrate_holding_lock(&self, owner: &str) -> Result<(), LedgerError> {
        use inkan_migrations::{Migrator, MigratorTrait};

        // The last holder may have finished just before this one took over.
        if self.schema_state().await?.is_current() {
            return Ok(());
        }
        self.refuse_foreign_names().await?;
        info!("migrating the ledger");
        // Migrations run on a connection of their own without statement
        // timeouts; SQLite has none to lift, and an in-memory database
        // exists on its one connection only.
        let dedicated = match &self.url {
            Some(url) => Some(bounds::open(url.expose_secret(), Purpose::Migrating).await?),
            None => None,
        };
        let conn = dedicated.as_ref().unwrap_or(&self.db);
        let migration = async {
            // A ledger from before the `inkan_` prefix takes its new names
            // first: the pending migrations use them.
            if inkan_migrations::adopt_unprefixed_ledger(conn).await? {
                info!("renamed the ledger's tables to their inkan_ names");
            }
            Migrator::up(conn, None).await
        };
        let renewal = async {
            loop {
                tokio::time::sleep(LOCK_RENEW).await;
                match self.renew_lock(owner).await {
                    Ok(true) => {}
                    // Another process took the lock over after it lapsed:
                    // two migrators must never run at once.
                    Ok(false) => return LedgerError::MigrationLockLost,
                    Err(err) => warn!(error = ?err, "cannot renew the migration lock; will retry"),
                }
            }
        };
        let outcome = tokio::select! {
            done = migration => done.map_err(LedgerError::from),
            lost = renewal => Err(lost),
        };
        if let Some(conn) = dedicated {
            let _ = conn.close().await;
        }
        outcome?;
        info!("ledger migrated");
        Ok(())
    }

    async fn create_lock_table(&self) -> Result<(), LedgerError> {
        let create = Table::create()
            .table(table())
            .if_not_exists()
            .col(
                ColumnDef::new(col("name"))
                    .string_len(64)
                    .not_null()
                    .primary_key(),
            )
            .col(ColumnDef::new(col("owner")).string_len(64).not_null())
            .col(ColumnDef::new(col("expires_at")).big_integer().not_null())
            .to_owned();
        let statement = self.backend().build(&create);
        // PostgreSQL's IF NOT EXISTS is not atomic: of two processes
        // creating the table at once, one may fail on the catalog's unique
        // index. Once the other has committed, a second try finds the table.
        match self.db.execute(statement.clone()).await {
            Ok(_) => Ok(()),
            Err(_) => {
                tokio::time::sleep(WAIT_POLL).await;
                self.db.execute(statement).await?;
                Ok(())
            }
        }
    }

    /// Takes the lock if it is free or lapsed; `false` if another holds it.
    async fn try_lock(&self, owner: &str) -> Result<bool, LedgerError> {
        let backend = self.backend();
        let lapsed = Query::delete()
            .from_table(table())
            .and_where(Expr::col(col("name")).eq(LOCK_NAME))
            .and_where(Expr::col(col("expires_at")).lt(db_now(backend)))
            .to_owned();
        if self
            .db
            .execute(backend.build(&lapsed))
            .await?
            .rows_affected()
            > 0
        {
            warn!("a migration lock lapsed (its holder stopped without releasing it); taking over");
        }
        let insert = Query::insert()
            .into_table(table())
            .columns([col("name"), col("owner"), col("expires_at")])
            .values([
                Expr::value(LOCK_NAME),
                Expr::value(owner),
                db_now(backend).add(LOCK_TTL_SECS),
            ])
            .map_err(|e| DbErr::Custom(e.to_string()))?
            .to_owned();
        match self.db.execute(backend.build(&insert)).await {
            Ok(_) => Ok(true),
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Ok(false)
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Extends the lock; `false` if this process no longer holds it.
    async fn renew_lock(&self, owner: &str) -> Result<bool, LedgerError> {
        let backend = self.backend();
        let renew = Query::update()
            .table(table())
            .value(col("expires_at"), db_now(backend).add(LOCK_TTL_SECS))
            .and_where(Expr::col(col("name")).eq(LOCK_NAME))
            .and_where(Expr::col(col("owner")).eq(owner))
            .to_owned();
        Ok(self
            .db
            .execute(backend.build(&renew))
            .await?
            .rows_affected()
            == 1)
    }

    async fn unlock(&self, owner: &str) -> Result<(), LedgerError> {
        let backend = self.backend();
        let release = Query::delete()
            .from_table(table())
            .and_where(Expr::col(col("name")).eq(LOCK_NAME))
            .and_where(Expr::col(col("owner")).eq(owner))
            .to_owned();
        self.db.execute(backend.build(&release)).await?;
        Ok(())
    }
}
