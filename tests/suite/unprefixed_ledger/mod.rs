//! The ledger's migrations as they were before its names took the `inkan_`
//! prefix, copied verbatim, with their history in SeaORM's default
//! `seaql_migrations`: a test builds a ledger of that layout with them, as
//! an inkan of that day did, and upgrades it.

use sea_orm_migration::{MigrationTrait, MigratorTrait};

// Verbatim: their `pub` items reach no further than this module.
#[allow(unreachable_pub)]
mod m20261127_000001_create_ledger;
#[allow(unreachable_pub)]
mod m20261128_000001_index_sealed_refresh_tokens;
#[allow(unreachable_pub)]
mod m20261129_000001_revocation_events;
#[allow(unreachable_pub)]
mod m20261201_000001_legacy_refresh_tokens;

/// Every migration of that day, oldest first.
pub(crate) struct UnprefixedMigrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for UnprefixedMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_ledger::Migration),
            Box::new(m20261128_000001_index_sealed_refresh_tokens::Migration),
            Box::new(m20261129_000001_revocation_events::Migration),
            Box::new(m20261201_000001_legacy_refresh_tokens::Migration),
        ]
    }
}
