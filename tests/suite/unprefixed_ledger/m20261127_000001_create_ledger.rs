//! Sessions (one per login) and the refresh tokens that chain through them.
//! Times are Unix seconds in BIGINT columns: the same type, and the same
//! comparison, on every backend, with no 2038 limit.

use sea_orm_migration::{prelude::*, sea_orm::DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    Subject,
    ClientId,
    Device,
    Audience,
    Scope,
    Claims,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    RevokedAt,
    RevokeReason,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    TokenHash,
    SessionId,
    ParentHash,
    Generation,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    SuccessorHash,
    SuccessorSeal,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // MySQL/MariaDB compare text case- and accent-insensitively by
        // default, and may default to latin1: pin exact, binary comparison
        // and full Unicode, as the other backends have.
        let text_rules = |table: &mut TableCreateStatement| {
            if manager.get_database_backend() == DatabaseBackend::MySql {
                table.character_set("utf8mb4").collate("utf8mb4_bin");
            }
            table.to_owned()
        };
        manager
            .create_table(text_rules(
                &mut Table::create()
                    .table(Sessions::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Sessions::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Sessions::Subject).string_len(255).not_null())
                    .col(
                        ColumnDef::new(Sessions::ClientId)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Sessions::Device).string_len(512).not_null())
                    // What every access token of the session carries: the
                    // audience as a JSON array, the space-separated scopes,
                    // and the custom claims as a JSON object.
                    .col(ColumnDef::new(Sessions::Audience).text().not_null())
                    .col(ColumnDef::new(Sessions::Scope).text().not_null())
                    .col(ColumnDef::new(Sessions::Claims).text().not_null())
                    .col(ColumnDef::new(Sessions::CreatedAt).big_integer().not_null())
                    .col(
                        ColumnDef::new(Sessions::LastUsedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Sessions::ExpiresAt).big_integer().not_null())
                    .col(ColumnDef::new(Sessions::RevokedAt).big_integer().null())
                    .col(
                        ColumnDef::new(Sessions::RevokeReason)
                            .string_len(255)
                            .null(),
                    )
                    .to_owned(),
            ))
            .await?;
        for (name, column) in [
            ("idx_sessions_subject", Sessions::Subject),
            ("idx_sessions_revoked_at", Sessions::RevokedAt),
            ("idx_sessions_expires_at", Sessions::ExpiresAt),
        ] {
            manager
                .create_index(
                    Index::create()
                        .if_not_exists()
                        .name(name)
                        .table(Sessions::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(text_rules(
                &mut Table::create()
                    .table(RefreshTokens::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(RefreshTokens::TokenHash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(RefreshTokens::SessionId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RefreshTokens::ParentHash)
                            .string_len(64)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(RefreshTokens::Generation)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RefreshTokens::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RefreshTokens::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(RefreshTokens::UsedAt).big_integer().null())
                    .col(
                        ColumnDef::new(RefreshTokens::SuccessorHash)
                            .string_len(64)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(RefreshTokens::SuccessorSeal)
                            .string_len(64)
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_refresh_tokens_session")
                            .from(RefreshTokens::Table, RefreshTokens::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            ))
            .await?;
        for (name, column) in [
            ("idx_refresh_tokens_session_id", RefreshTokens::SessionId),
            ("idx_refresh_tokens_expires_at", RefreshTokens::ExpiresAt),
        ] {
            manager
                .create_index(
                    Index::create()
                        .if_not_exists()
                        .name(name)
                        .table(RefreshTokens::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RefreshTokens::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Sessions::Table).to_owned())
            .await
    }
}
