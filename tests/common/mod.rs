//! The test harness: a real inkan server, in-process on 127.0.0.1:0, over a
//! fresh database of the chosen backend, called through the generated
//! client. SQLite always runs; PostgreSQL runs when INKAN_TEST_DATABASE_URL
//! is set and MySQL/MariaDB when INKAN_TEST_MYSQL_URL is set (a server URL;
//! each test creates its own database there). When INKAN_REQUIRE_BACKENDS
//! names a backend (as `.ci/run` does), its absence fails instead of
//! skipping. What tests share beyond the server sits beside it: requests
//! and their checks, tokens made by hand, the `inkan` process, and waiting.

#![allow(dead_code)]

mod process;
mod requests;
mod tokens;
mod wait;

// A test binary uses what it needs of these, as of the rest of the
// harness (hence `dead_code` above).
#[allow(unused_imports)]
pub(crate) use {process::*, requests::*, tokens::*, wait::*};

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
use tokio::sync::oneshot;
use tonic::transport::Channel;

/// The issuer every test server uses.
pub(crate) const ISSUER: &str = "https://inkan.test";
/// API key of a caller with every permission.
pub(crate) const ADMIN_KEY: &str = "test-admin-key-0123456789";
/// API key of a caller that may only issue.
pub(crate) const ISSUER_KEY: &str = "test-issuer-key-0123456789";
/// API key of a caller with no permission: it may Verify, nothing more.
pub(crate) const VERIFIER_KEY: &str = "test-verifier-key-0123456789";
/// API key of a caller that may see subjects' cut-offs on WatchRevocations.
pub(crate) const WATCHER_KEY: &str = "test-watcher-key-0123456789";

/// A database engine the ledger runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
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
    pub(crate) fn available(self) -> bool {
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
pub(crate) struct Options {
    pub(crate) reuse_grace: Duration,
    pub(crate) refresh_token_idle_ttl: Duration,
    pub(crate) session_lifetime: Duration,
    pub(crate) access_token_ttl: Duration,
    pub(crate) key_reload_interval: Duration,
    /// The key-set file to serve, instead of one fresh EdDSA key.
    pub(crate) keys_json: Option<String>,
    /// How long an HTTP client may take to send a request head.
    pub(crate) http_header_timeout: Duration,
    /// The tolerated clock difference (the server's default when `None`).
    pub(crate) leeway: Option<Duration>,
    /// How long ended sessions are kept (the server's default when `None`).
    pub(crate) purge_retention: Option<Duration>,
    /// The ledger to serve, instead of a fresh database: several servers
    /// sharing one, or a database reached through a proxy.
    pub(crate) database_url: Option<String>,
    /// Verify only for callers with the `verify` permission.
    pub(crate) verify_requires_permission: bool,
    /// Callers beyond the three API-key callers every server has.
    pub(crate) callers: Vec<CallerConfig>,
    /// TLS on the gRPC and HTTP ports.
    pub(crate) tls: Option<inkan::tls::TlsSettings>,
    /// The server's clock, for a test that moves time on (the system
    /// clock when `None`).
    pub(crate) clock: Option<inkan::clock::Clock>,
    /// The discovery document's `jwks_uri` (the issuer's when `None`).
    pub(crate) public_jwks_url: Option<String>,
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
            public_jwks_url: None,
        }
    }
}

/// A running server and what a test needs to talk to it.
pub(crate) struct TestApp {
    pub(crate) backend: Backend,
    pub(crate) grpc_addr: SocketAddr,
    pub(crate) http_addr: SocketAddr,
    /// Where Prometheus `/metrics` is served.
    pub(crate) metrics_addr: SocketAddr,
    /// The key set the server signs with, for forging tokens in tests.
    pub(crate) keys: KeySet,
    pub(crate) keys_path: PathBuf,
    pub(crate) database_url: String,
    pub(crate) ledger: inkan::ledger::Ledger,
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

/// Sets `path`'s permission bits to `mode`, as `chmod` does.
#[cfg(unix)]
pub(crate) fn chmod(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A fresh, empty database on `backend`; returns its URL.
pub(crate) async fn fresh_database(backend: Backend, dir: &std::path::Path) -> String {
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
    pub(crate) async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, Options::default()).await
    }

    /// A server with `options`.
    pub(crate) async fn spawn_with(backend: Backend, options: Options) -> Self {
        init_logs();
        let dir = tempfile::tempdir().expect("temp dir");
        let keys_path = dir.path().join("keys.json");
        match &options.keys_json {
            Some(json) => {
                std::fs::write(&keys_path, json).unwrap();
                // Readable by others whatever the umask: the server warns
                // about such a file but uses it.
                #[cfg(unix)]
                chmod(&keys_path, 0o644);
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
    pub(crate) async fn replica(&self) -> Self {
        self.replica_with(Options::default()).await
    }

    /// A second replica started with `options` (its database and key set
    /// are this one's, whatever `options` say of them).
    pub(crate) async fn replica_with(&self, options: Options) -> Self {
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
    pub(crate) async fn restart(mut self) -> Self {
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
            api_key_sha256: Some(sha256_hex(key)),
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
            public_jwks_url: options.public_jwks_url.clone(),
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
    pub(crate) async fn client(&self) -> TokenServiceClient<Channel> {
        let channel = Channel::from_shared(format!("http://{}", self.grpc_addr))
            .unwrap()
            .connect()
            .await
            .expect("connect to the test server");
        TokenServiceClient::new(channel)
    }

    /// A channel to the server, for the health and other services.
    pub(crate) async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.grpc_addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// Stops the server and waits for it to finish.
    pub(crate) async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }
}
