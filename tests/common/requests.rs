//! Requests as tests send them, and how their answers are checked: the
//! callers' API keys on a request, the failure contract a refusal must
//! keep, and the health and HTTP endpoints read by hand.

use std::{net::SocketAddr, time::Duration};

use inkan::proto::v1::VerifyRequest;
use tonic::{transport::Channel, Code, Request, Status};
use tonic_types::StatusExt;

use super::{ADMIN_KEY, VERIFIER_KEY};

/// The ledger health status (`inkan.v1.TokenService/Ledger`) a server at
/// `addr` reports, or `None` when it does not answer.
pub(crate) async fn ledger_health(addr: SocketAddr) -> Option<i32> {
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    let ask = async {
        let channel = Channel::from_shared(format!("http://{addr}"))
            .ok()?
            .connect()
            .await
            .ok()?;
        let request = HealthCheckRequest {
            service: "inkan.v1.TokenService/Ledger".into(),
        };
        let answer = HealthClient::new(channel).check(request).await.ok()?;
        Some(answer.into_inner().status)
    };
    // A port that takes the connection and never answers (TLS waiting for
    // a handshake) does not answer either.
    tokio::time::timeout(Duration::from_secs(5), ask)
        .await
        .ok()
        .flatten()
}

/// `message` with `key` in the x-api-key header.
pub(crate) fn with_key<T>(message: T, key: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("x-api-key", key.parse().unwrap());
    request
}

/// A Verify of `token` by the verifier-only caller, asking for no audience
/// or scope.
pub(crate) fn verify(token: &str) -> Request<VerifyRequest> {
    verify_for(token, "", &[])
}

/// A Verify of `token` by the verifier-only caller, for `audience` and
/// with `scopes` required.
pub(crate) fn verify_for(token: &str, audience: &str, scopes: &[&str]) -> Request<VerifyRequest> {
    with_key(
        VerifyRequest {
            access_token: token.into(),
            audience: audience.into(),
            required_scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        },
        VERIFIER_KEY,
    )
}

/// `message` from the all-permissions caller.
pub(crate) fn admin<T>(message: T) -> Request<T> {
    with_key(message, ADMIN_KEY)
}

/// The code, reason and action of a failed call, checked against the
/// contract's ErrorInfo shape.
pub(crate) fn failure(status: &Status) -> (Code, String, String) {
    let info = status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("status without ErrorInfo: {status:?}"));
    assert_eq!(info.domain, "inkan");
    let action = info.metadata.get("action").cloned().unwrap_or_default();
    (status.code(), info.reason, action)
}

/// Asserts that `result` failed with `reason`, the code and action DESIGN.md
/// binds to it, and returns the message.
pub(crate) fn assert_refused<T: std::fmt::Debug>(
    result: Result<T, Status>,
    reason: &str,
) -> String {
    let status = result.expect_err(&format!("expected {reason}"));
    let (code, got, action) = failure(&status);
    assert_eq!(got, reason, "message: {}", status.message());
    let (want_code, want_action) = contract(reason);
    assert_eq!(code, want_code, "code of {reason}");
    assert_eq!(action, want_action, "action of {reason}");
    status.message().to_owned()
}

/// The failure table of docs/contract.md, written out independently of
/// the code.
pub(crate) fn contract(reason: &str) -> (Code, &'static str) {
    use Code::*;
    match reason {
        "TOKEN_MALFORMED" => (Unauthenticated, "reauthenticate"),
        "TOKEN_EXPIRED" => (Unauthenticated, "refresh"),
        "TOKEN_NOT_YET_VALID" => (Unauthenticated, "retry"),
        "SIGNATURE_INVALID" | "KEY_UNKNOWN" | "ALGORITHM_MISMATCH" | "TOKEN_TYPE_INVALID"
        | "ISSUER_MISMATCH" | "AUDIENCE_MISMATCH" | "SESSION_REVOKED" => {
            (Unauthenticated, "reauthenticate")
        }
        "INSUFFICIENT_SCOPE" => (PermissionDenied, "none"),
        "REFRESH_TOKEN_INVALID" | "REFRESH_TOKEN_EXPIRED" | "REFRESH_TOKEN_REUSED" => {
            (Unauthenticated, "reauthenticate")
        }
        "CALLER_UNAUTHENTICATED" => (Unauthenticated, "none"),
        "CALLER_FORBIDDEN" => (PermissionDenied, "none"),
        "INVALID_REQUEST" => (InvalidArgument, "none"),
        "STORAGE_UNAVAILABLE" => (Unavailable, "retry"),
        "TOO_MANY_STREAMS" => (ResourceExhausted, "retry"),
        other => panic!("{other} is not in the contract"),
    }
}

/// An Issue request for `subject` with one audience and scope.
pub(crate) fn issue_request(subject: &str) -> inkan::proto::v1::IssueRequest {
    inkan::proto::v1::IssueRequest {
        subject: subject.into(),
        audience: vec!["orders".into()],
        scopes: vec!["orders:read".into(), "orders:write".into()],
        claims: None,
        client_id: "web".into(),
        device: "Firefox on Linux".into(),
    }
}

/// A plain HTTP/1.1 GET against the test server: status line, headers, body.
pub(crate) async fn http_get(
    addr: SocketAddr,
    path: &str,
) -> (String, Vec<(String, String)>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

/// An HTTP/1.1 answer as the tests read it: status code, headers (names
/// lowercased), body.
pub(crate) struct HttpAnswer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl HttpAnswer {
    /// The header `name` (lowercase), if sent.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
}

/// Sends one HTTP/1.1 request (`head` is the method and path) with
/// `headers` and `body` over `stream`, plain or TLS, and reads the answer
/// to the end (`Connection: close`). Bodies here are small and sent
/// whole, never chunked.
pub(crate) async fn http_exchange<S>(
    mut stream: S,
    host: &str,
    head: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpAnswer
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut request = format!(
        "{head} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {raw}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    HttpAnswer {
        status,
        headers,
        body: body.to_owned(),
    }
}
