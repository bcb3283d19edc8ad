//! Wiring: the ledger, the keys, the authority, and the gRPC and HTTP
//! servers around them, with health reporting and background work.
//!
//! [`Server::build`] does everything that can fail at start-up (connecting,
//! migrating, loading and self-testing the keys, binding the ports), so a
//! bad configuration stops the process before it serves anything.
//! [`Server::run`] serves until the shutdown future resolves, like
//! mini-redis's `server::run(listener, shutdown)`: tests own both.

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use secrecy::ExposeSecret;
use tokio::{net::TcpListener, sync::watch, task::JoinSet};
use tokio_stream::wrappers::TcpListenerStream;
use tonic_health::{server::HealthReporter, ServingStatus};
use tracing::{info, warn};

mod background;

use crate::{
    authority::Authority,
    callers::CallerRegistry,
    config::{Config, KeySource, DEV_DATABASE_FILE},
    grpc::{health_names, TokenServiceImpl, MAX_REQUEST_BYTES},
    keys::{read_key_file, KeyAlgorithm, KeySet, KeySetFile, KeyStore},
    ledger::Ledger,
    metrics::Metrics,
    proto::{self, v1::token_service_server::TokenServiceServer},
    revocations::RevocationCache,
};
use background::{purge_ended, watch_key_file, watch_ledger};

/// How often the revocation cache polls the ledger.
const REVOCATION_POLL: Duration = Duration::from_millis(500);
/// How often the ledger's health is checked.
const LEDGER_HEALTH_INTERVAL: Duration = Duration::from_secs(5);
/// How often ended sessions are purged.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);
/// How long calls in flight may take to finish after shutdown begins.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(20);
/// How long ended records are kept before purging, for investigations.
const PURGE_RETENTION_SECS: i64 = 86_400;

/// Start-up failed. The message is one line naming what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("key set {path}: {source}")]
    Keys {
        path: String,
        source: crate::keys::KeySetError,
    },
    #[error("cannot generate the dev key: {0}")]
    DevKey(crate::keys::KeySetError),
    #[error("cannot open the ledger database (check database_url / INKAN_DATABASE_URL): {0}")]
    Ledger(crate::ledger::LedgerError),
    #[error("self-test failed: {0}")]
    SelfTest(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Serve(String),
}

/// A server that has started everything but not yet begun to serve.
pub struct Server {
    authority: Arc<Authority>,
    /// The key-set file and the digest of what was loaded from it.
    key_file: Option<(PathBuf, Vec<u8>)>,
    key_reload_interval: Duration,
    callers: Arc<CallerRegistry>,
    revocations: Arc<RevocationCache>,
    reflection: bool,
    grpc: TcpListener,
    http: TcpListener,
}

/// A key set as loaded at start-up, and what the operator should hear
/// about it.
#[derive(Debug)]
pub struct LoadedKeys {
    /// The validated key set.
    pub set: KeySet,
    /// Problems that do not stop it being used, one sentence each.
    pub warnings: Vec<String>,
    /// The digest of the file's bytes it came from (so the reload watcher
    /// starts from exactly what was loaded); `None` for an ephemeral key.
    digest: Option<Vec<u8>>,
}

/// Loads the key set the configuration names, refusing a file that others
/// than its owner may write (see [`crate::keys::read_key_file`]).
pub fn load_keys(source: &KeySource) -> Result<LoadedKeys, StartupError> {
    let path = match source {
        KeySource::File(path) => path,
        KeySource::Ephemeral => {
            let set = KeySet::ephemeral(KeyAlgorithm::EdDSA).map_err(StartupError::DevKey)?;
            return Ok(LoadedKeys {
                set,
                warnings: Vec::new(),
                digest: None,
            });
        }
    };
    let refused = |source| StartupError::Keys {
        path: path.display().to_string(),
        source,
    };
    let read = read_key_file(path).map_err(refused)?;
    let text = String::from_utf8_lossy(&read.bytes);
    let file = KeySetFile::parse(&text).map_err(refused)?;
    let set = KeySet::from_file_contents(&file).map_err(refused)?;
    let mut warnings = read.warnings;
    warnings.extend(set.local_verification_warning());
    Ok(LoadedKeys {
        set,
        warnings,
        digest: Some(background::digest(&read.bytes)),
    })
}

