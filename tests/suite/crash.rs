//! A replica killed with SIGKILL in the middle of rotations. Every rotation
//! is one transaction, so a kill leaves either the old refresh token usable
//! or the new one stored (its sealed copy with the old token, for the grace
//! window), never neither and never two live successors. A client whose
//! Refresh got no answer retries it with the token it last sent once a
//! server is back, and goes on without logging in again.

#![cfg(unix)]

use crate::common;

use std::{
    net::SocketAddr,
    path::Path,
    process::Child,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use common::{eventually, fresh_database, issue_request, Backend};
use inkan::proto::v1::{token_service_client::TokenServiceClient, RefreshRequest};
use sea_orm::{ConnectionTrait, Database, Statement};
use tonic::{transport::Channel, Code};

/// Clients refreshing their own chains at once.
const CLIENTS: usize = 4;
/// Times the server is killed and restarted.
const KILLS: usize = 2;
/// Refreshes each client must make after each start before the next step.
const REFRESHES_PER_LIFE: u64 = 5;

/// A config for `inkan serve` over `database_url`, with a grace window
/// long enough to cover a restart.
fn config(dir: &Path, database_url: &str) -> std::path::PathBuf {
    common::server_config(
        dir,
        database_url,
        "migrate_on_start = true\nreuse_grace = \"30s\"\nlog_format = \"json\"",
    )
}

/// Where the server is now: its generation and, while it runs, its address.
type Current = tokio::sync::watch::Receiver<(usize, Option<SocketAddr>)>;

/// One client: refreshes its chain until told to stop. A call that gets no
/// answer, or a transport failure, is retried with the same token; any
/// refusal of the token ends the client with an error.
async fn client_chain(
    mut current: Current,
    first: String,
    done: Arc<AtomicBool>,
    refreshed: Arc<AtomicU64>,
) -> Result<(), String> {
    let mut token = first;
    loop {
        if done.load(Ordering::SeqCst) {
            return Ok(());
        }
        let Some(addr) = current.borrow_and_update().1 else {
            let _ = tokio::time::timeout(Duration::from_millis(200), current.changed()).await;
            continue;
        };
        let Ok(channel) = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
        else {
            let _ = tokio::time::timeout(Duration::from_millis(200), current.changed()).await;
            continue;
        };
        let mut client = TokenServiceClient::new(channel);
        while !done.load(Ordering::SeqCst) {
            let mut request = tonic::Request::new(RefreshRequest {
                refresh_token: token.clone(),
            });
            request.set_timeout(Duration::from_secs(5));
            match tokio::time::timeout(Duration::from_secs(6), client.refresh(request)).await {
                Ok(Ok(pair)) => {
                    token = pair.into_inner().refresh_token;
                    refreshed.fetch_add(1, Ordering::SeqCst);
                }
                Ok(Err(status)) if status.code() == Code::Unauthenticated => {
                    return Err(format!(
                        "the chain was refused after {} refreshes: {status:?}",
                        refreshed.load(Ordering::SeqCst)
                    ));
                }
                // The server died under the call, or the ledger asked for a
                // retry: the same token again, once a server answers.
                _ => break,
            }
        }
    }
}

/// [`serve`], off the async threads: it blocks reading the log.
async fn start(config: &Path) -> (Child, SocketAddr) {
    let config = config.to_owned();
    tokio::task::spawn_blocking(move || common::serve_process(&config))
        .await
        .unwrap()
}

/// Waits until every client has made [`REFRESHES_PER_LIFE`] more refreshes.
async fn each_goes_on(counters: &[Arc<AtomicU64>]) {
    let since: Vec<u64> = counters.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    eventually(
        "every client refreshed",
        Duration::from_secs(60),
        || async {
            counters
                .iter()
                .zip(&since)
                .all(|(c, s)| c.load(Ordering::SeqCst) >= s + REFRESHES_PER_LIFE)
        },
    )
    .await;
}

fn count(rows: &[sea_orm::QueryResult]) -> Vec<(String, i64)> {
    rows.iter()
        .map(|row| {
            (
                row.try_get("", "session_id").unwrap(),
                row.try_get("", "live").unwrap(),
            )
        })
        .collect()
}

async fn killed_mid_rotation_every_chain_goes_on(backend: Backend) {
    if !backend.available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(backend, dir.path()).await;
    let config = config(dir.path(), &url);
    let (mut server, addr) = start(&config).await;
    let (tell, current) = tokio::sync::watch::channel((0, Some(addr)));

    let mut issuer = TokenServiceClient::new(
        Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    let done = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    let mut counters = Vec::new();
    for n in 0..CLIENTS {
        let pair = issuer
            .issue(issue_request(&format!("user-{n}")))
            .await
            .unwrap()
            .into_inner();
        let refreshed = Arc::new(AtomicU64::new(0));
        counters.push(refreshed.clone());
        clients.push(tokio::spawn(client_chain(
            current.clone(),
            pair.refresh_token,
            done.clone(),
            refreshed,
        )));
    }
    drop(issuer);

    for life in 1..=KILLS {
        each_goes_on(&counters).await;
        // SIGKILL, with refreshes in flight.
        server.kill().unwrap();
        server.wait().unwrap();
        tell.send((life, None)).unwrap();
        let (restarted, addr) = start(&config).await;
        server = restarted;
        tell.send((life, Some(addr))).unwrap();
    }
    each_goes_on(&counters).await;
    done.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap().unwrap();
    }
    server.kill().unwrap();
    server.wait().unwrap();

    // Never two live successors, and no session ended by the kills.
    let db = Database::connect(&url).await.unwrap();
    let backend = db.get_database_backend();
    let live = db
        .query_all(Statement::from_string(
            backend,
            "SELECT session_id, COUNT(*) AS live FROM inkan_refresh_tokens WHERE used_at IS NULL GROUP BY session_id",
        ))
        .await
        .unwrap();
    let live = count(&live);
    assert_eq!(live.len(), CLIENTS, "{live:?}");
    assert!(
        live.iter().all(|(_, n)| *n == 1),
        "a session has several live tokens: {live:?}"
    );
    let revoked = db
        .query_one(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM inkan_sessions WHERE revoked_at IS NOT NULL",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(revoked, 0, "a kill ended a session");
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_killed_mid_rotation_leaves_every_chain_usable() {
        super::killed_mid_rotation_every_chain_goes_on(super::Backend::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_killed_mid_rotation_leaves_every_chain_usable() {
        super::killed_mid_rotation_every_chain_goes_on(super::Backend::Postgres).await;
    }
}

mod mysql {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_killed_mid_rotation_leaves_every_chain_usable() {
        super::killed_mid_rotation_every_chain_goes_on(super::Backend::Mysql).await;
    }
}
