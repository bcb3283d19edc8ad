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
use tokio::{net::TcpListener, sync::watch};
use tonic_health::{server::HealthReporter, ServingStatus};
use tracing::{error, info, warn};

mod background;
mod supervisor;

pub use supervisor::{error_chain, Supervisor, TaskEnded, TaskResult};

use crate::{
    authority::Authority,
    callers::CallerRegistry,
    config::{Config, KeySource, DEV_DATABASE_FILE},
    config::{
        Limits, CONNECTION_WINDOW_BYTES, HEALTH_MAX_REQUEST_BYTES, REFLECTION_MAX_REQUEST_BYTES,
        STREAM_WINDOW_BYTES,
    },
    grpc::{health_names, TokenServiceImpl},
    keys::{read_key_file, KeyAlgorithm, KeySet, KeySetFile, KeyStore},
    ledger::Ledger,
    metrics::Metrics,
    net::{ConnectionLimits, Gate, TrackCallsLayer},
    proto::{self, v1::token_service_server::TokenServiceServer},
    revocations::{Retention, RevocationCache, RevocationFeed},
    tls::{connections, Port, TlsConfig, TlsError, TlsMaterial, TlsState},
};
use background::{purge_ended, sweep_seals, watch_key_file, watch_ledger, watch_tls_files};

/// How often the revocation feed polls the ledger.
const REVOCATION_POLL: Duration = Duration::from_millis(500);
/// How often the ledger's health is checked.
const LEDGER_HEALTH_INTERVAL: Duration = Duration::from_secs(5);
/// How often ended sessions are purged, at most: a short retention (a
/// test's) is purged about four times per retention, never more than once
/// a second.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);
const PURGE_INTERVAL_MIN: Duration = Duration::from_secs(1);
/// Sealed successors are swept about once per grace window, but at least
/// every `SEAL_SWEEP_MAX` (so leftovers go soon even with no grace) and at
/// most every `SEAL_SWEEP_MIN`.
const SEAL_SWEEP_MIN: Duration = Duration::from_secs(1);
const SEAL_SWEEP_MAX: Duration = Duration::from_secs(5);

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
    /// The database could not be reached or used; the driver's own words
    /// (for the operator's terminal, never for an RPC caller) and what to
    /// check.
    #[error("cannot open the ledger database: {cause} (check database_url / INKAN_DATABASE_URL, that the database exists and the server is reachable)")]
    Ledger { cause: String },
    /// The database holds a schema this build cannot serve.
    #[error("cannot serve this ledger: {0}")]
    Schema(crate::ledger::SchemaState),
    #[error("self-test failed: {0}")]
    SelfTest(String),
    /// The TLS files cannot be served; the message names the file.
    #[error("{0}")]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Serve(String),
}

impl StartupError {
    fn ledger(err: crate::ledger::LedgerError) -> Self {
        StartupError::Ledger {
            cause: error_chain(&err),
        }
    }
}

/// A server that has started everything but not yet begun to serve.
pub struct Server {
    authority: Arc<Authority>,
    /// The key-set file and the digest of what was loaded from it.
    key_file: Option<(PathBuf, Vec<u8>)>,
    key_reload_interval: Duration,
    callers: Arc<CallerRegistry>,
    revocations: Arc<RevocationFeed>,
    reflection: bool,
    http_header_timeout: Duration,
    drain_period: Duration,
    shutdown_timeout: Duration,
    purge_retention: Duration,
    /// What callers may hold at once.
    limits: Limits,
    /// TLS material in service and where it is reloaded from.
    tls: Option<(TlsConfig, Arc<TlsState>)>,
    grpc: TcpListener,
    http: TcpListener,
    metrics: TcpListener,
    /// Plain-text gRPC health, for probes that cannot speak TLS.
    health: Option<TcpListener>,
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
        // Created first so the ledger and the revocation feed record into
        // the same registry as the calls.
        let metrics = Arc::new(Metrics::new());
        // Before the ledger: a certificate that cannot serve is cheaper to
        // find than a database.
        let tls = match config.tls {
            Some(tls) => {
                let material = TlsMaterial::load(
                    &tls,
                    u64::try_from(crate::clock::now()).unwrap_or_default(),
                )?;
                metrics.tls().certificate_expires(material.not_after);
                info!(
                    cert = %tls.files.cert.display(),
                    not_after = material.not_after,
                    client_certificates = ?tls.client_certificates,
                    "TLS on the gRPC and HTTP ports"
                );
                Some((tls, Arc::new(TlsState::new(material))))
            }
            None => None,
        };
        let ledger = Ledger::connect(config.database_url.expose_secret())
            .await
            .map_err(StartupError::ledger)?
            .with_metrics(metrics.clone());
        if config.migrate_on_start {
            ledger.migrate().await.map_err(StartupError::ledger)?;
        }
        let schema = ledger.schema_state().await.map_err(StartupError::ledger)?;
        if !schema.is_current() {
            return Err(StartupError::Schema(schema));
        }
        let retention = Retention::new(
            config.policy.access_token_ttl,
            config.policy.leeway,
            config.policy.session_lifetime,
        );
        let cache = Arc::new(RevocationCache::new(retention));
        let revocations = Arc::new(
            RevocationFeed::new(ledger.clone(), cache.clone())
                .with_metrics(metrics.clone())
                .with_clock(config.clock.clone()),
        );
        revocations.poll().await.map_err(StartupError::ledger)?;
        revocations
            .load_cut_offs()
            .await
            .map_err(StartupError::ledger)?;
        info!(revocations = cache.len(), "revocations loaded");
        if config.dev {
            warn!(issuer = %config.policy.issuer, "DEV MODE: issuer derived from the HTTP address");
        }

