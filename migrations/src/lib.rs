//! The ledger's schema, as SeaORM migrations. Run with `inkan migrate`, and
//! at start-up in dev mode. A migration never imports the server's entities:
//! it describes the schema as it was on its day.
//!
//! Keys are random (UUIDs, token hashes), never sequences, and the SQL is
//! plain enough for SQLite, PostgreSQL, MySQL/MariaDB and the distributed
//! PostgreSQL-compatible engines.
//!
//! Every table, index and constraint is named `inkan_*`, the migrations'
//! own history included (`inkan_migrations`), so the ledger can live in an
//! application's database without touching its tables. The migrations
//! written before that rule create the prefixed names too (their schema as
//! it was, under today's names); a ledger they made unprefixed is renamed
//! in place by [`adopt_unprefixed_ledger`] (`m20261203_000002_table_prefix`).

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_ledger;
mod m20261128_000001_index_sealed_refresh_tokens;
mod m20261129_000001_revocation_events;
mod m20261201_000001_legacy_refresh_tokens;
mod m20261203_000001_legacy_opaque_refresh;
mod m20261203_000002_table_prefix;
mod m20261203_000003_lean_write_path;
mod m20261203_000004_refresh_seals;

pub use m20261203_000002_table_prefix::{adopt_unprefixed_ledger, unprefixed_tables, PREFIX};

/// Where the migrator records the migrations applied.
pub const MIGRATIONS_TABLE: &str = "inkan_migrations";
/// Where it recorded them before the `inkan_` prefix (SeaORM's default).
pub const LEGACY_MIGRATIONS_TABLE: &str = "seaql_migrations";

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_ledger::Migration),
            Box::new(m20261128_000001_index_sealed_refresh_tokens::Migration),
            Box::new(m20261129_000001_revocation_events::Migration),
            Box::new(m20261201_000001_legacy_refresh_tokens::Migration),
            Box::new(m20261203_000001_legacy_opaque_refresh::Migration),
            Box::new(m20261203_000002_table_prefix::Migration),
            Box::new(m20261203_000003_lean_write_path::Migration),
            Box::new(m20261203_000004_refresh_seals::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        Alias::new(MIGRATIONS_TABLE).into_iden()
    }
}
