//! The test harness: a real inkan server, in-process on 127.0.0.1:0, over a
//! fresh database of the chosen backend, called through the generated
//! client. SQLite always runs; PostgreSQL runs when INKAN_TEST_DATABASE_URL
//! is set and MySQL/MariaDB when INKAN_TEST_MYSQL_URL is set (a server URL;
//! each test creates its own database there). When INKAN_REQUIRE_BACKENDS
//! names a backend (as `.ci/run` does), its absence fails instead of
//! skipping.

#![allow(dead_code)]

use std::{net::SocketAddr, path::PathBuf, sync::Once, time::Duration};

use inkan::{
    callers::{CallerConfig, Permission},
    config::Settings,
    keys::{KeyAlgorithm, KeySet, KeySetFile},
    proto::v1::token_service_client::TokenServiceClient,
    server::Server,
};
use sea_orm::{ConnectionTrait, Database};
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use tonic::{transport::Channel, Code, Request, Status};
use tonic_types::StatusExt;

/// The issuer every test server uses.
pub const ISSUER: &str = "https://inkan.test";
/// API key of a caller with every permission.
pub const ADMIN_KEY: &str = "test-admin-key-0123456789";
/// API key of a caller that may only issue.
pub const ISSUER_KEY: &str = "test-issuer-key-0123456789";
/// API key of a caller with no permission: it may Verify, nothing more.
pub const VERIFIER_KEY: &str = "test-verifier-key-0123456789";
/// API key of a caller that may see subjects' cut-offs on WatchRevocations.
pub const WATCHER_KEY: &str = "test-watcher-key-0123456789";

/// A database engine the ledger runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

impl Backend {
    fn server_url(self) -> Option<String> {
        let var = match self {
            Backend::Sqlite => return Some(String::new()),
            Backend::Postgres => "INKAN_TEST_DATABASE_URL",
            Backend::Mysql => "INKAN_TEST_MYSQL_URL",
        };
        std::env::var(var).ok().filter(|v| !v.is_empty())
    }

    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
        }
    }

    /// Whether this backend can run here; panics when it is required but
    /// not configured, so CI cannot silently lose a backend.
    pub fn available(self) -> bool {
        if self.server_url().is_some() {
            return true;
        }
        let required = std::env::var("INKAN_REQUIRE_BACKENDS").unwrap_or_default();
        if required.split(',').any(|b| b.trim() == self.name()) {
            panic!(
                "backend {} is required (INKAN_REQUIRE_BACKENDS) but its URL is not set",
                self.name()
            );
        }
        eprintln!("skipping the {} run: its URL is not set", self.name());
        false
    }
}

/// Runs `$body` (an async block using `app`) once per backend, as one test
/// function per backend: `mod sqlite`, `mod postgres`, `mod mysql`.
#[macro_export]
macro_rules! backend_tests {
    ($($(#[$meta:meta])* async fn $name:ident($app:ident: $ty:ty) $body:block)*) => {
        $(
            $(#[$meta])*
            async fn $name($app: $ty) $body
        )*
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::common::TestApp::spawn(super::common::Backend::Sqlite).await).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if super::common::Backend::Postgres.available() {
                    super::$name(super::common::TestApp::spawn(super::common::Backend::Postgres).await).await
                }
            })*
        }
        mod mysql {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if super::common::Backend::Mysql.available() {
                    super::$name(super::common::TestApp::spawn(super::common::Backend::Mysql).await).await
                }
            })*
        }
    };
}

/// Runs each `async fn $name(backend: Backend)` once per backend, for
/// tests that start their servers with options of their own.
#[macro_export]
macro_rules! backend_fns {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::common::Backend::Sqlite).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if super::common::Backend::Postgres.available() {
                    super::$name(super::common::Backend::Postgres).await
                }
            })*
        }
        mod mysql {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if super::common::Backend::Mysql.available() {
                    super::$name(super::common::Backend::Mysql).await
                }
            })*
        }
    };
}

