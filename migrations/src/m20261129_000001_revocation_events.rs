//! Revocations as an event log, and per-subject cut-offs.
//!
//! `inkan_subject_cut_offs` holds, per subject, the time before which its tokens
//! are refused (the latest `Revoke` by subject wins). `inkan_revocation_events`
//! records every revocation (a session ended, a subject cut off) with a
//! random id and the database's clock at insertion (`recorded_at`), so a
//! replica, or a `WatchRevocations` stream, can read what is new since a
//! point by one clock every replica shares. The log is purged once its
//! entries can no longer matter.
//!
//! Sessions revoked in the two days before this migration are copied into
//! the log, so replicas that read revocations from it at start-up still
//! refuse their tokens.

use sea_orm_migration::{
    prelude::*,
    sea_orm::{DatabaseBackend, Statement},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SubjectCutOffs {
    #[sea_orm(iden = "inkan_subject_cut_offs")]
    Table,
    Subject,
    NotBefore,
}

#[derive(DeriveIden)]
enum RevocationEvents {
    #[sea_orm(iden = "inkan_revocation_events")]
    Table,
    Id,
    Kind,
    Target,
    At,
    RecordedAt,
}

/// How far back revoked sessions are copied into the log: longer than any
/// sensible access-token lifetime.
const BACKFILL_SECS: u64 = 2 * 86_400;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        // As in the first migration: exact, binary text comparison and full
        // Unicode on MySQL/MariaDB.
        let text_rules = |table: &mut TableCreateStatement| {
            if backend == DatabaseBackend::MySql {
                table.character_set("utf8mb4").collate("utf8mb4_bin");
            }
            table.to_owned()
        };
        manager
            .create_table(text_rules(
                &mut Table::create()
                    .table(SubjectCutOffs::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SubjectCutOffs::Subject)
                            .string_len(255)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(SubjectCutOffs::NotBefore)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            ))
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("inkan_idx_subject_cut_offs_not_before")
                    .table(SubjectCutOffs::Table)
                    .col(SubjectCutOffs::NotBefore)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(text_rules(
                &mut Table::create()
                    .table(RevocationEvents::Table)
                    .if_not_exists()
                    // A random UUID: no sequence, no hot spot on a
                    // distributed engine.
                    .col(
                        ColumnDef::new(RevocationEvents::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    // "session" or "subject".
                    .col(
                        ColumnDef::new(RevocationEvents::Kind)
                            .string_len(16)
                            .not_null(),
                    )
                    // The session id, or the subject.
                    .col(
                        ColumnDef::new(RevocationEvents::Target)
                            .string_len(255)
                            .not_null(),
                    )
                    // When the session was revoked, or the subject's cut-off.
                    .col(
                        ColumnDef::new(RevocationEvents::At)
                            .big_integer()
                            .not_null(),
                    )
                    // The database's clock when the row was written.
                    .col(
                        ColumnDef::new(RevocationEvents::RecordedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            ))
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("inkan_idx_revocation_events_recorded_at")
                    .table(RevocationEvents::Table)
                    .col(RevocationEvents::RecordedAt)
                    .to_owned(),
            )
            .await?;

        let random_id = match backend {
            DatabaseBackend::Postgres => "CAST(gen_random_uuid() AS TEXT)",
            DatabaseBackend::MySql => "UUID()",
            DatabaseBackend::Sqlite => "lower(hex(randomblob(16)))",
        };
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs().saturating_sub(BACKFILL_SECS))
            .unwrap_or_default();
        manager
            .get_connection()
            .execute(Statement::from_string(
                backend,
                format!(
                    "INSERT INTO inkan_revocation_events (id, kind, target, at, recorded_at) \
                     SELECT {random_id}, 'session', id, revoked_at, revoked_at FROM inkan_sessions \
                     WHERE revoked_at IS NOT NULL AND revoked_at >= {since}"
                ),
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RevocationEvents::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SubjectCutOffs::Table).to_owned())
            .await
    }
}
