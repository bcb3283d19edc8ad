//! The former system's refresh tokens, imported by `inkan legacy
//! import-refresh-tokens`: only their SHA-256, whom they belong to and when
//! they expire. Refresh exchanges each once (`used_at`, set by one
//! compare-and-set) for an inkan session (`session_id`), which a replay of
//! the spent token revokes. Kept apart from `inkan_refresh_tokens`: these belong
//! to no session until exchanged, and are tagged legacy by their table.

use sea_orm_migration::{prelude::*, sea_orm::DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LegacyRefreshTokens {
    #[sea_orm(iden = "inkan_legacy_refresh_tokens")]
    Table,
    TokenHash,
    Subject,
    ExpiresAt,
    ImportedAt,
    UsedAt,
    SessionId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut table = Table::create();
        table
            .table(LegacyRefreshTokens::Table)
            .if_not_exists()
            // SHA-256 of the token as the former system issued it, lowercase
            // hex: the token itself is never stored.
            .col(
                ColumnDef::new(LegacyRefreshTokens::TokenHash)
                    .string_len(64)
                    .not_null()
                    .primary_key(),
            )
            .col(
                ColumnDef::new(LegacyRefreshTokens::Subject)
                    .string_len(255)
                    .not_null(),
            )
            .col(
                ColumnDef::new(LegacyRefreshTokens::ExpiresAt)
                    .big_integer()
                    .not_null(),
            )
            .col(
                ColumnDef::new(LegacyRefreshTokens::ImportedAt)
                    .big_integer()
                    .not_null(),
            )
            .col(
                ColumnDef::new(LegacyRefreshTokens::UsedAt)
                    .big_integer()
                    .null(),
            )
            // The inkan session the exchange opened; no foreign key, so the
            // purge of that session leaves the spent record (and its reuse
            // detection) in place until the token itself expires.
            .col(
                ColumnDef::new(LegacyRefreshTokens::SessionId)
                    .string_len(36)
                    .null(),
            );
        // As in the first migration: exact, binary text comparison and full
        // Unicode on MySQL/MariaDB.
        if manager.get_database_backend() == DatabaseBackend::MySql {
            table.character_set("utf8mb4").collate("utf8mb4_bin");
        }
        manager.create_table(table.to_owned()).await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("inkan_idx_legacy_refresh_tokens_expires_at")
                    .table(LegacyRefreshTokens::Table)
                    .col(LegacyRefreshTokens::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LegacyRefreshTokens::Table).to_owned())
            .await
    }
}
