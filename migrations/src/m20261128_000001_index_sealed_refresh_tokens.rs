//! An index on the few refresh tokens that still hold a sealed successor,
//! so the sweep that clears seals past their grace window reads only those,
//! however many spent tokens the table holds.
//!
//! PostgreSQL and SQLite index `used_at` of sealed rows only (a partial
//! index). MySQL/MariaDB have no partial indexes: there the index leads with
//! the seal, so `successor_seal IS NOT NULL` is a range over the few
//! non-null entries, with `used_at` read from the index itself.

use sea_orm_migration::{prelude::*, sea_orm::DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RefreshTokens {
    #[sea_orm(iden = "inkan_refresh_tokens")]
    Table,
    UsedAt,
    SuccessorSeal,
}

const INDEX: &str = "inkan_idx_refresh_tokens_sealed";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut index = Index::create();
        index
            .if_not_exists()
            .name(INDEX)
            .table(RefreshTokens::Table);
        if manager.get_database_backend() == DatabaseBackend::MySql {
            index
                .col(RefreshTokens::SuccessorSeal)
                .col(RefreshTokens::UsedAt);
        } else {
            index
                .col(RefreshTokens::UsedAt)
                .and_where(Expr::col(RefreshTokens::SuccessorSeal).is_not_null());
        }
        manager.create_index(index.to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(RefreshTokens::Table)
                    .to_owned(),
            )
            .await
    }
}
