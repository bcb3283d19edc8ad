//! A pool connection that meets a read-only database (a demoted leader, a
//! pool routed to a standby; here a database switched to
//! `default_transaction_read_only`) gets SQLSTATE 25006 on every write.
//! inkan answers `STORAGE_UNAVAILABLE` (action `retry`), never INTERNAL
//! and never a token failure, drops such connections, and writes again,
//! without a restart, once the database takes writes.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

use crate::common::{admin, assert_refused, eventually, issue_request, Backend, TestApp};

/// Runs `sql` as the test server's administrator.
async fn run(admin: &DatabaseConnection, sql: &str) {
    admin.execute_unprepared(sql).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_met_a_read_only_database_are_dropped_and_writes_resume() {
    if !Backend::Postgres.available() {
        return;
    }
    let app = TestApp::spawn(Backend::Postgres).await;
    let name = app
        .database_url
        .rsplit('/')
        .next()
        .and_then(|rest| rest.split('?').next())
        .unwrap()
        .to_owned();
    let dba = Database::connect(std::env::var("INKAN_TEST_DATABASE_URL").unwrap())
        .await
        .unwrap();
    let mut client = app.client().await;
    client
        .issue(admin(issue_request("before")))
        .await
        .expect("Issue before");

    // Every connection inkan opens from now on is read-only, as on a
    // standby: the ones it holds are ended, so it opens new ones.
    run(
        &dba,
        &format!("ALTER DATABASE {name} SET default_transaction_read_only = on"),
    )
    .await;
    run(
        &dba,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ),
    )
    .await;
    // Writes fail as retryable, several times, so the pool holds read-only
    // connections when the database comes back.
    for _ in 0..4 {
        assert_refused(
            client.issue(admin(issue_request("during"))).await,
            "STORAGE_UNAVAILABLE",
        );
    }

    // Writes are possible again; the connections opened meanwhile still
    // carry the read-only default until they are dropped.
    run(
        &dba,
        &format!("ALTER DATABASE {name} SET default_transaction_read_only = off"),
    )
    .await;
    eventually("Issue succeeds again", Duration::from_secs(20), || {
        let mut client = client.clone();
        async move {
            match client.issue(admin(issue_request("after"))).await {
                Ok(_) => true,
                Err(status) => {
                    // Retryable until then, never anything else.
                    assert_refused::<()>(Err(status), "STORAGE_UNAVAILABLE");
                    false
                }
            }
        }
    })
    .await;
    // And again: the recovery holds.
    client
        .issue(admin(issue_request("after")))
        .await
        .expect("Issue after");
}