/// Tunables a test may change before the server starts.
pub struct Options {
    pub reuse_grace: Duration,
    pub refresh_token_idle_ttl: Duration,
    pub session_lifetime: Duration,
    pub access_token_ttl: Duration,
    pub key_reload_interval: Duration,
    /// The key-set file to serve, instead of one fresh EdDSA key.
    pub keys_json: Option<String>,
    /// How long an HTTP client may take to send a request head.
    pub http_header_timeout: Duration,
    /// The tolerated clock difference (the server's default when `None`).
    pub leeway: Option<Duration>,
    /// How long ended sessions are kept (the server's default when `None`).
    pub purge_retention: Option<Duration>,
    /// The ledger to serve, instead of a fresh database: several servers
    /// sharing one, or a database reached through a proxy.
    pub database_url: Option<String>,
    /// Verify only for callers with the `verify` permission.
    pub verify_requires_permission: bool,
    /// Callers beyond the three API-key callers every server has.
    pub callers: Vec<CallerConfig>,
    /// TLS on the gRPC and HTTP ports.
    pub tls: Option<inkan::tls::TlsSettings>,
    /// The server's clock, for a test that moves time on (the system
    /// clock when `None`).
    pub clock: Option<inkan::clock::Clock>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            reuse_grace: Duration::from_secs(5),
            refresh_token_idle_ttl: Duration::from_secs(14 * 86_400),
            session_lifetime: Duration::from_secs(90 * 86_400),
            access_token_ttl: Duration::from_secs(900),
            key_reload_interval: Duration::from_millis(50),
            keys_json: None,
            http_header_timeout: Duration::from_secs(10),
            leeway: None,
            purge_retention: None,
            database_url: None,
            verify_requires_permission: false,
            callers: Vec::new(),
            tls: None,
            clock: None,
        }
    }
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub backend: Backend,
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    /// Where Prometheus `/metrics` is served.
    pub metrics_addr: SocketAddr,
    /// The key set the server signs with, for forging tokens in tests.
    pub keys: KeySet,
    pub keys_path: PathBuf,
    pub database_url: String,
    pub ledger: inkan::ledger::Ledger,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Holds the key-set file (and the SQLite ledger) until the app is
    /// dropped; `None` once handed to a restarted server.
    _dir: Option<tempfile::TempDir>,
}

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            // Kept for the whole test process: its lines are written as
            // soon as they queue up.
            std::mem::forget(inkan::telemetry::init(inkan::config::LogFormat::Pretty));
        }
    });
}

fn hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fresh, empty database on `backend`; returns its URL.
pub async fn fresh_database(backend: Backend, dir: &std::path::Path) -> String {
    let server = backend.server_url().expect("backend checked as available");
    if backend == Backend::Sqlite {
        return format!("sqlite://{}?mode=rwc", dir.join("ledger.db").display());
    }
    let name = format!("inkan_t_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(server.clone())
        .await
        .expect("test database server reachable");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    admin.close().await.ok();
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base.to_owned(), format!("?{query}")),
        None => (server.clone(), String::new()),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_end..].find('/') {
        Some(slash) => base[..authority_end + slash].to_owned(),
        None => base,
    };
    format!("{base}/{name}{query}")
}

