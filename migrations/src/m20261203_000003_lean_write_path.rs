//! What Issue and Refresh write, made cheaper:
//!
//! - the foreign key from `inkan_refresh_tokens` to `inkan_sessions` is
//!   dropped. Every token inserted paid for it (on PostgreSQL a trigger's
//!   query and a share lock on the session's row, on InnoDB a shared lock
//!   on it too), and it guards nothing the ledger does not guard itself:
//!   a token is only ever written beside its session (Issue) or by a
//!   statement that read that session live (Refresh), and the purge
//!   deletes a session's tokens with it, by `session_id`, before the
//!   session (its `ON DELETE CASCADE` had nothing left to do). SQLite keeps
//!   it: dropping one there means rebuilding the table, and its check is a
//!   lookup in the same file, in process.
//! - on PostgreSQL, `inkan_sessions` leaves a fifth of each page free
//!   (`fillfactor = 80`), so that the update of a session's last use at
//!   every refresh finds room on the row's own page and stays a HOT update
//!   (no column it sets is indexed): a new row version on the same page,
//!   and none of the table's four indexes written. A full page (the
//!   default fills pages whole) sends the new version elsewhere, with an
//!   entry in every index. It applies to pages filled from now on.
//! - on PostgreSQL and SQLite, the index on `inkan_sessions.revoked_at`
//!   holds revoked sessions only (`WHERE revoked_at IS NOT NULL`). Its one
//!   reader, the purge, asks for `revoked_at < cutoff`, which only a
//!   revoked session meets; a new session (Issue) no longer writes an
//!   entry in it; and it can no longer serve `revoked_at IS NULL`, which
//!   PostgreSQL's planner was seen to prefer over the primary key on a
//!   young table, scanning every live session for each refresh. MySQL has
//!   no partial indexes and keeps the full one. The index is rebuilt, in
//!   the migration's transaction: a few seconds per million sessions,
//!   during which sessions cannot be written.

use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, DatabaseBackend, Statement},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TOKENS: &str = "inkan_refresh_tokens";
const SESSIONS: &str = "inkan_sessions";
const FOREIGN_KEY: &str = "inkan_fk_refresh_tokens_session";
const REVOKED_INDEX: &str = "inkan_idx_sessions_revoked_at";

#[derive(DeriveIden)]
enum Sessions {
    #[sea_orm(iden = "inkan_sessions")]
    Table,
    RevokedAt,
}

/// The index on `revoked_at`, of revoked sessions only when `partial`.
fn revoked_index(partial: bool) -> IndexCreateStatement {
    let mut index = Index::create();
    index
        .name(REVOKED_INDEX)
        .table(Sessions::Table)
        .col(Sessions::RevokedAt);
    if partial {
        index.and_where(Expr::col(Sessions::RevokedAt).is_not_null());
    }
    index.to_owned()
}

async fn replace_revoked_index(manager: &SchemaManager<'_>, partial: bool) -> Result<(), DbErr> {
    manager
        .drop_index(
            Index::drop()
                .name(REVOKED_INDEX)
                .table(Sessions::Table)
                .to_owned(),
        )
        .await?;
    manager.create_index(revoked_index(partial)).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                db.execute_unprepared(&format!(
                    "ALTER TABLE {TOKENS} DROP CONSTRAINT IF EXISTS {FOREIGN_KEY}"
                ))
                .await?;
                db.execute_unprepared(&format!("ALTER TABLE {SESSIONS} SET (fillfactor = 80)"))
                    .await?;
                replace_revoked_index(manager, true).await?;
            }
            DatabaseBackend::MySql => {
                // MySQL has no `DROP FOREIGN KEY IF EXISTS`.
                if mysql_foreign_key_exists(db).await? {
                    db.execute_unprepared(&format!(
                        "ALTER TABLE {TOKENS} DROP FOREIGN KEY {FOREIGN_KEY}"
                    ))
                    .await?;
                }
            }
            DatabaseBackend::Sqlite => replace_revoked_index(manager, true).await?,
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let add = format!(
            "ALTER TABLE {TOKENS} ADD CONSTRAINT {FOREIGN_KEY} FOREIGN KEY (session_id) \
             REFERENCES {SESSIONS} (id) ON DELETE CASCADE"
        );
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                db.execute_unprepared(&format!("ALTER TABLE {SESSIONS} RESET (fillfactor)"))
                    .await?;
                db.execute_unprepared(&add).await?;
                replace_revoked_index(manager, false).await?;
            }
            DatabaseBackend::MySql => {
                if !mysql_foreign_key_exists(db).await? {
                    db.execute_unprepared(&add).await?;
                }
            }
            DatabaseBackend::Sqlite => replace_revoked_index(manager, false).await?,
        }
        Ok(())
    }
}

async fn mysql_foreign_key_exists(db: &SchemaManagerConnection<'_>) -> Result<bool, DbErr> {
    let found = db
        .query_one(Statement::from_sql_and_values(
            DatabaseBackend::MySql,
            "SELECT COUNT(*) AS n FROM information_schema.TABLE_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = ? \
             AND CONSTRAINT_NAME = ? AND CONSTRAINT_TYPE = 'FOREIGN KEY'",
            [TOKENS.into(), FOREIGN_KEY.into()],
        ))
        .await?;
    let count: i64 = match found {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(count > 0)
}
