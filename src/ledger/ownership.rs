//! Whether the `inkan_` names in the database are inkan's. The ledger may
//! share a database with an application; before creating anything,
//! `migrate` refuses a table or index it would create that already exists
//! and that no inkan migration history accounts for, naming it, so that a
//! clash never ends in a half-made ledger or in a foreign table taken over
//! (the migrations create tables only if they do not exist, which makes a
//! first migration cut short on MySQL resumable).

use inkan_migrations::{unprefixed_tables, MIGRATIONS_TABLE, PREFIX};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::{migration_lock::LOCK_TABLE, Ledger, LedgerError};

impl Ledger {
    /// Refuses, naming it, an `inkan_` table or index that inkan did not
    /// make. With `inkan_migrations` present the names are inkan's; in a
    /// ledger of the unprefixed layout only the renamed tables (on MySQL,
    /// a rename cut short) may exist already; in any other database, none.
    pub(super) async fn refuse_foreign_names(&self) -> Result<(), LedgerError> {
        use inkan_migrations::{Migrator, MigratorTrait};

        let all = self.names().await?;
        if all.iter().any(|name| name == MIGRATIONS_TABLE) {
            return Ok(());
        }
        let known: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        let renaming = !self.unprefixed_history(&known).await.is_empty();
        let foreign = all
            .iter()
            .filter(|name| name.starts_with(PREFIX))
            .find(|name| {
                // The lock's table, and on PostgreSQL its primary key's index.
                if name.starts_with(LOCK_TABLE) {
                    return false;
                }
                // A table already renamed from its unprefixed name, which is
                // gone: a rename cut short, resumed by this run.
                let resumed = unprefixed_tables().any(|table| {
                    name.strip_prefix(PREFIX) == Some(table) && !all.iter().any(|n| n == table)
                });
                !(renaming && resumed)
            });
        match foreign {
            Some(name) => Err(LedgerError::ForeignTable { name: name.clone() }),
            None => Ok(()),
        }
    }

    /// The names of the current schema's tables, views and indexes
    /// (PostgreSQL, SQLite) or the database's tables and views (MySQL,
    /// whose index names are per table).
    async fn names(&self) -> Result<Vec<String>, LedgerError> {
        let sql = match self.backend() {
            DbBackend::Postgres => {
                "SELECT c.relname AS name FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema()"
            }
            DbBackend::MySql => {
                "SELECT table_name AS name FROM information_schema.tables \
                 WHERE table_schema = DATABASE()"
            }
            DbBackend::Sqlite => "SELECT name FROM sqlite_master",
        };
        let rows = self
            .db
            .query_all(Statement::from_string(self.backend(), sql))
            .await?;
        Ok(rows
            .iter()
            .map(|row| row.try_get::<String>("", "name"))
            .collect::<Result<_, _>>()?)
    }
}