impl TestApp {
    /// A server with default options.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, Options::default()).await
    }

    /// A server with `options`.
    pub async fn spawn_with(backend: Backend, options: Options) -> Self {
        init_logs();
        let dir = tempfile::tempdir().expect("temp dir");
        let keys_path = dir.path().join("keys.json");
        match &options.keys_json {
            Some(json) => {
                std::fs::write(&keys_path, json).unwrap();
                // Readable by others whatever the umask: the server warns
                // about such a file but uses it.
                #[cfg(unix)]
                std::fs::set_permissions(
                    &keys_path,
                    std::os::unix::fs::PermissionsExt::from_mode(0o644),
                )
                .unwrap();
            }
            None => KeySetFile::generate(KeyAlgorithm::EdDSA)
                .unwrap()
                .write(&keys_path)
                .unwrap(),
        }
        let database_url = match options.database_url.clone() {
            Some(url) => url,
            None => fresh_database(backend, dir.path()).await,
        };
        Self::serve(backend, &options, dir, keys_path, database_url).await
    }

    /// A second replica: another server on this one's database, with a
    /// copy of its key-set file.
    pub async fn replica(&self) -> Self {
        self.replica_with(Options::default()).await
    }

    /// A second replica started with `options` (its database and key set
    /// are this one's, whatever `options` say of them).
    pub async fn replica_with(&self, options: Options) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys_path = dir.path().join("keys.json");
        std::fs::copy(&self.keys_path, &keys_path).unwrap();
        Self::serve(
            self.backend,
            &options,
            dir,
            keys_path,
            self.database_url.clone(),
        )
        .await
    }

    /// Stops this server and starts a new one on the same database and
    /// key-set file, as a restarted process would be.
    pub async fn restart(mut self) -> Self {
        let dir = self._dir.take().expect("the app owns its directory");
        let (backend, keys_path, database_url) = (
            self.backend,
            self.keys_path.clone(),
            self.database_url.clone(),
        );
        self.stop().await;
        Self::serve(backend, &Options::default(), dir, keys_path, database_url).await
    }

    /// A server over `database_url` signing with the key set at
    /// `keys_path`, both kept in `dir`.
    async fn serve(
        backend: Backend,
        options: &Options,
        dir: tempfile::TempDir,
        keys_path: PathBuf,
        database_url: String,
    ) -> Self {
        let keys = KeySet::load(&keys_path).unwrap();
        let caller = |name: &str, key: &str, permissions: Vec<Permission>| CallerConfig {
            name: name.into(),
            api_key_sha256: Some(hash(key)),
            permissions,
            ..CallerConfig::default()
        };
        let mut callers = vec![
            caller(
                "admin",
                ADMIN_KEY,
                vec![Permission::Issue, Permission::Refresh, Permission::Admin],
            ),
            caller("login", ISSUER_KEY, vec![Permission::Issue]),
            caller("verifier", VERIFIER_KEY, vec![]),
            caller("watcher", WATCHER_KEY, vec![Permission::Revocations]),
        ];
        callers.extend(options.callers.iter().cloned());
        let settings = Settings {
            keys_file: Some(keys_path.clone()),
            database_url: Some(SecretString::from(database_url.clone())),
            issuer: Some(ISSUER.into()),
            grpc_addr: Some("127.0.0.1:0".parse().unwrap()),
            http_addr: Some("127.0.0.1:0".parse().unwrap()),
            metrics_addr: Some("127.0.0.1:0".parse().unwrap()),
            http_header_timeout: Some(options.http_header_timeout),
            reuse_grace: Some(options.reuse_grace),
            refresh_token_idle_ttl: Some(options.refresh_token_idle_ttl),
            session_lifetime: Some(options.session_lifetime),
            access_token_ttl: Some(options.access_token_ttl),
            key_reload_interval: Some(options.key_reload_interval),
            leeway: options.leeway,
            purge_retention: options.purge_retention,
            migrate_on_start: Some(true),
            callers,
            verify_requires_permission: options.verify_requires_permission,
            tls: options.tls.clone(),
            ..Settings::default()
        };
        let mut config = settings.validate().expect("valid test config");
        if let Some(clock) = &options.clock {
            config.clock = clock.clone();
        }
        let server = Server::build(config).await.expect("server starts");
        let (grpc_addr, http_addr, metrics_addr) = (
            server.grpc_addr(),
            server.http_addr(),
            server.metrics_addr(),
        );
        let ledger = server.authority().ledger().clone();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            server
                .run(async {
                    let _ = rx.await;
                })
                .await
                .expect("server runs and stops cleanly");
        });
        Self {
            backend,
            grpc_addr,
            http_addr,
            metrics_addr,
            keys,
            keys_path,
            database_url,
            ledger,
            shutdown: Some(tx),
            task: Some(task),
            _dir: Some(dir),
        }
    }

    /// A client of the token service.
    pub async fn client(&self) -> TokenServiceClient<Channel> {
        let channel = Channel::from_shared(format!("http://{}", self.grpc_addr))
            .unwrap()
            .connect()
            .await
            .expect("connect to the test server");
        TokenServiceClient::new(channel)
    }

    /// A channel to the server, for the health and other services.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.grpc_addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }
}

/// Polls `check` every 50 ms until it returns true; panics naming `what`
/// if it has not by `deadline`.
pub async fn eventually<F, Fut>(what: &str, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + deadline;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < end,
            "{what}: not within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ledger health status (`inkan.v1.TokenService/Ledger`) a server at
/// `addr` reports, or `None` when it does not answer.
pub async fn ledger_health(addr: SocketAddr) -> Option<i32> {
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
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
}

/// `message` with `key` in the x-api-key header.
pub fn with_key<T>(message: T, key: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("x-api-key", key.parse().unwrap());
    request
}

/// `message` from the all-permissions caller.
pub fn admin<T>(message: T) -> Request<T> {
    with_key(message, ADMIN_KEY)
}

/// The code, reason and action of a failed call, checked against the
/// contract's ErrorInfo shape.
pub fn failure(status: &Status) -> (Code, String, String) {
    let info = status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("status without ErrorInfo: {status:?}"));
    assert_eq!(info.domain, "inkan");
    let action = info.metadata.get("action").cloned().unwrap_or_default();
    (status.code(), info.reason, action)
}

