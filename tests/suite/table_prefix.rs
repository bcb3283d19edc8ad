//! The ledger in a database it shares with an application: every name it
//! owns starts with `inkan_`, an application's `sessions` table is left as
//! it was, an `inkan_` table inkan did not make is refused by name before
//! anything is created, and a ledger of the earlier, unprefixed layout is
//! upgraded in place by `inkan migrate`.

#[path = "unprefixed_ledger/mod.rs"]
mod unprefixed_ledger;

use std::{collections::BTreeSet, path::Path};

use inkan::{proto::v1::ListSessionsRequest, token::RefreshToken};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use sea_orm_migration::MigratorTrait;

use crate::common::{
    self, admin, fresh_database, run_inkan, server_config, stderr, Backend, Options, TestApp,
};

/// Every table, index and constraint name the database holds (on MySQL,
/// whose index and constraint names are per table, as `table.name`).
async fn names(db: &DatabaseConnection) -> BTreeSet<String> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() \
             UNION SELECT c.conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
             WHERE n.nspname = current_schema()"
        }
        DbBackend::MySql => {
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() \
             UNION SELECT CONCAT(table_name, '.', index_name) FROM information_schema.statistics \
             WHERE table_schema = DATABASE() \
             UNION SELECT CONCAT(table_name, '.', constraint_name) FROM information_schema.table_constraints \
             WHERE constraint_schema = DATABASE()"
        }
        DbBackend::Sqlite => "SELECT name FROM sqlite_master",
    };
    db.query_all(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect()
}

/// Runs `inkan <command> --config <config>`; its success and its stderr.
fn inkan(command: &str, config: &Path, dir: &Path) -> (bool, String) {
    let out = run_inkan(&[command, "--config", config.to_str().unwrap()], dir);
    (out.status.success(), stderr(&out))
}

async fn execute(db: &DatabaseConnection, sql: &str) {
    db.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn an_applications_sessions_table_is_left_alone(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(backend, dir.path()).await;
    let db = Database::connect(&url).await.unwrap();
    // Laravel's `sessions` table, with a logged-in user's row.
    let payload = if backend == Backend::Mysql {
        "LONGTEXT"
    } else {
        "TEXT"
    };
    execute(
        &db,
        &format!(
            "CREATE TABLE sessions (id VARCHAR(255) NOT NULL PRIMARY KEY, user_id BIGINT NULL, \
             ip_address VARCHAR(45) NULL, user_agent TEXT NULL, payload {payload} NOT NULL, \
             last_activity INTEGER NOT NULL)"
        ),
    )
    .await;
    execute(
        &db,
        "CREATE INDEX sessions_user_id_index ON sessions (user_id)",
    )
    .await;
    execute(
        &db,
        "INSERT INTO sessions (id, user_id, ip_address, user_agent, payload, last_activity) \
         VALUES ('laravel-session', 7, '10.0.0.1', 'curl', 'serialized', 1700000000)",
    )
    .await;
    let before = names(&db).await;
    let config = server_config(dir.path(), &url, "");

    let (migrated, err) = inkan("migrate", &config, dir.path());
    assert!(
        migrated,
        "migrate refused a database with Laravel's sessions: {err}"
    );

    let after = names(&db).await;
    assert!(
        after.is_superset(&before),
        "migrate removed {:?}",
        before.difference(&after)
    );
    for added in after.difference(&before) {
        // On MySQL, an index's table; on SQLite, a primary key's table.
        let name = added.split('.').next().unwrap();
        let name = name.strip_prefix("sqlite_autoindex_").unwrap_or(name);
        assert!(
            name.starts_with("inkan_"),
            "migrate created {added}, outside inkan_"
        );
    }
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            "SELECT id, user_id, payload, last_activity FROM sessions",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<String>("", "id").unwrap(), "laravel-session");
    assert_eq!(row.try_get::<String>("", "payload").unwrap(), "serialized");
    let lock_rows = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM inkan_migration_lock",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        lock_rows.try_get::<i64>("", "n").unwrap(),
        0,
        "a lock row stayed"
    );
    let (checked, err) = inkan("check", &config, dir.path());
    assert!(checked, "{err}");
}