impl Server {
    /// Connects, migrates (when configured), loads and self-tests the keys,
    /// and binds both ports.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        if config.dev {
            warn!("DEV MODE: callers are not authenticated, Issue is open to anyone; never expose this server");
            // Relative to where the server was started, which a log reader
            // cannot know: say where the file is.
            let database = std::env::current_dir()
                .map(|dir| dir.join(DEV_DATABASE_FILE).display().to_string())
                .unwrap_or_else(|_| DEV_DATABASE_FILE.to_owned());
            warn!(database = %database, "DEV MODE: the ledger is the SQLite file {database}");
        }
        let LoadedKeys {
            set: keys,
            warnings,
            digest: loaded_digest,
        } = load_keys(&config.keys)?;
        for warning in warnings {
            warn!("{warning}");
        }
        if config.keys == KeySource::Ephemeral {
            warn!(
                kid = %keys.active().kid(),
                "DEV MODE: signing with an ephemeral EdDSA key that exists only in this process; \
                 every token dies with it (pass --keys FILE to keep them)"
            );
        }
        for key in keys.keys() {
            info!(kid = %key.kid(), alg = %key.alg(), state = %key.state(), fingerprint = key.fingerprint(), "key loaded");
        }
        let ledger = Ledger::connect(config.database_url.expose_secret())
            .await
            .map_err(StartupError::Ledger)?;
        if config.migrate_on_start {
            ledger.migrate().await.map_err(StartupError::Ledger)?;
        }
        let retention = config.policy.access_token_ttl + config.policy.leeway;
        let revocations = Arc::new(RevocationCache::new(retention));
        let loaded = revocations
            .load_all(&ledger)
            .await
            .map_err(StartupError::Ledger)?;
        info!(revoked_sessions = loaded, "revocations loaded");
        if config.dev {
            warn!(issuer = %config.policy.issuer, "DEV MODE: issuer derived from the HTTP address");
        }

        let metrics = Arc::new(Metrics::new());
        let authority = Arc::new(Authority::new(
            config.policy,
            KeyStore::new(keys),
            ledger,
            revocations.clone(),
            metrics,
        ));
        authority.self_test().map_err(StartupError::SelfTest)?;

        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| StartupError::Bind { addr, source })
        };
        let key_file = match (&config.keys, loaded_digest) {
            (KeySource::File(path), Some(digest)) => Some((path.clone(), digest)),
            _ => None,
        };
        Ok(Self {
            authority,
            key_file,
            key_reload_interval: config.key_reload_interval,
            callers: Arc::new(config.callers),
            revocations,
            reflection: config.reflection,
            grpc: bind(config.grpc_addr).await?,
            http: bind(config.http_addr).await?,
        })
    }

    /// Where gRPC is served.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Where HTTP (JWKS, discovery) is served.
    pub fn http_addr(&self) -> SocketAddr {
        self.http
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The authority being served.
    pub fn authority(&self) -> &Arc<Authority> {
        &self.authority
    }

    /// Serves until `shutdown` resolves, then reports NOT_SERVING, stops
    /// accepting calls, lets calls in flight finish, and returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let (reporter, health_service) = tonic_health::server::health_reporter();
        report(&reporter, &health_names::ALL, ServingStatus::NotServing).await;

        let (grpc_addr, http_addr) = (self.grpc_addr(), self.http_addr());
        let (stop_tx, stop_rx) = watch::channel(false);
        let streams_stop = stop_rx.clone();
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        };
        let mut tasks = JoinSet::new();

        let reflection_v1 = reflection()
            .build_v1()
            .map_err(|e| StartupError::Serve(e.to_string()))?;
        let reflection_v1alpha = reflection()
            .build_v1alpha()
            .map_err(|e| StartupError::Serve(e.to_string()))?;
        let token_service = TokenServiceServer::new(TokenServiceImpl::new(
            self.authority.clone(),
            self.callers.clone(),
            streams_stop,
        ))
        .max_decoding_message_size(MAX_REQUEST_BYTES);
        let grpc = tonic::transport::Server::builder()
            .add_service(health_service)
            .add_optional_service(self.reflection.then_some(reflection_v1))
            .add_optional_service(self.reflection.then_some(reflection_v1alpha))
            .add_service(token_service)
            .serve_with_incoming_shutdown(TcpListenerStream::new(self.grpc), stopped());
        let http = axum::serve(self.http, crate::http::router(self.authority.clone()))
            .with_graceful_shutdown(stopped());

        {
            let revocations = self.revocations.clone();
            let ledger = self.authority.ledger().clone();
            let stop = stopped();
            tasks.spawn(async move { revocations.sync(ledger, REVOCATION_POLL, stop).await });
        }
        tasks.spawn(watch_ledger(
            self.authority.ledger().clone(),
            reporter.clone(),
            stopped(),
        ));
        tasks.spawn(purge_ended(self.authority.ledger().clone(), stopped()));
        if let Some((path, loaded)) = self.key_file.clone() {
            tasks.spawn(watch_key_file(
                path,
                loaded,
                self.authority.clone(),
                self.key_reload_interval,
                stopped(),
            ));
        }

        // The keys were self-tested in build(); test again right before
        // reporting SERVING, through the keys as now published.
        self.authority.self_test().map_err(StartupError::SelfTest)?;
        report(
            &reporter,
            &[
                health_names::SERVER,
                health_names::TOKEN_SERVICE,
                health_names::VERIFY,
            ],
            ServingStatus::Serving,
        )
        .await;
        info!(grpc = %grpc_addr, http = %http_addr, "serving");

        let grpc_task = tokio::spawn(grpc);
        let http_task = tokio::spawn(async move { http.await });
        shutdown.await;
        info!("shutting down: reporting NOT_SERVING and finishing calls in flight");
        report(&reporter, &health_names::ALL, ServingStatus::NotServing).await;
        let _ = stop_tx.send(true);
        // Calls in flight get until the deadline, which stays inside
        // Kubernetes' default 30 s grace period.
        let drained = tokio::time::timeout(SHUTDOWN_DEADLINE, async {
            (grpc_task.await, http_task.await)
        })
        .await;
        let Ok((grpc_result, http_result)) = drained else {
            warn!("calls still in flight at the shutdown deadline; exiting anyway");
            return Ok(());
        };
        while tasks.join_next().await.is_some() {}
        match (grpc_result, http_result) {
            (Ok(Ok(())), Ok(Ok(()))) => Ok(()),
            (grpc, http) => Err(StartupError::Serve(format!(
                "gRPC: {grpc:?}, HTTP: {http:?}"
            ))),
        }
    }
}

/// Sets every named health status at once.
async fn report(reporter: &HealthReporter, names: &[&str], status: ServingStatus) {
    for name in names {
        reporter.set_service_status(*name, status).await;
    }
}

/// Reflection over inkan's protocol, the error details its failures carry
/// (so grpcurl prints them) and the health service.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}
