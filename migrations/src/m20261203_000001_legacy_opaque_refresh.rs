//! A former system's refresh tokens that are not JWTs: many PHP apps keep
//! random strings (`bin2hex(random_bytes(32))`) in a table. Such a token
//! proves nothing by itself, so its imported row is the authority for whom
//! it belongs to and when it ends, and may also say its client and device.
//!
//! `kind` says which a row is (`jwt` for every row imported before this
//! migration, the only kind then); `legacy_key` names the legacy key whose
//! sunset and session grant an opaque token is exchanged under; `client_id`
//! and `device` are what the export said of the login, if anything.

use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, DatabaseBackend, Statement},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LegacyRefreshTokens {
    Kind,
    LegacyKey,
    ClientId,
    Device,
}

/// The table's name as the ledger it runs on has it: the prefixed one that
/// the earlier migrations now create (and that a ledger made before the
/// prefix is renamed to before pending migrations run), else the name it
/// was first created with.
async fn table(manager: &SchemaManager<'_>) -> Result<Alias, DbErr> {
    let db = manager.get_connection();
    let backend = db.get_database_backend();
    // Read from the catalogue: a failed SELECT would abort PostgreSQL's
    // migration transaction.
    let sql = match backend {
        DatabaseBackend::Postgres => {
            "SELECT 1 AS found FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relname = $1"
        }
        DatabaseBackend::MySql => {
            "SELECT 1 AS found FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = ?"
        }
        DatabaseBackend::Sqlite => {
            "SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = ?"
        }
    };
    for name in ["inkan_legacy_refresh_tokens", "legacy_refresh_tokens"] {
        let found = db
            .query_one(Statement::from_sql_and_values(backend, sql, [name.into()]))
            .await?;
        if found.is_some() {
            return Ok(Alias::new(name));
        }
    }
    Err(DbErr::Migration(
        "the legacy refresh-token table is missing: run the earlier migrations first".into(),
    ))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = table(manager).await?;
        // One column per statement: SQLite adds only one at a time.
        let columns = [
            ColumnDef::new(LegacyRefreshTokens::Kind)
                .string_len(8)
                .not_null()
                .default("jwt")
                .to_owned(),
            ColumnDef::new(LegacyRefreshTokens::LegacyKey)
                .string_len(64)
                .null()
                .to_owned(),
            ColumnDef::new(LegacyRefreshTokens::ClientId)
                .string_len(128)
                .null()
                .to_owned(),
            ColumnDef::new(LegacyRefreshTokens::Device)
                .string_len(512)
                .null()
                .to_owned(),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(table.clone())
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = table(manager).await?;
        for column in [
            LegacyRefreshTokens::Device,
            LegacyRefreshTokens::ClientId,
            LegacyRefreshTokens::LegacyKey,
            LegacyRefreshTokens::Kind,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table.clone())
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