async fn a_foreign_inkan_table_is_refused_by_name_and_nothing_is_left(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(backend, dir.path()).await;
    let db = Database::connect(&url).await.unwrap();
    execute(
        &db,
        "CREATE TABLE inkan_revocation_events (id INTEGER NOT NULL PRIMARY KEY, note TEXT)",
    )
    .await;
    let before = names(&db).await;
    let config = server_config(dir.path(), &url, "");

    let (migrated, err) = inkan("migrate", &config, dir.path());
    assert!(!migrated, "migrate took over a table it did not make");
    assert!(
        err.contains("`inkan_revocation_events`") && err.contains("inkan did not create"),
        "{err}"
    );
    assert_eq!(
        names(&db).await,
        before,
        "the refused migrate changed the database"
    );

    // Once the table is out of the way, the ledger is made.
    execute(&db, "DROP TABLE inkan_revocation_events").await;
    let (migrated, err) = inkan("migrate", &config, dir.path());
    assert!(migrated, "{err}");
}

/// A ledger as an inkan of the unprefixed layout made it, holding a
/// session of `user-1` (returned, with a refresh token spent a moment ago
/// and its successor sealed in the token's row, as that layout kept
/// seals), next to an application that records its own SeaORM migrations
/// in the same `seaql_migrations`.
async fn unprefixed_ledger(db: &DatabaseConnection) -> (String, RefreshToken, RefreshToken) {
    unprefixed_ledger::UnprefixedMigrator::up(db, None)
        .await
        .unwrap();
    let session = uuid::Uuid::new_v4().to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    execute(
        db,
        &format!(
            "INSERT INTO sessions (id, subject, client_id, device, audience, scope, claims, \
             created_at, last_used_at, expires_at) VALUES ('{session}', 'user-1', 'web', 'phone', \
             '[\"api\"]', 'read', '{{}}', {now}, {now}, {})",
            now + 86_400
        ),
    )
    .await;
    execute(
        db,
        &format!(
            "INSERT INTO refresh_tokens (token_hash, session_id, generation, created_at, expires_at) \
             VALUES ('{}', '{session}', 0, {now}, {})",
            "a".repeat(64),
            now + 86_400
        ),
    )
    .await;
    let (spent, successor) = (RefreshToken::generate(), RefreshToken::generate());
    execute(
        db,
        &format!(
            "INSERT INTO refresh_tokens (token_hash, session_id, generation, created_at, expires_at, \
             used_at, successor_hash, successor_seal) \
             VALUES ('{}', '{session}', 0, {now}, {}, {now}, '{}', '{}'), \
                    ('{}', '{session}', 1, {now}, {}, NULL, NULL, NULL)",
            spent.hash().as_str(),
            now + 86_400,
            successor.hash().as_str(),
            spent.seal_successor(&successor),
            successor.hash().as_str(),
            now + 86_400,
        ),
    )
    .await;
    execute(
        db,
        "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m20240101_000001_app_posts', 0)",
    )
    .await;
    (session, spent, successor)
}

