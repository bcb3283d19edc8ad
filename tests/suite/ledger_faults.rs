//! The ledger slow, locked, or cut off under load. Every call that needs it
//! answers within its deadline with `STORAGE_UNAVAILABLE` (action `retry`),
//! never a token failure; Verify, which needs only the keys, never fails;
//! the ledger's health says NOT_SERVING; and once the database is back,
//! everything recovers by itself.

use crate::common;

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use common::{
    admin, assert_refused, eventually, fresh_database, issue_request, ledger_health, verify,
    Backend, Options, TestApp,
};
use inkan::proto::v1::RefreshRequest;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DbBackend, Statement};
use tokio::{
    net::{TcpListener, TcpStream},
    task::AbortHandle,
    time::Instant,
};
use tonic::Request;
use tonic_health::pb::health_check_response::ServingStatus;

/// Well above every bound the ledger keeps, well below a patient client's.
const CLIENT_DEADLINE: Duration = Duration::from_secs(10);

fn refresh_within(token: &str, deadline: Option<Duration>) -> Request<RefreshRequest> {
    let mut request = Request::new(RefreshRequest {
        refresh_token: token.into(),
    });
    if let Some(deadline) = deadline {
        request.set_timeout(deadline);
    }
    request
}

/// Holds the write lock on a refresh token's row from another connection
/// (SQLite: on the whole database), until dropped.
async fn lock_token_row(app: &TestApp, token: &str) -> sea_orm::DatabaseConnection {
    let mut options = ConnectOptions::new(app.database_url.clone());
    options.max_connections(1).sqlx_logging(false);
    let db = Database::connect(options).await.unwrap();
    let hash = inkan::token::RefreshToken::parse(token).unwrap().hash();
    let backend = db.get_database_backend();
    if backend == DbBackend::Sqlite {
        db.execute_unprepared("BEGIN IMMEDIATE").await.unwrap();
        return db;
    }
    db.execute_unprepared("BEGIN").await.unwrap();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT token_hash FROM inkan_refresh_tokens WHERE token_hash = $1 FOR UPDATE"
        }
        _ => "SELECT token_hash FROM inkan_refresh_tokens WHERE token_hash = ? FOR UPDATE",
    };
    db.query_one(Statement::from_sql_and_values(
        backend,
        sql,
        [hash.as_str().into()],
    ))
    .await
    .unwrap()
    .expect("the token's row exists");
    db
}

backend_tests! {
    async fn a_refresh_stuck_behind_a_lock_answers_retry_within_the_clients_deadline(app: TestApp) {
        let mut client = app.client().await;
        let pair = client.issue(admin(issue_request("user-locked"))).await.unwrap().into_inner();
        let lock = lock_token_row(&app, &pair.refresh_token).await;

        // A client with a 1 s deadline hears "retry" before it gives up.
        let deadline = Duration::from_secs(1);
        let answer = tokio::time::timeout(
            deadline + Duration::from_millis(500),
            client.refresh(refresh_within(&pair.refresh_token, Some(deadline))),
        )
        .await
        .expect("no answer by the client's deadline");
        assert_refused(answer, "STORAGE_UNAVAILABLE");
        // Without a deadline of its own, the ledger's bounds still answer.
        let answer = tokio::time::timeout(CLIENT_DEADLINE, client.refresh(refresh_within(&pair.refresh_token, None)))
            .await
            .expect("a call without a deadline waited on the lock unbounded");
        assert_refused(answer, "STORAGE_UNAVAILABLE");
        // Verify needs no ledger.
        client
            .verify(verify(&pair.access_token))
            .await
            .unwrap();

        lock.execute_unprepared("ROLLBACK").await.unwrap();
        lock.close().await.unwrap();
        // The same token goes on: the failed attempts left it unspent, or
        // spent within the grace window with its successor to hand out.
        let next = client.refresh(refresh_within(&pair.refresh_token, Some(CLIENT_DEADLINE))).await.unwrap().into_inner();
        client.refresh(refresh_within(&next.refresh_token, Some(CLIENT_DEADLINE))).await.unwrap();
        app.stop().await;
    }
}

