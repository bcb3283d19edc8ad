//! Sealed successors move to a table of their own, `inkan_refresh_seals`,
//! so that spending a refresh token writes no index.
//!
//! A seal (the successor of a spent token, encrypted under that token, for
//! a client's retry within the grace window) lived in
//! `inkan_refresh_tokens.successor_seal`, found by the sweep through a
//! partial index on `used_at` of sealed rows. The spend sets `used_at` and
//! the seal and the next spend clears the seal: both change a column of
//! that index, so on PostgreSQL neither could be a HOT update, and each
//! wrote a new entry into every index of the table, ten entries per
//! refresh in all. Here:
//!
//! - a seal is a row of `inkan_refresh_seals` (the spent token's hash, when
//!   it was sealed, the seal), inserted by the spend and deleted when the
//!   successor is spent or the grace window is over: a table of at most
//!   one row per session in its grace window, indexed on `sealed_at` for
//!   the sweep;
//! - the seals present are copied there, then the old index and column are
//!   dropped: the spend now sets only `used_at` and `successor_hash`, which
//!   no index holds;
//! - on PostgreSQL `inkan_refresh_tokens` leaves a fifth of each page free
//!   (`fillfactor = 80`), so that the spend's new row version finds room on
//!   its page and is HOT (it applies to pages filled from now on).
//!
//! Servers of the release before write the dropped column: replace them
//! straight after this migration, as for any migration that changes what
//! a running server writes.

use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, DatabaseBackend},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TOKENS: &str = "inkan_refresh_tokens";
const SEALS: &str = "inkan_refresh_seals";
const SEALED_AT_INDEX: &str = "inkan_idx_refresh_seals_sealed_at";
/// The index the sweep read before (migration m20261128_000001).
const OLD_INDEX: &str = "inkan_idx_refresh_tokens_sealed";

#[derive(DeriveIden)]
enum RefreshSeals {
    #[sea_orm(iden = "inkan_refresh_seals")]
    Table,
    TokenHash,
    SealedAt,
    Seal,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    #[sea_orm(iden = "inkan_refresh_tokens")]
    Table,
    UsedAt,
    SuccessorSeal,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        manager
            .create_table(
                Table::create()
                    .table(RefreshSeals::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(RefreshSeals::TokenHash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(RefreshSeals::SealedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(RefreshSeals::Seal).string_len(64).not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(SEALED_AT_INDEX)
                    .table(RefreshSeals::Table)
                    .col(RefreshSeals::SealedAt)
                    .to_owned(),
            )
            .await?;
        db.execute_unprepared(&format!(
            "INSERT INTO {SEALS} (token_hash, sealed_at, seal) \
             SELECT token_hash, used_at, successor_seal FROM {TOKENS} \
             WHERE successor_seal IS NOT NULL AND used_at IS NOT NULL"
        ))
        .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(OLD_INDEX)
                    .table(RefreshTokens::Table)
                    .to_owned(),
            )
            .await?;
        db.execute_unprepared(&format!("ALTER TABLE {TOKENS} DROP COLUMN successor_seal"))
            .await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared(&format!("ALTER TABLE {TOKENS} SET (fillfactor = 80)"))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        if backend == DatabaseBackend::Postgres {
            db.execute_unprepared(&format!("ALTER TABLE {TOKENS} RESET (fillfactor)"))
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .add_column(
                        ColumnDef::new(RefreshTokens::SuccessorSeal)
                            .string_len(64)
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        db.execute_unprepared(&format!(
            "UPDATE {TOKENS} SET successor_seal = \
             (SELECT seal FROM {SEALS} WHERE {SEALS}.token_hash = {TOKENS}.token_hash) \
             WHERE token_hash IN (SELECT token_hash FROM {SEALS})"
        ))
        .await?;
        let mut index = Index::create();
        index.name(OLD_INDEX).table(RefreshTokens::Table);
        if backend == DatabaseBackend::MySql {
            index
                .col(RefreshTokens::SuccessorSeal)
                .col(RefreshTokens::UsedAt);
        } else {
            index
                .col(RefreshTokens::UsedAt)
                .and_where(Expr::col(RefreshTokens::SuccessorSeal).is_not_null());
        }
        manager.create_index(index.to_owned()).await?;
        manager
            .drop_table(Table::drop().table(RefreshSeals::Table).to_owned())
            .await
    }
}
