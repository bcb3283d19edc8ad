//! A rollout as Kubernetes does it: SIGTERM to a server under load. Health
//! must say NOT_SERVING at once, calls must go on being served through the
//! drain period (endpoints are still being removed), then the server stops
//! accepting, lets calls in flight finish, ends its streams with
//! UNAVAILABLE (reconnect elsewhere) and exits in time. No call inside the
//! drain period may fail; after it, only calls the server never took may,
//! with a code a client retries on another replica.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::StreamExt;
use inkan::proto::v1::{token_service_client::TokenServiceClient, WatchKeysRequest};
use tonic::{transport::Channel, Code};
use tonic_health::pb::{
    health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
};

use crate::common::{eventually, issue_request, serve_process, server_config};

/// How long the server is configured to serve on after SIGTERM.
const DRAIN: Duration = Duration::from_secs(3);
/// How long calls in flight then get.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let ledger = format!("sqlite://{}?mode=rwc", dir.join("ledger.db").display());
    server_config(
        dir,
        &ledger,
        &format!(
            "migrate_on_start = true\nlog_format = \"json\"\ndrain_period = \"{}s\"\n\
             shutdown_timeout = \"{}s\"",
            DRAIN.as_secs(),
            SHUTDOWN_TIMEOUT.as_secs()
        ),
    )
}

/// A call's code, where a call the connection refused before the server
/// took it counts as UNAVAILABLE: tonic's client reports a stream cut by the
/// server's GOAWAY (h2 `NO_ERROR`, sent as the drain ends) as INTERNAL
/// "h2 protocol error", where gRPC's own clients say UNAVAILABLE. An
/// INTERNAL answered by inkan itself has no such message and stays INTERNAL.
fn transport_code(status: &tonic::Status) -> Code {
    if status.code() == Code::Internal && status.message().starts_with("h2 protocol error") {
        Code::Unavailable
    } else {
        status.code()
    }
}

/// Every call one load client made: when it started, and how it ended.
type Calls = Arc<Mutex<Vec<(Instant, Result<(), Code>)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_drains_every_call_and_exits_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let (mut child, addr) = tokio::task::spawn_blocking(move || serve_process(&config))
        .await
        .unwrap();
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();

    let calls: Calls = Arc::default();
    let mut load = Vec::new();
    for worker in 0..6 {
        let (calls, mut client) = (calls.clone(), TokenServiceClient::new(channel.clone()));
        load.push(tokio::spawn(async move {
            // Until the server stops answering: a refused call ends the
            // worker, as a client would turn to another replica.
            loop {
                let started = Instant::now();
                let outcome = client
                    .issue(issue_request(&format!("user-{worker}")))
                    .await
                    .map(drop)
                    .map_err(|status| transport_code(&status));
                let failed = outcome.is_err();
                calls.lock().unwrap().push((started, outcome));
                if failed {
                    return;
                }
            }
        }));
    }
    let mut keys = TokenServiceClient::new(channel.clone())
        .watch_keys(WatchKeysRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(keys.next().await.unwrap().is_ok(), "the current key set");
    // The load is under way when SIGTERM comes.
    eventually("the load is served", Duration::from_secs(10), || async {
        let calls = calls.lock().unwrap();
        calls.iter().filter(|(_, outcome)| outcome.is_ok()).count() >= 30
    })
    .await;

    let terminated = Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());

    // Health says so at once, while the server still answers.
    let health = HealthClient::new(channel.clone());
    eventually(
        "health says NOT_SERVING during the drain period",
        DRAIN.saturating_sub(terminated.elapsed()),
        || async {
            let status = health
                .clone()
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .map(|r| r.into_inner().status);
            status.ok() == Some(ServingStatus::NotServing as i32)
        },
    )
    .await;
    let not_serving = terminated.elapsed();

    // The process ends within the drain period plus the shutdown timeout.
    let bound = DRAIN + SHUTDOWN_TIMEOUT + Duration::from_secs(5);
    eventually(
        "inkan exits after SIGTERM",
        bound.saturating_sub(terminated.elapsed()),
        || {
            let exited = child.try_wait().unwrap().is_some();
            async move { exited }
        },
    )
    .await;
    let exit = child.wait().unwrap();
    assert!(exit.success(), "inkan exited with {exit}");
    for worker in load {
        tokio::time::timeout(Duration::from_secs(10), worker)
            .await
            .expect("every load client stops once the server is gone")
            .unwrap();
    }

    // The key stream ended with the code that says "reconnect elsewhere".
    let ended = loop {
        match tokio::time::timeout(Duration::from_secs(5), keys.next()).await {
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(status))) => break Some(status.code()),
            Ok(None) | Err(_) => break None,
        }
    };
    assert_eq!(ended, Some(Code::Unavailable));

    let calls = calls.lock().unwrap();
    let drained_by = terminated + DRAIN - Duration::from_millis(500);
    let served_while_draining = calls
        .iter()
        .filter(|(started, outcome)| *started > terminated && outcome.is_ok())
        .count();
    for (started, outcome) in calls.iter() {
        if let Err(code) = outcome {
            // After the drain, a call the server no longer takes is refused
            // (UNAVAILABLE), or, when it races the connection's close, ends
            // CANCELLED without an answer: both tell a client to try another
            // replica, and neither was a call the server had accepted.
            assert!(
                matches!(code, Code::Unavailable | Code::Cancelled),
                "a call started {:?} after SIGTERM failed with {code:?}",
                started.checked_duration_since(terminated)
            );
            assert!(
                *started >= drained_by,
                "a call started {:?} after SIGTERM failed, inside the drain period",
                started.duration_since(terminated)
            );
        }
    }
    assert!(
        served_while_draining > 0,
        "no call was served after SIGTERM (health went NOT_SERVING after {not_serving:?})"
    );
}