/// A TCP proxy on 127.0.0.1 that can cut every connection it carries and
/// refuse new ones, then let them through again.
struct Proxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    carried: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let carried = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let (cut, carried) = (cut.clone(), carried.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((mut inbound, _)) = listener.accept().await else {
                        continue;
                    };
                    if cut.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let pipe = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    carried.lock().unwrap().push(pipe.abort_handle());
                }
            })
            .abort_handle()
        };
        Self {
            addr,
            cut,
            carried,
            accept,
        }
    }

    /// Closes every connection and refuses new ones.
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for pipe in self.carried.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// The address `url` names, and `url` rewritten to name `addr` instead.
async fn redirect(url: &str) -> (SocketAddr, impl Fn(SocketAddr) -> String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (user, host_port) = match authority.rsplit_once('@') {
        Some((user, host)) => (format!("{user}@"), host),
        None => (String::new(), authority),
    };
    let target = tokio::net::lookup_host(host_port)
        .await
        .unwrap()
        .next()
        .unwrap();
    let (scheme, path) = (scheme.to_owned(), path.to_owned());
    (target, move |addr| format!("{scheme}://{user}{addr}{path}"))
}

async fn the_database_cut_and_restored_under_load(backend: Backend) {
    if !backend.available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let direct = fresh_database(backend, dir.path()).await;
    let (target, via) = redirect(&direct).await;
    let proxy = Proxy::start(target).await;
    let url = via(proxy.addr);
    let app = TestApp::spawn_with(
        backend,
        Options {
            database_url: Some(url),
            ..Options::default()
        },
    )
    .await;
    let mut client = app.client().await;
    let pair = client
        .issue(admin(issue_request("user-cut")))
        .await
        .unwrap()
        .into_inner();
    eventually("the ledger reported SERVING", CLIENT_DEADLINE, || async {
        ledger_health(app.grpc_addr).await == Some(ServingStatus::Serving as i32)
    })
    .await;

    // A steady stream of Verify calls for the whole test.
    let stop = Arc::new(AtomicBool::new(false));
    let (verified, failed) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(Mutex::new(Vec::new())),
    );
    let verifier = {
        let (mut client, token) = (app.client().await, pair.access_token.clone());
        let (stop, verified, failed) = (stop.clone(), verified.clone(), failed.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                match client.verify(verify(&token)).await {
                    Ok(_) => verified.fetch_add(1, Ordering::SeqCst),
                    Err(status) => {
                        failed.lock().unwrap().push(status);
                        0
                    }
                };
                // Paces the load (waits for nothing): unpaced, it would take
                // a core of the two from the server it measures.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };

    proxy.cut();
    // Issue and Refresh fail fast, as storage faults the client retries.
    for _ in 0..3 {
        let started = Instant::now();
        let mut issue = admin(issue_request("user-during-cut"));
        issue.set_timeout(CLIENT_DEADLINE);
        assert_refused(client.issue(issue).await, "STORAGE_UNAVAILABLE");
        assert_refused(
            client
                .refresh(refresh_within(&pair.refresh_token, Some(CLIENT_DEADLINE)))
                .await,
            "STORAGE_UNAVAILABLE",
        );
        let took = started.elapsed();
        assert!(
            took < CLIENT_DEADLINE / 2,
            "Issue and Refresh took {took:?} to fail"
        );
    }
    eventually(
        "the ledger reported NOT_SERVING",
        Duration::from_secs(20),
        || async { ledger_health(app.grpc_addr).await == Some(ServingStatus::NotServing as i32) },
    )
    .await;

    proxy.restore();
    eventually(
        "the ledger reported SERVING again",
        Duration::from_secs(20),
        || async { ledger_health(app.grpc_addr).await == Some(ServingStatus::Serving as i32) },
    )
    .await;
    // No restart: the same server issues, and the session goes on.
    client
        .issue(admin(issue_request("user-after-cut")))
        .await
        .unwrap();
    let next = client
        .refresh(refresh_within(&pair.refresh_token, Some(CLIENT_DEADLINE)))
        .await
        .unwrap()
        .into_inner();
    client
        .refresh(refresh_within(&next.refresh_token, Some(CLIENT_DEADLINE)))
        .await
        .unwrap();

    stop.store(true, Ordering::SeqCst);
    verifier.await.unwrap();
    let failed = failed.lock().unwrap().clone();
    assert!(
        failed.is_empty(),
        "Verify failed while the ledger was cut: {failed:?}"
    );
    assert!(
        verified.load(Ordering::SeqCst) > 10,
        "too few Verify calls to tell"
    );
    app.stop().await;
    drop(proxy);
}

mod cut_postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_database_cut_and_restored_under_load() {
        super::the_database_cut_and_restored_under_load(super::Backend::Postgres).await;
    }
}

mod cut_mysql {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_database_cut_and_restored_under_load() {
        super::the_database_cut_and_restored_under_load(super::Backend::Mysql).await;
    }
}
