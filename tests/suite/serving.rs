//! The listeners as a client on the network meets them: metrics apart from
//! the public keys, and HTTP connections that cannot be held open by
//! sending nothing, or half a request.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::common::{http_get, verify, Backend, Options, TestApp};

/// Reads until the server closes the connection, for at most `limit`;
/// returns what was read, or `None` if the connection was still open.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    let read_all = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read_all).await.ok()?;
    Some(seen)
}

async fn app_with_header_timeout() -> TestApp {
    TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            http_header_timeout: Duration::from_millis(300),
            ..Options::default()
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_on_their_own_address_only() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // Something to count: one refused Verify.
    let refused = app.client().await.verify(verify("not-a-token")).await;
    assert!(refused.is_err());
    let (status, _, _) = http_get(app.http_addr, "/metrics").await;
    assert!(
        status.contains(" 404 "),
        "the public JWKS port must not serve /metrics: {status}"
    );
    let (status, _, body) = http_get(app.metrics_addr, "/metrics").await;
    assert!(status.contains(" 200 "), "{status}");
    assert!(
        body.contains("inkan_failures_total{reason=\"TOKEN_MALFORMED\"} 1"),
        "{body}"
    );
    let (status, _, _) = http_get(app.metrics_addr, inkan::http::JWKS_PATH).await;
    assert!(status.contains(" 404 "), "{status}");
    app.stop().await;
}

#[test]
fn metrics_default_to_loopback() {
    let settings = inkan::config::Settings {
        keys_file: Some("keys.json".into()),
        database_url: Some(secrecy::SecretString::from("postgres://db/inkan")),
        issuer: Some("https://auth.example.com".into()),
        allow_open_issue: true,
        ..Default::default()
    };
    let config = settings.validate().unwrap();
    assert!(config.metrics_addr.ip().is_loopback());
    assert_ne!(config.metrics_addr.port(), config.http_addr.port());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_that_never_ends_is_cut_off() {
    let app = app_with_header_timeout().await;
    for addr in [app.http_addr, app.metrics_addr] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // The first line of a request, and then nothing.
        stream
            .write_all(b"GET /.well-known/jwks.json HTTP/1.1\r\n")
            .await
            .unwrap();
        assert!(
            read_until_closed(&mut stream, Duration::from_secs(10))
                .await
                .is_some(),
            "{addr}: a connection that stopped mid-head was still open after 10 s"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_idle_connections_are_closed() {
    let app = app_with_header_timeout().await;
    // Connected, never a byte.
    let mut silent = TcpStream::connect(app.http_addr).await.unwrap();
    assert!(
        read_until_closed(&mut silent, Duration::from_secs(10))
            .await
            .is_some(),
        "a connection that sent nothing was still open after 10 s"
    );
    // One whole keep-alive request, answered, then idle.
    let mut idle = TcpStream::connect(app.http_addr).await.unwrap();
    idle.write_all(
        format!(
            "GET {} HTTP/1.1\r\nHost: inkan\r\n\r\n",
            inkan::http::JWKS_PATH
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let answered = read_until_closed(&mut idle, Duration::from_secs(10))
        .await
        .expect("an idle keep-alive connection was still open after 10 s");
    let answered = String::from_utf8_lossy(&answered);
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    app.stop().await;
}