async fn an_unprefixed_ledger_is_upgraded_in_place(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    // A ledger made today, for the names an upgraded one must end with.
    let fresh_dir = dir.path().join("fresh");
    std::fs::create_dir_all(&fresh_dir).unwrap();
    let fresh_url = fresh_database(backend, &fresh_dir).await;
    let fresh_config = server_config(&fresh_dir, &fresh_url, "");
    let (migrated, err) = inkan("migrate", &fresh_config, &fresh_dir);
    assert!(migrated, "{err}");
    let fresh = names(&Database::connect(&fresh_url).await.unwrap()).await;

    let url = fresh_database(backend, dir.path()).await;
    let db = Database::connect(&url).await.unwrap();
    let (session, spent, successor) = unprefixed_ledger(&db).await;
    let config = server_config(dir.path(), &url, "");

    let (checked, err) = inkan("check", &config, dir.path());
    assert!(!checked, "check accepted the unprefixed layout");
    assert!(err.contains("run `inkan migrate`"), "{err}");

    // A table of that name which is not inkan's stops the upgrade, which
    // leaves the ledger as it was.
    execute(
        &db,
        "CREATE TABLE inkan_sessions (id INTEGER NOT NULL PRIMARY KEY)",
    )
    .await;
    let before = names(&db).await;
    let (migrated, err) = inkan("migrate", &config, dir.path());
    assert!(!migrated, "migrate renamed over a foreign table");
    assert!(err.contains("`inkan_sessions`"), "{err}");
    assert_eq!(names(&db).await, before);
    execute(&db, "DROP TABLE inkan_sessions").await;

    let (migrated, err) = inkan("migrate", &config, dir.path());
    assert!(migrated, "{err}");
    let mut upgraded = names(&db).await;
    // The application's history stays where it was; inkan's moved.
    assert!(upgraded.remove("seaql_migrations"), "{upgraded:?}");
    let history: Vec<String> = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT version FROM seaql_migrations",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "version").unwrap())
        .collect();
    assert_eq!(history, ["m20240101_000001_app_posts"]);
    if backend == Backend::Postgres {
        upgraded.remove("seaql_migrations_pkey");
    }
    if backend == Backend::Mysql {
        upgraded.remove("seaql_migrations.PRIMARY");
    }
    if backend == Backend::Sqlite {
        upgraded.remove("sqlite_autoindex_seaql_migrations_1");
    }
    // SQLite keeps a foreign key's name inside its table's definition,
    // where no catalogue lists it; on the others, constraint names too.
    assert_eq!(
        upgraded, fresh,
        "the upgraded ledger's names differ from a new one's"
    );

    let (again, err) = inkan("migrate", &config, dir.path());
    assert!(again, "a second migrate failed: {err}");
    let (checked, err) = inkan("check", &config, dir.path());
    assert!(checked, "{err}");

    // The upgraded ledger serves what it held: the session, and the seal,
    // now in a table of its own, which gives the client that retries its
    // spent token within the grace window the same successor.
    let app = TestApp::spawn_with(
        backend,
        Options {
            database_url: Some(url.clone()),
            reuse_grace: std::time::Duration::from_secs(60),
            ..Options::default()
        },
    )
    .await;
    let retried = app
        .client()
        .await
        .refresh(inkan::proto::v1::RefreshRequest {
            refresh_token: spent.expose().to_owned(),
        })
        .await
        .expect("a retry within the grace window after the upgrade")
        .into_inner();
    assert_eq!(retried.refresh_token, successor.expose());
    let listed = app
        .client()
        .await
        .list_sessions(admin(ListSessionsRequest {
            subject: "user-1".into(),
        }))
        .await
        .unwrap()
        .into_inner()
        .sessions;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, session);
    app.stop().await;
}

/// A failure no check foresees (a PostgreSQL domain named like a table,
/// which the table's own row type clashes with, in the third migration)
/// rolls the whole migration back, and the lock is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_failing_half_way_leaves_no_table_and_no_lock() {
    if !Backend::Postgres.available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(Backend::Postgres, dir.path()).await;
    let db = Database::connect(&url).await.unwrap();
    execute(&db, "CREATE DOMAIN inkan_revocation_events AS INTEGER").await;
    let config = server_config(dir.path(), &url, "");

    let (migrated, err) = inkan("migrate", &config, dir.path());
    assert!(!migrated, "migrate succeeded over a clashing type");
    assert!(err.contains("inkan_revocation_events"), "{err}");
    let left: BTreeSet<String> = names(&db).await;
    assert!(
        !left.contains("inkan_sessions") && !left.contains("inkan_migrations"),
        "a half-made ledger stayed: {left:?}"
    );
    let lock_rows = db
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COUNT(*) AS n FROM inkan_migration_lock",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        lock_rows.try_get::<i64>("", "n").unwrap(),
        0,
        "a lock row stayed"
    );
}

backend_fns!(
    an_applications_sessions_table_is_left_alone,
    a_foreign_inkan_table_is_refused_by_name_and_nothing_is_left,
    an_unprefixed_ledger_is_upgraded_in_place,
);
