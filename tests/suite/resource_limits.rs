//! What one anonymous client can make the server hold is bounded: watch
//! streams, partial messages, silent and idle connections. Each test runs
//! the real `inkan serve` process and reads its memory from `/proc`; every
//! flood is bounded in count and time.

use std::{
    net::SocketAddr,
    process::Child,
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::future::join_all;
use inkan::proto::v1::{token_service_client::TokenServiceClient, WatchKeysRequest};
use tokio::{io::AsyncReadExt, net::TcpStream};
use tonic::{transport::Channel, Code};

use crate::common::{failure, issue_request, serve_process, server_config, Served};

/// A server process with the default limits unless `extra` sets others.
fn serve(extra: &str) -> (Child, SocketAddr, tempfile::TempDir) {
    let (config, dir) = config(extra);
    let (child, addr) = serve_process(&config);
    (child, addr, dir)
}

/// [`serve`], as a [`Served`] whose metrics and log can be read.
fn served(extra: &str) -> (Served, tempfile::TempDir) {
    let (config, dir) = config(extra);
    (Served::start(&config), dir)
}

/// A config on a SQLite ledger of its own, with `extra` settings.
fn config(extra: &str) -> (std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("ledger.db").display()
    );
    let config = server_config(
        dir.path(),
        &url,
        &format!("migrate_on_start = true\n{extra}"),
    );
    (config, dir)
}

/// The process's resident memory, in MiB.
fn rss_mib(child: &Child) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmRSS in /proc/<pid>/status");
    kib / 1024.0
}

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// The server still does its job: a fresh client gets a session.
async fn still_serves(addr: SocketAddr) {
    let mut client = TokenServiceClient::new(channel(addr).await);
    tokio::time::timeout(
        Duration::from_secs(10),
        client.issue(issue_request("still-here")),
    )
    .await
    .expect("Issue answers in time")
    .expect("Issue succeeds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_stream_flood_from_anonymous_clients_stays_bounded() {
    let (mut server, addr, _dir) = serve("");
    still_serves(addr).await;
    let before = rss_mib(&server);
    // 8 connections, 1,000 WatchKeys each, all at once: what an anonymous
    // client did to take the pod over its memory limit.
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..8 {
        let client = TokenServiceClient::new(channel(addr).await);
        let calls = (0..1000).map(|_| {
            let mut client = client.clone();
            async move { client.watch_keys(WatchKeysRequest::default()).await }
        });
        for result in join_all(calls).await {
            match result {
                Ok(stream) => open.push(stream.into_inner()),
                Err(status) => {
                    let (code, reason, action) = failure(&status);
                    assert_eq!(
                        (code, reason.as_str(), action.as_str()),
                        (Code::ResourceExhausted, "TOO_MANY_STREAMS", "retry"),
                        "{status:?}"
                    );
                    refused += 1;
                }
            }
        }
    }
    assert_eq!(
        open.len(),
        16,
        "anonymous callers share max_anonymous_watch_streams"
    );
    assert_eq!(refused, 8000 - 16);
    let after = rss_mib(&server);
    assert!(
        after - before < 32.0,
        "a stream flood grew the server from {before:.1} to {after:.1} MiB"
    );
    still_serves(addr).await;
    // Closing streams gives their slots back.
    drop(open);
    crate::common::eventually("a slot is free again", Duration::from_secs(5), || async {
        let mut client = TokenServiceClient::new(channel(addr).await);
        client.watch_keys(WatchKeysRequest::default()).await.is_ok()
    })
    .await;
    server.kill().unwrap();
    server.wait().unwrap();
}

/// Opens a health check on `connection` and sends the first 16 KiB of a
/// message whose prefix claims 4 MiB, never ending it; returns the
/// `grpc-status` the server answers with.
async fn partial_health_check(addr: SocketAddr) -> Option<String> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let request = http::Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let (response, mut body) = client.send_request(request, false).unwrap();
    let mut message = vec![0u8];
    message.extend_from_slice(&(4u32 << 20).to_be_bytes());
    message.extend_from_slice(&[0u8; 16 * 1024]);
    body.send_data(Bytes::from(message), false).unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), response)
        .await
        .ok()?
        .ok()?;
    if let Some(status) = response.headers().get("grpc-status") {
        return Some(status.to_str().unwrap().to_owned());
    }
    let mut body = response.into_body();
    while body.data().await.is_some() {}
    let trailers = body.trailers().await.ok()??;
    Some(trailers.get("grpc-status")?.to_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_oversized_messages_are_refused_at_once_on_every_service() {
    let (mut server, addr, _dir) = serve("");
    still_serves(addr).await;
    let before = rss_mib(&server);
    let answers = join_all((0..100).map(|_| partial_health_check(addr))).await;
    for answer in answers {
        // RESOURCE_EXHAUSTED or OUT_OF_RANGE: refused on its length prefix,
        // not buffered while the rest of 4 MiB is awaited.
        let status = answer.expect("refused before the rest of the message arrives");
        assert!(status == "8" || status == "11", "grpc-status {status}");
    }
    let after = rss_mib(&server);
    assert!(
        after - before < 32.0,
        "partial messages grew the server from {before:.1} to {after:.1} MiB"
    );
    still_serves(addr).await;
    server.kill().unwrap();
    server.wait().unwrap();
}

/// Whether the server has closed `stream` within `deadline`.
async fn closed_within(stream: &mut TcpStream, deadline: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let end = Instant::now() + deadline;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // The server's HTTP/2 settings, or a GOAWAY: keep reading.
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_idle_connections_are_closed_and_never_lock_callers_out() {
    let (server, _dir) =
        served("max_connections = 8\nhttp_header_timeout = \"1s\"\nidle_timeout = \"2s\"");
    let addr = server.grpc;
    // Every slot taken by a connection that never says a word.
    let mut silent = Vec::new();
    for _ in 0..8 {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    // A caller still gets in: the idlest connection makes room, and the
    // operator sees it happen.
    still_serves(addr).await;
    let evicted = server
        .metric("inkan_connections_closed_total{port=\"grpc\",why=\"evicted_idle\"}")
        .await;
    assert!(
        evicted.is_some_and(|n| n >= 1.0),
        "an eviction is counted: {evicted:?}"
    );
    for stream in &mut silent {
        assert!(
            closed_within(stream, Duration::from_secs(5)).await,
            "a silent connection is closed after the preface timeout"
        );
    }
    // One with a stream open is never idle: opened now, and used again
    // after twice the idle timeout, while the next check runs.
    let mut client = TokenServiceClient::new(channel(addr).await);
    let mut keys = client
        .watch_keys(WatchKeysRequest::default())
        .await
        .unwrap()
        .into_inner();
    keys.message().await.unwrap().expect("the current key set");
    let streaming_since = Instant::now();
    // A connection that speaks HTTP/2 but opens no call is closed once
    // idle.
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (_client, connection) = h2::client::handshake(tcp).await.unwrap();
    let started = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(10), connection).await;
    assert!(ended.is_ok(), "an idle connection is closed");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "not before its idle timeout: {:?}",
        started.elapsed()
    );
    // Real time: the idle timeout is the server process's own timer.
    let idle_twice_over = Duration::from_secs(4).saturating_sub(streaming_since.elapsed());
    tokio::time::sleep(idle_twice_over).await;
    client
        .issue(issue_request("on-a-busy-connection"))
        .await
        .expect("a connection carrying a stream outlives the idle timeout");
    drop(server);
}
