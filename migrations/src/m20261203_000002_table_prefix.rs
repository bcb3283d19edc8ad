//! Every name the ledger owns starts with `inkan_`, so that it can share a
//! database (and on PostgreSQL a schema, where index names are global too)
//! with an application that has a `sessions` table of its own.
//!
//! The earlier migrations now create the prefixed names directly. A ledger
//! made before this one holds the unprefixed names, with its history in
//! SeaORM's default `seaql_migrations`: [`adopt_unprefixed_ledger`] renames
//! its tables, indexes and foreign key, and moves its history into
//! `inkan_migrations`, before any other pending migration runs, since
//! those name the tables by their new names. Run in order, this migration
//! finds nothing left to rename.

use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait, Value},
};

use crate::{Migrator, LEGACY_MIGRATIONS_TABLE, MIGRATIONS_TABLE};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The prefix of every table, index and constraint the ledger owns.
pub const PREFIX: &str = "inkan_";

/// The tables as the earlier migrations first named them, each with the
/// indexes created on it (PostgreSQL's primary-key index included, which
/// is named after the table: `sessions_pkey` would clash with an
/// application's `sessions` created later).
const UNPREFIXED: &[(&str, &[&str])] = &[
    (
        "sessions",
        &[
            "sessions_pkey",
            "idx_sessions_subject",
            "idx_sessions_revoked_at",
            "idx_sessions_expires_at",
        ],
    ),
    (
        "refresh_tokens",
        &[
            "refresh_tokens_pkey",
            "idx_refresh_tokens_session_id",
            "idx_refresh_tokens_expires_at",
            "idx_refresh_tokens_sealed",
        ],
    ),
    (
        "subject_cut_offs",
        &["subject_cut_offs_pkey", "idx_subject_cut_offs_not_before"],
    ),
    (
        "revocation_events",
        &[
            "revocation_events_pkey",
            "idx_revocation_events_recorded_at",
        ],
    ),
    (
        "legacy_refresh_tokens",
        &[
            "legacy_refresh_tokens_pkey",
            "idx_legacy_refresh_tokens_expires_at",
        ],
    ),
];

/// The one foreign key: MySQL's constraint names are global to the database.
const FOREIGN_KEY: &str = "fk_refresh_tokens_session";

/// The unprefixed table names, for the check that refuses a clash.
pub fn unprefixed_tables() -> impl Iterator<Item = &'static str> {
    UNPREFIXED.iter().map(|(table, _)| *table)
}

fn prefixed(name: &str) -> String {
    format!("{PREFIX}{name}")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rename_unprefixed(manager.get_connection()).await
    }

    /// Nothing to undo: the earlier migrations, undone after it, drop the
    /// prefixed tables they create.
    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

/// If `db` holds an inkan ledger of the unprefixed layout (its history in
/// `seaql_migrations`), renames it to the prefixed one and moves its history
/// into `inkan_migrations`, recording this migration as applied; returns
/// whether it did. Any application rows in `seaql_migrations` stay there.
///
/// One transaction on PostgreSQL and SQLite, whose DDL is transactional; on
/// MySQL every step commits by itself, and they run in an order a rerun
/// resumes from: the renames (each skipped once done) before the history.
pub async fn adopt_unprefixed_ledger<C>(db: &C) -> Result<bool, DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let known: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let applied = unprefixed_history(db, &known).await?;
    if applied.is_empty() {
        return Ok(false);
    }
    let txn = db.begin().await?;
    rename_unprefixed(&txn).await?;
    Migrator::install(&txn).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let this = Migration.name().to_owned();
    let backend = txn.get_database_backend();
    for (version, applied_at) in applied.iter().cloned().chain(std::iter::once((this, now))) {
        let insert = Query::insert()
            .into_table(Alias::new(MIGRATIONS_TABLE))
            .columns([Alias::new("version"), Alias::new("applied_at")])
            .values([version.clone().into(), applied_at.into()])
            .map_err(|e| DbErr::Migration(e.to_string()))?
            .to_owned();
        txn.execute(backend.build(&insert)).await?;
        let forget = Query::delete()
            .from_table(Alias::new(LEGACY_MIGRATIONS_TABLE))
            .and_where(Expr::col(Alias::new("version")).eq(version))
            .to_owned();
        txn.execute(backend.build(&forget)).await?;
    }
    let left = txn
        .query_one(Statement::from_string(
            backend,
            format!("SELECT COUNT(*) AS n FROM {LEGACY_MIGRATIONS_TABLE}"),
        ))
        .await?
        .map(|row| row.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or_default();
    if left == 0 {
        let drop = Table::drop()
            .table(Alias::new(LEGACY_MIGRATIONS_TABLE))
            .to_owned();
        txn.execute(backend.build(&drop)).await?;
    }
    txn.commit().await?;
    Ok(true)
}

/// Inkan's rows of `seaql_migrations` (version, applied_at), when
/// `inkan_migrations` does not exist yet; empty otherwise.
async fn unprefixed_history<C: ConnectionTrait>(
    db: &C,
    known: &[String],
) -> Result<Vec<(String, i64)>, DbErr> {
    if exists(db, Kind::Table, MIGRATIONS_TABLE, None).await?
        || !exists(db, Kind::Table, LEGACY_MIGRATIONS_TABLE, None).await?
    {
        return Ok(Vec::new());
    }
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT version, applied_at FROM {LEGACY_MIGRATIONS_TABLE} ORDER BY version"),
        ))
        .await?;
    let mut applied = Vec::new();
    for row in rows {
        let version: String = row.try_get("", "version")?;
        if known.contains(&version) {
            applied.push((version, row.try_get("", "applied_at")?));
        }
    }
    Ok(applied)
}

