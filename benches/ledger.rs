//! What the ledger's own statements cost, without gRPC or tokens: opening
//! a session (Issue's write) and rotating a refresh token (Refresh's), on
//! SQLite at both synchronous levels, and on PostgreSQL and MariaDB when
//! their server URLs are set (`INKAN_BENCH_DATABASE_URL`,
//! `INKAN_BENCH_MYSQL_URL`; a fresh database is made on that server and
//! dropped after). These are the baselines BENCHMARKS.md divides Issue's
//! and Refresh's cost by.
//!
//! `cargo bench --bench ledger`

use std::{path::Path, time::Duration};

use criterion::{criterion_group, criterion_main, Criterion};
use support::cpu::ProcessCpu;

mod support {
    pub(crate) mod cpu;
}
use inkan::{
    ids::{ClientId, SessionId, Subject},
    ledger::{Ledger, NewSession, RotationPolicy},
    token::{Grant, RefreshToken},
};
use sea_orm::{ConnectionTrait, Database};
use tokio::runtime::Runtime;

/// A database of its own on the server `server` names; its URL.
async fn fresh_database(server: &str) -> (String, String) {
    let name = format!("inkan_bench_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(server).await.expect("database server");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create the bench database");
    let (scheme, rest) = server.split_once("://").expect("a URL");
    let host = rest.split('/').next().unwrap_or(rest);
    (format!("{scheme}://{host}/{name}"), name)
}

async fn drop_database(server: &str, name: &str) {
    if let Ok(admin) = Database::connect(server).await {
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE {name}"))
            .await;
    }
}

async fn ledger(url: &str) -> Ledger {
    let ledger = Ledger::connect(url).await.expect("ledger");
    ledger.migrate().await.expect("migrations");
    ledger
}

fn new_session<'a>(
    subject: &'a Subject,
    client: &'a ClientId,
    grant: &'a Grant,
    now: i64,
) -> NewSession<'a> {
    NewSession {
        id: SessionId::generate(),
        subject,
        client_id: client,
        device: "bench",
        grant,
        now,
        expires_at: now + 30 * 24 * 3600,
        refresh_expires_at: now + 14 * 24 * 3600,
    }
}

fn bench_backend(c: &mut Criterion<ProcessCpu>, runtime: &Runtime, name: &str, url: &str) {
    let ledger = runtime.block_on(ledger(url));
    let subject = Subject::parse("user-42").unwrap();
    let client = ClientId::parse("web").unwrap();
    let grant = Grant {
        audience: vec!["orders".into()],
        scopes: vec!["orders:read".into()],
        claims: Default::default(),
    };
    let policy = RotationPolicy {
        idle_ttl: 14 * 24 * 3600,
        reuse_grace: Duration::from_secs(10),
    };
    let mut group = c.benchmark_group(format!("ledger/{name}"));
    // Measured in CPU time, but each call also waits for its commit (an
    // fsync on SQLite): a short CPU budget keeps the wall time in bounds.
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(500));
    group.bench_function("open session (Issue)", |b| {
        b.to_async(runtime).iter(|| async {
            let now = inkan::clock::now();
            ledger
                .open_session(
                    new_session(&subject, &client, &grant, now),
                    &RefreshToken::generate(),
                )
                .await
                .unwrap()
        })
    });
    // One chain of rotations, as a client refreshing again and again.
    let mut current = RefreshToken::generate();
    runtime
        .block_on(ledger.open_session(
            new_session(&subject, &client, &grant, inkan::clock::now()),
            &current,
        ))
        .unwrap();
    group.bench_function("rotate (Refresh)", |b| {
        b.iter(|| {
            let next = RefreshToken::generate();
            let rotation = runtime
                .block_on(ledger.rotate(&current, &next, inkan::clock::now(), policy))
                .unwrap()
                .expect("a live token rotates");
            assert!(!rotation.replayed);
            current = next;
        })
    });
    group.finish();
}

fn ledger_statements(c: &mut Criterion<ProcessCpu>) {
    let runtime = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(name);
    let sqlite = |path: &Path, extra: &str| format!("sqlite://{}?mode=rwc{extra}", path.display());
    bench_backend(c, &runtime, "sqlite-full", &sqlite(&file("full.db"), ""));
    bench_backend(
        c,
        &runtime,
        "sqlite-normal",
        &sqlite(&file("normal.db"), "&synchronous=normal"),
    );
    for (name, var) in [
        ("postgres", "INKAN_BENCH_DATABASE_URL"),
        ("mariadb", "INKAN_BENCH_MYSQL_URL"),
    ] {
        let Ok(server) = std::env::var(var) else {
            continue;
        };
        let (url, db) = runtime.block_on(fresh_database(&server));
        bench_backend(c, &runtime, name, &url);
        runtime.block_on(drop_database(&server, &db));
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ProcessCpu::default());
    targets = ledger_statements
}
criterion_main!(benches);