        let authority = Arc::new(
            Authority::new(
                config.policy,
                KeyStore::new(keys, config.verify_cache_bytes),
                ledger,
                cache,
                metrics,
            )
            .with_clock(config.clock),
        );
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
            http_header_timeout: config.http_header_timeout,
            drain_period: config.drain_period,
            shutdown_timeout: config.shutdown_timeout,
            purge_retention: config.purge_retention,
            limits: config.limits,
            tls,
            grpc: bind(config.grpc_addr).await?,
            http: bind(config.http_addr).await?,
            metrics: bind(config.metrics_addr).await?,
            health: match config.health_addr {
                Some(addr) => Some(bind(addr).await?),
                None => None,
            },
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

    /// Where Prometheus metrics are served.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Where plain-text gRPC health is served, if anywhere.
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health
            .as_ref()
            .map(|l| l.local_addr().expect("a bound listener has an address"))
    }

    /// The authority being served.
    pub fn authority(&self) -> &Arc<Authority> {
        &self.authority
    }

    /// Serves until `shutdown` resolves, then reports NOT_SERVING, serves
    /// on through the drain period, stops accepting calls, lets calls in
    /// flight finish (for at most the shutdown timeout), and returns. If any of
    /// the server's tasks ends first (a server failed, the revocation feed
    /// panicked), the server stops the same way and returns that as the
    /// error, so the process exits and is restarted instead of serving on
    /// half-alive.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let (reporter, health_service) = tonic_health::server::health_reporter();
        report(&reporter, &health_names::ALL, ServingStatus::NotServing).await;

        let (grpc_addr, http_addr, metrics_addr) =
            (self.grpc_addr(), self.http_addr(), self.metrics_addr());
        let (stop_tx, stop_rx) = watch::channel(false);
        let streams_stop = stop_rx.clone();
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        };
        let mut tasks = Supervisor::new();

        let reflection_v1 = reflection()
            .build_v1()
            .map_err(|e| StartupError::Serve(e.to_string()))?;
        let reflection_v1alpha = reflection()
            .build_v1alpha()
            .map_err(|e| StartupError::Serve(e.to_string()))?;
        let tls_state = self.tls.as_ref().map(|(_, state)| state.clone());
        let tls_for = |port| tls_state.clone().map(|state| (state, port));
        // A TLS handshake gets as long as an HTTP client gets for a
        // request head.
        let handshake_timeout = self.http_header_timeout;
        let limits = self.limits;
        let token_service = TokenServiceServer::new(TokenServiceImpl::new(
            self.authority.clone(),
            self.callers.clone(),
            self.revocations.clone(),
            streams_stop,
            limits,
        ))
        .max_decoding_message_size(limits.max_request_bytes);
        let health_service = health_service.max_decoding_message_size(HEALTH_MAX_REQUEST_BYTES);
        let grpc_gate = |idle| {
            Gate::new(ConnectionLimits {
                max_connections: limits.max_connections,
                preface_timeout: limits.preface_timeout,
                idle_timeout: idle,
            })
        };
        let health_only = self.health.map(|listener| {
            grpc_builder(&limits)
                .add_service(health_service.clone())
                .serve_with_incoming_shutdown(
                    connections(
                        listener,
                        grpc_gate(Some(limits.idle_timeout)),
                        None,
                        handshake_timeout,
                    ),
                    stopped(),
                )
        });
        let grpc = grpc_builder(&limits)
            .add_service(health_service)
            .add_optional_service(
                self.reflection
                    .then(|| reflection_v1.max_decoding_message_size(REFLECTION_MAX_REQUEST_BYTES)),
            )
            .add_optional_service(self.reflection.then(|| {
                reflection_v1alpha.max_decoding_message_size(REFLECTION_MAX_REQUEST_BYTES)
            }))
            .add_service(token_service)
            .serve_with_incoming_shutdown(
                connections(
                    self.grpc,
                    grpc_gate(Some(limits.idle_timeout)),
                    tls_for(Port::Grpc),
                    handshake_timeout,
                ),
                stopped(),
            );
        // The keys were self-tested in build(); test again right before
        // reporting SERVING, through the keys as now published. SERVING is
        // set before any connection is served, so the first probe to get an
        // answer already sees it.
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
        tasks.spawn("gRPC server", async move {
            grpc.await.map_err(|e| error_chain(&e))
        });
        if let Some(health_only) = health_only {
            tasks.spawn("health server", async move {
                health_only.await.map_err(|e| error_chain(&e))
            });
        }
        let header_timeout = self.http_header_timeout;
        // Metrics stay plain: scraped from inside the cluster, on a port
        // of their own (loopback unless configured otherwise).
        // The HTTP ports bound their connections too; between requests
        // hyper's header timeout closes an idle one.
        let http_gate = || grpc_gate(None);
        for (name, incoming, router) in [
            (
                "HTTP server",
                connections(
                    self.http,
                    http_gate(),
                    tls_for(Port::Http),
                    handshake_timeout,
                ),
                crate::http::router(self.authority.clone()),
            ),
            (
                "metrics server",
                connections(self.metrics, http_gate(), None, handshake_timeout),
                crate::http::metrics_router(self.authority.clone()),
            ),
        ] {
            let stop = stopped();
            tasks.spawn(name, async move {
                crate::http::serve(incoming, router, header_timeout, stop).await;
                Ok(())
            });
        }

        {
            let revocations = self.revocations.clone();
            let stop = stopped();
            tasks.spawn("revocation feed", async move {
                revocations.run(REVOCATION_POLL, stop).await;
                Ok(())
            });
        }
        let ledger_health =
            watch_ledger(self.authority.ledger().clone(), reporter.clone(), stopped());
        tasks.spawn("ledger health", async move {
            ledger_health.await;
            Ok(())
        });
        let keys = self.authority.clone();
        let purge = purge_ended(
            self.authority.ledger().clone(),
            self.purge_retention,
            self.revocations.retention(),
            move || keys.keys().current().legacy_sunset(),
            stopped(),
        );
        tasks.spawn("purge", async move {
            purge.await;
            Ok(())
        });
        let sweep = sweep_seals(
            self.authority.ledger().clone(),
            self.authority.policy().reuse_grace,
            stopped(),
        );
        tasks.spawn("seal sweep", async move {
            sweep.await;
            Ok(())
        });
        if let Some((path, loaded)) = self.key_file.clone() {
            let watch = watch_key_file(
                path,
                loaded,
                self.authority.clone(),
                self.key_reload_interval,
                stopped(),
            );
            tasks.spawn("key-file watch", async move {
                watch.await;
                Ok(())
            });
        }

        if let Some((config, state)) = self.tls.clone() {
            let watch = watch_tls_files(config, state, self.authority.metrics().clone(), stopped());
            tasks.spawn("TLS file watch", async move {
                watch.await;
                Ok(())
            });
        }

        info!(grpc = %grpc_addr, http = %http_addr, metrics = %metrics_addr,
            tls = self.tls.is_some(), "serving");

        let outcome = tasks.watch(shutdown).await;
        report(&reporter, &health_names::ALL, ServingStatus::NotServing).await;
        match &outcome {
            Ok(()) => {
                // Probes now fail, but endpoints take a moment to be
                // removed: calls still arriving are served until then.
                info!(
                    drain = ?self.drain_period,
                    "shutting down: reporting NOT_SERVING and serving on through the drain period"
                );
                tokio::time::sleep(self.drain_period).await;
                info!("drained: no longer accepting; finishing calls in flight");
            }
            Err(ended) => error!(
                task = ended.task,
                cause = %ended.how,
                "a server task ended; reporting NOT_SERVING and stopping so the process is restarted"
            ),
        }
        let _ = stop_tx.send(true);
        // Calls in flight get until the deadline; drain period plus this
        // stays inside Kubernetes' grace period.
        let (failed, in_time) = tasks.drain(self.shutdown_timeout).await;
        if !in_time {
            warn!("calls still in flight at the shutdown deadline; exiting anyway");
        }
        for ended in &failed {
            error!(task = ended.task, cause = %ended.how, "a server task failed while stopping");
        }
        match (outcome, failed.into_iter().next()) {
            (Err(ended), _) | (Ok(()), Some(ended)) => Err(StartupError::Serve(ended.to_string())),
            (Ok(()), None) => Ok(()),
        }
    }
}

/// A gRPC server builder with the limits on what one connection may hold:
/// streams, unread request bytes, calls in flight, and HTTP/2 pings that
/// find a vanished client.
fn grpc_builder(
    limits: &Limits,
) -> tonic::transport::Server<
    tower::layer::util::Stack<
        TrackCallsLayer,
        tower::layer::util::Stack<
            tower::limit::GlobalConcurrencyLimitLayer,
            tower::layer::util::Identity,
        >,
    >,
> {
    tonic::transport::Server::builder()
        .max_concurrent_streams(limits.max_streams_per_connection)
        .initial_stream_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
        .http2_keepalive_interval(Some(limits.http2_keepalive_interval))
        .http2_keepalive_timeout(Some(limits.http2_keepalive_timeout))
        // A client that opens and resets streams as fast as it can (the
        // "rapid reset" attack) is cut off.
        .http2_max_pending_accept_reset_streams(Some(64))
        .http2_max_header_list_size(16 * 1024)
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            limits.max_calls_in_flight,
        ))
        .layer(TrackCallsLayer)
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