/// Renames each unprefixed table, then the indexes and the foreign key of
/// the renamed tables; skips whatever is absent or already renamed, and
/// never touches a table of the unprefixed name that is not inkan's (on a
/// new ledger, where the prefixed table already exists).
async fn rename_unprefixed<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    for (table, indexes) in UNPREFIXED {
        let new_table = prefixed(table);
        if exists(db, Kind::Table, table, None).await?
            && !exists(db, Kind::Table, &new_table, None).await?
        {
            let rename = Table::rename()
                .table(Alias::new(*table), Alias::new(&new_table))
                .to_owned();
            db.execute(backend.build(&rename)).await?;
        }
        for index in *indexes {
            if exists(db, Kind::Index, index, Some(&new_table)).await? {
                rename_index(db, &new_table, index).await?;
            }
        }
    }
    let tokens = prefixed("refresh_tokens");
    if exists(db, Kind::ForeignKey, FOREIGN_KEY, Some(&tokens)).await? {
        let new = prefixed(FOREIGN_KEY);
        let sql = match backend {
            DatabaseBackend::Postgres => {
                format!("ALTER TABLE {tokens} RENAME CONSTRAINT {FOREIGN_KEY} TO {new}")
            }
            // MySQL cannot rename a foreign key: drop it and add it again.
            _ => format!(
                "ALTER TABLE {tokens} DROP FOREIGN KEY {FOREIGN_KEY}, \
                 ADD CONSTRAINT {new} FOREIGN KEY (session_id) \
                 REFERENCES {PREFIX}sessions (id) ON DELETE CASCADE"
            ),
        };
        db.execute(Statement::from_string(backend, sql)).await?;
    }
    Ok(())
}

async fn rename_index<C: ConnectionTrait>(db: &C, table: &str, index: &str) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let new = prefixed(index);
    let sql = match backend {
        DatabaseBackend::Postgres => format!("ALTER INDEX {index} RENAME TO {new}"),
        DatabaseBackend::MySql => format!("ALTER TABLE {table} RENAME INDEX {index} TO {new}"),
        // SQLite cannot rename an index: create it again, as the database
        // itself holds it (its table already renamed), under the new name.
        DatabaseBackend::Sqlite => {
            let definition = db
                .query_one(Statement::from_sql_and_values(
                    backend,
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?",
                    [index.into()],
                ))
                .await?
                .map(|row| row.try_get::<String>("", "sql"))
                .transpose()?
                .unwrap_or_default();
            let quoted = format!("\"{index}\"");
            if !definition.contains(&quoted) {
                return Err(DbErr::Migration(format!(
                    "cannot read the definition of index {index} to rename it"
                )));
            }
            db.execute(Statement::from_string(
                backend,
                format!("DROP INDEX \"{index}\""),
            ))
            .await?;
            definition.replacen(&quoted, &format!("\"{new}\""), 1)
        }
    };
    db.execute(Statement::from_string(backend, sql)).await?;
    Ok(())
}

/// What [`exists`] looks for.
#[derive(Clone, Copy)]
enum Kind {
    Table,
    Index,
    ForeignKey,
}

/// Whether the current schema (PostgreSQL), database (MySQL) or file
/// (SQLite) holds `name`; indexes and foreign keys on `table`.
async fn exists<C: ConnectionTrait>(
    db: &C,
    kind: Kind,
    name: &str,
    table: Option<&str>,
) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let table = table.unwrap_or_default();
    let (sql, values): (&str, Vec<Value>) = match (backend, kind) {
        (DatabaseBackend::Postgres, Kind::Table) => (
            "SELECT 1 AS found FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relname = $1",
            vec![name.into()],
        ),
        // An index of `table` only: an application's `sessions_pkey`, on
        // its own `sessions`, is not inkan's to rename.
        (DatabaseBackend::Postgres, Kind::Index) => (
            "SELECT 1 AS found FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
             JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
             WHERE n.nspname = current_schema() AND t.relname = $1 AND i.relname = $2",
            vec![table.into(), name.into()],
        ),
        (DatabaseBackend::Postgres, Kind::ForeignKey) => (
            "SELECT 1 AS found FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             WHERE n.nspname = current_schema() AND t.relname = $1 AND c.conname = $2",
            vec![table.into(), name.into()],
        ),
        (DatabaseBackend::MySql, Kind::Table) => (
            "SELECT 1 AS found FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = ?",
            vec![name.into()],
        ),
        (DatabaseBackend::MySql, Kind::Index) => (
            "SELECT 1 AS found FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ?",
            vec![table.into(), name.into()],
        ),
        (DatabaseBackend::MySql, Kind::ForeignKey) => (
            "SELECT 1 AS found FROM information_schema.table_constraints \
             WHERE constraint_schema = DATABASE() AND table_name = ? \
             AND constraint_name = ? AND constraint_type = 'FOREIGN KEY'",
            vec![table.into(), name.into()],
        ),
        (DatabaseBackend::Sqlite, Kind::Table) => (
            "SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = ?",
            vec![name.into()],
        ),
        (DatabaseBackend::Sqlite, Kind::Index) => (
            "SELECT 1 AS found FROM sqlite_master \
             WHERE type = 'index' AND tbl_name = ? AND name = ?",
            vec![table.into(), name.into()],
        ),
        // SQLite's constraint names are not global, and cannot change.
        (DatabaseBackend::Sqlite, Kind::ForeignKey) => return Ok(false),
    };
    let found = db
        .query_one(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(found.is_some())
}
