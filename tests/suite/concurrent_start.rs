//! Replicas that start at the same instant on one empty ledger, each set to
//! migrate it: all of them come up (one migrates, the others wait for it or
//! find it done), on every backend. Without the migration lock, the losers
//! of the race on the same DDL exit with a database error.

use crate::common;

use std::time::Duration;

use common::{admin, fresh_database, issue_request, run_inkan, Backend, Options, TestApp};
use inkan::ledger::Ledger;

/// How many replicas start at once.
const REPLICAS: usize = 4;

async fn servers_started_together_all_serve(backend: Backend) {
    if !backend.available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(backend, dir.path()).await;
    // Each builds its server (connect, migrate, check the schema) at once.
    let apps = futures::future::join_all((0..REPLICAS).map(|_| {
        TestApp::spawn_with(
            backend,
            Options {
                database_url: Some(url.clone()),
                ..Options::default()
            },
        )
    }))
    .await;
    for (n, app) in apps.iter().enumerate() {
        let pair = app
            .client()
            .await
            .issue(admin(issue_request(&format!("user-{n}"))))
            .await
            .unwrap_or_else(|status| panic!("replica {n} does not serve: {status:?}"));
        assert!(!pair.into_inner().refresh_token.is_empty());
    }
    for app in apps {
        app.stop().await;
    }
}

fn migrate_runs_together_all_succeed(backend: Backend) {
    if !backend.available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = runtime.block_on(fresh_database(backend, dir.path()));
    let runs: Vec<_> = (0..REPLICAS)
        .map(|_| {
            let (url, dir) = (url.clone(), dir.path().to_owned());
            std::thread::spawn(move || run_inkan(&["migrate", "--database-url", &url], &dir))
        })
        .collect();
    for (n, run) in runs.into_iter().enumerate() {
        let out = run.join().unwrap();
        assert!(
            out.status.success(),
            "migrate run {n} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    runtime.block_on(async {
        let ledger = Ledger::connect(&url).await.unwrap();
        let state = ledger.schema_state().await.unwrap();
        assert!(state.is_current(), "{state}");
    });
}

mod sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn servers_started_together_on_an_empty_ledger_all_serve() {
        servers_started_together_all_serve(Backend::Sqlite).await;
    }

    #[test]
    fn migrate_run_several_times_at_once_succeeds_every_time() {
        migrate_runs_together_all_succeed(Backend::Sqlite);
    }
}

mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn servers_started_together_on_an_empty_ledger_all_serve() {
        servers_started_together_all_serve(Backend::Postgres).await;
    }

    #[test]
    fn migrate_run_several_times_at_once_succeeds_every_time() {
        migrate_runs_together_all_succeed(Backend::Postgres);
    }
}

mod mysql {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn servers_started_together_on_an_empty_ledger_all_serve() {
        servers_started_together_all_serve(Backend::Mysql).await;
    }

    #[test]
    fn migrate_run_several_times_at_once_succeeds_every_time() {
        migrate_runs_together_all_succeed(Backend::Mysql);
    }
}

/// A migrator killed while holding the lock leaves a row behind; the next
/// one waits for it to lapse instead of failing or waiting forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_left_by_a_killed_migrator_lapses() {
    use sea_orm::ConnectionTrait;
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(Backend::Sqlite, dir.path()).await;
    let ledger = Ledger::connect(&url).await.unwrap();
    // What a migrator killed a minute ago left: its lock, lapsed 1 s ago.
    ledger
        .connection()
        .execute_unprepared(
            "CREATE TABLE inkan_migration_lock (name VARCHAR(64) NOT NULL PRIMARY KEY, \
             owner VARCHAR(64) NOT NULL, expires_at BIGINT NOT NULL)",
        )
        .await
        .unwrap();
    ledger
        .connection()
        .execute_unprepared(
            "INSERT INTO inkan_migration_lock VALUES ('schema', 'killed', CAST(strftime('%s','now') AS INTEGER) - 1)",
        )
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), ledger.migrate())
        .await
        .expect("migrate waited on a lapsed lock")
        .unwrap();
    assert!(ledger.schema_state().await.unwrap().is_current());
}
