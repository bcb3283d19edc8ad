//! The ledger's schema, as SeaORM migrations. Run with `inkan migrate`, and
//! at start-up in dev mode. A migration never imports the server's entities:
//! it describes the schema as it was on its day.
//!
//! Keys are random (UUIDs, token hashes), never sequences, and the SQL is
//! plain enough for SQLite, PostgreSQL, MySQL/MariaDB and the distributed
//! PostgreSQL-compatible engines.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_ledger;
mod m20261128_000001_index_sealed_refresh_tokens;
mod m20261129_000001_revocation_events;
mod m20261201_000001_legacy_refresh_tokens;

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
        ]
    }
}
