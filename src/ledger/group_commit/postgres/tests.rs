//! The writer's connection on PostgreSQL (`INKAN_TEST_DATABASE_URL`; each
//! test says so and passes when it is not set): the plan its rotation
//! keeps, and what happens when the server closes it.

use std::time::Duration;

use sea_orm::sqlx::{self, Executor, Row};

use super::{rotate_text, RECHECK_AFTER};
use crate::{
    ids::Subject,
    ledger::{
        bounds::{self, Purpose},
        rotation::{
            tests::{fresh_database, open},
            RotationPolicy,
        },
        Ledger,
    },
    token::RefreshToken,
};

/// A migrated ledger in a database of its own, and that database's URL;
/// `None` when no PostgreSQL test server is set.
async fn postgres_ledger() -> Option<(Ledger, String)> {
    let Ok(server) = std::env::var("INKAN_TEST_DATABASE_URL") else {
        eprintln!("INKAN_TEST_DATABASE_URL is not set: PostgreSQL not covered");
        return None;
    };
    let url = fresh_database(&server).await;
    let ledger = Ledger::connect(&url).await.expect("ledger");
    ledger.migrate().await.expect("migrations");
    Some((ledger, url))
}

/// The generic plan of the rotation, prepared on a connection opened for
/// `purpose`, as `EXPLAIN` shows it.
async fn rotation_plan(url: &str, purpose: Purpose) -> String {
    let db = bounds::open(url, purpose).await.expect("pool");
    let mut conn = db
        .get_postgres_connection_pool()
        .acquire()
        .await
        .expect("connection");
    // On the writer's connection this is its own setting already.
    conn.execute("SET plan_cache_mode = force_generic_plan")
        .await
        .expect("set");
    conn.execute(
        format!(
            "PREPARE inkan_rotate(text[], text[], text[], bigint[], bigint[]) AS {}",
            rotate_text()
        )
        .as_str(),
    )
    .await
    .expect("the rotation prepares");
    let rows = sqlx::query("EXPLAIN EXECUTE inkan_rotate('{a}', '{b}', '{NULL}', '{1}', '{2}')")
        .fetch_all(&mut *conn)
        .await
        .expect("explain");
    rows.iter()
        .map(|row| row.get::<String, _>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn the_rotation_planned_once_on_young_tables_reaches_rows_by_their_keys() {
    let Some((_ledger, url)) = postgres_ledger().await else {
        return;
    };
    // The hazard: tables never analyzed, planned once for any arrays,
    // with PostgreSQL's defaults the plan scans whole tables, and would
    // keep scanning them as they grow to millions of rows.
    let defaults = rotation_plan(&url, Purpose::Serving).await;
    assert!(
        defaults.contains("Seq Scan on inkan_"),
        "with the defaults, a young table's generic plan scans it:\n{defaults}"
    );
    // The writer's connection plans the same statement through indexes.
    let writer = rotation_plan(&url, Purpose::Writing).await;
    assert!(
        !writer.contains("Seq Scan"),
        "the writer's plan scans no table:\n{writer}"
    );
    for table in ["inkan_refresh_tokens", "inkan_sessions"] {
        assert!(
            writer.contains(&format!(" {table}_pkey ")),
            "the writer's plan reaches {table} by its primary key:\n{writer}"
        );
    }
}

#[tokio::test]
async fn a_writer_connection_the_server_closed_is_replaced_before_the_next_refresh() {
    let Some((ledger, url)) = postgres_ledger().await else {
        return;
    };
    let policy = RotationPolicy {
        idle_ttl: 600,
        reuse_grace: Duration::from_secs(10),
    };
    let subject = Subject::parse("user-7").unwrap();
    let now = crate::clock::now();
    let (_, first) = open(&ledger, &subject, now).await;
    let second = RefreshToken::generate();
    let rotated = ledger.rotate(&first, &second, now, policy).await.unwrap();
    assert!(rotated.is_ok(), "{rotated:?}");

    // The writer's backend is the one whose last statement was the
    // rotation; end it, as a restarting server or a proxy's idle timeout
    // would.
    let admin = bounds::open(&url, Purpose::Serving).await.expect("pool");
    let pool = admin.get_postgres_connection_pool();
    let writers = "SELECT pid FROM pg_stat_activity
                   WHERE datname = current_database() AND query LIKE 'WITH asked AS%'";
    let before: Vec<i32> = sqlx::query_scalar(writers).fetch_all(pool).await.unwrap();
    assert_eq!(before.len(), 1, "one writer connection: {before:?}");
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(before[0])
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(ended);

    // Idle for longer than the writer trusts a connection unchecked: the
    // next refresh finds it closed and writes on a new one.
    tokio::time::sleep(RECHECK_AFTER + Duration::from_millis(300)).await;
    let third = RefreshToken::generate();
    let rotated = ledger.rotate(&second, &third, now, policy).await.unwrap();
    assert!(rotated.is_ok(), "the refresh after the close: {rotated:?}");
    let after: Vec<i32> = sqlx::query_scalar(writers).fetch_all(pool).await.unwrap();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after, before, "a new writer connection");
}