/// Asserts that `result` failed with `reason`, the code and action DESIGN.md
/// binds to it, and returns the message.
pub fn assert_refused<T: std::fmt::Debug>(result: Result<T, Status>, reason: &str) -> String {
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
pub fn contract(reason: &str) -> (Code, &'static str) {
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
pub fn issue_request(subject: &str) -> inkan::proto::v1::IssueRequest {
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
pub async fn http_get(addr: SocketAddr, path: &str) -> (String, Vec<(String, String)>, String) {
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

/// Claims of a well-formed access token for `session`, as inkan signs them.
pub fn claims_for(session: &str) -> serde_json::Value {
    let now = inkan::clock::now();
    serde_json::json!({
        "iss": ISSUER,
        "sub": "user-42",
        "aud": "orders",
        "exp": now + 600,
        "iat": now,
        "nbf": now,
        "jti": uuid::Uuid::new_v4().to_string(),
        "sid": session,
        "client_id": "web",
        "scope": "orders:read",
    })
}

/// The header inkan puts on access tokens signed by the active key.
pub fn header_for(app: &TestApp) -> jsonwebtoken::Header {
    let key = app.keys.active();
    let mut header = jsonwebtoken::Header::new(key.alg().jws());
    header.typ = Some("at+jwt".into());
    header.kid = Some(key.kid().to_string());
    header
}

/// Signs `claims` under `header` with the server's own active key: a token
/// only the server (or its key-set file) could have made.
pub fn forge(app: &TestApp, header: &jsonwebtoken::Header, claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(header, claims, app.keys.active().encoding_key()).unwrap()
}

/// Runs the built `inkan` binary in `dir` with `args`, and none of the
/// developer's `INKAN_*` variables: only what the test passes.
pub fn run_inkan(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    run_inkan_with_env(args, &[], dir)
}

/// [`run_inkan`] with the environment variables `env` set.
pub fn run_inkan_with_env(
    args: &[&str],
    env: &[(&str, &str)],
    dir: &std::path::Path,
) -> std::process::Output {
    inkan_command(args, env, dir)
        .output()
        .expect("run the inkan binary")
}

/// [`run_inkan`] with `input` on its standard input.
pub fn run_inkan_with_stdin(
    args: &[&str],
    input: &str,
    dir: &std::path::Path,
) -> std::process::Output {
    use std::io::Write;
    let mut child = inkan_command(args, &[], dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the inkan binary");
    // Written from a thread, so a child that does not read cannot block
    // the test on a full pipe.
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let output = child.wait_with_output().expect("wait for the inkan binary");
    let _ = writer.join();
    output
}

fn inkan_command(
    args: &[&str],
    env: &[(&str, &str)],
    dir: &std::path::Path,
) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_inkan"));
    command.args(args).current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("INKAN_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    command
}

/// Runs `inkan migrate` with `config`, as an operator does before `check`
/// or `serve` on a new ledger; panics with its output if it fails.
pub fn migrate_with(config: &str, dir: &std::path::Path) {
    let out = run_inkan(&["migrate", "--config", config], dir);
    assert!(
        out.status.success(),
        "inkan migrate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `inkan serve` as its own process, and the gRPC address it logged.
pub fn serve_process(config: &std::path::Path) -> (std::process::Child, SocketAddr) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_inkan"));
    command
        .args(["serve", "--config", config.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (name, _) in std::env::vars() {
        if name.starts_with("INKAN_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    let mut child = command.spawn().expect("start inkan serve");
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let addr = loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            panic!("inkan serve stopped before serving: {}", seen.join("\n"));
        };
        if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) {
            if event["message"] == "serving" {
                break event["grpc"].as_str().unwrap().parse().unwrap();
            }
        }
        seen.push(line);
    };
    // Keep reading, so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

/// Writes a fresh EdDSA key set and a production-shaped `inkan.toml` into
/// `dir`: ledger at `database_url`, Issue open (these tests care about the
/// process, not callers), every listener on `127.0.0.1:0`, and `extra`
/// TOML lines on top. Returns the config's path.
pub fn server_config(dir: &std::path::Path, database_url: &str, extra: &str) -> PathBuf {
    let keys = dir.join("keys.json");
    KeySetFile::generate(KeyAlgorithm::EdDSA)
        .unwrap()
        .write(&keys)
        .unwrap();
    let path = dir.join("inkan.toml");
    std::fs::write(
        &path,
        format!(
            "keys_file = {keys:?}\ndatabase_url = {database_url:?}\nissuer = \"{ISSUER}\"\n\
             allow_open_issue = true\ngrpc_addr = \"127.0.0.1:0\"\nhttp_addr = \"127.0.0.1:0\"\n\
             metrics_addr = \"127.0.0.1:0\"\n{extra}\n",
            keys = keys.display().to_string()
        ),
    )
    .unwrap();
    path
}
