//! Wiring: the ledger, the keys, the authority, and the gRPC and HTTP
//! servers around them, with health reporting and background work.
//!
//! [`Server::build`] does everything that can fail at start-up (connecting,
//! migrating, loading and self-testing the keys, binding the ports), so a
//! bad configuration stops the process before it serves anything. A
//! database that does not answer yet is not a bad configuration: the
//! server then runs not ready and waits for it (`wait.rs`).
//! [`Server::run`] serves until the shutdown future resolves, like
//! mini-redis's `server::run(listener, shutdown)`: tests own both.

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use tokio::{net::TcpListener, sync::watch};
use tonic::service::interceptor::InterceptedService;
use tonic_health::{
    pb::health_server::{Health, HealthServer},
    server::HealthReporter,
    ServingStatus,
};
use tracing::{error, info, warn};

mod background;
mod periodic;
mod prepare;
mod supervisor;
mod wait;

pub use prepare::{prepare, Prepared, Purpose};
pub use supervisor::{error_chain, Supervisor, TaskEnded, TaskResult};

use crate::{
    authority::Authority,
    callers::CallerRegistry,
    config::{
        Config, KeySource, Limits, CONNECTION_WINDOW_BYTES, DEV_DATABASE_FILE,
        HEALTH_MAX_REQUEST_BYTES, REFLECTION_MAX_REQUEST_BYTES, STREAM_WINDOW_BYTES,
    },
    grpc::{health_names, TokenServiceImpl},
    keys::{load_key_file, KeySet},
    net::{ConnectionLimits, Gate, TrackCallsLayer},
    proto::{self, v1::token_service_server::TokenServiceServer},
    revocations::RevocationFeed,
    tls::{connections, Port, TlsConfig, TlsError, TlsState},
};
use background::{
    clear_stale_seals, follow_revocations, purge_ended, watch_key_file, watch_ledger,
    watch_tls_files,
};

/// How often the revocation feed polls the ledger.
const REVOCATION_POLL: Duration = Duration::from_millis(500);
/// How often the ledger's health is checked.
const LEDGER_HEALTH_INTERVAL: Duration = Duration::from_secs(5);
/// How often ended sessions are purged, at most: a short retention (a
/// test's) is purged about four times per retention, never more than once
/// a second.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);
const PURGE_INTERVAL_MIN: Duration = Duration::from_secs(1);
/// Sealed successors are cleared about once per grace window, but at least
/// every `SEAL_SWEEP_MAX` (so leftovers go soon even with no grace) and at
/// most every `SEAL_SWEEP_MIN`.
const SEAL_SWEEP_MIN: Duration = Duration::from_secs(1);
const SEAL_SWEEP_MAX: Duration = Duration::from_secs(5);

/// Start-up failed. The message is one line naming what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The key-set file could not be read or holds no usable key set.
    #[error("key set {path}: {source}")]
    Keys {
        /// The key-set file.
        path: String,
        /// What is wrong with it.
        source: crate::keys::KeySetError,
    },
    /// Dev mode could not generate its ephemeral key.
    #[error("cannot generate the dev key: {0}")]
    DevKey(crate::keys::KeySetError),
    /// The database could not be reached or used; the driver's own words
    /// (for the operator's terminal, never for an RPC caller) and what to
    /// check.
    #[error("cannot open the ledger database: {cause} (check database_url / INKAN_DATABASE_URL, that the database exists and the server is reachable)")]
    Ledger {
        /// The error and its causes, in one line.
        cause: String,
    },
    /// The database holds a schema this build cannot serve.
    #[error("cannot serve this ledger: {0}")]
    Schema(crate::ledger::SchemaState),
    /// The keys failed their self-test (a token signed with the active key
    /// did not verify back); holds what went wrong.
    #[error("self-test failed: {0}")]
    SelfTest(String),
    /// The TLS files cannot be served; the message names the file.
    #[error("{0}")]
    Tls(#[from] TlsError),
    /// A port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding it failed.
        source: std::io::Error,
    },
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
    state: Running,
    listeners: Listeners,
}

/// The ports, bound at start-up so a busy one stops the process before it
/// serves anything.
struct Listeners {
    grpc: TcpListener,
    http: TcpListener,
    metrics: TcpListener,
    /// Plain-text gRPC health, for probes that cannot speak TLS.
    health: Option<TcpListener>,
}

/// Everything a running server needs besides its ports.
struct Running {
    authority: Arc<Authority>,
    /// The key-set file and the digest of what was loaded from it.
    key_file: Option<(PathBuf, Vec<u8>)>,
    key_reload_interval: Duration,
    callers: Arc<CallerRegistry>,
    revocations: Arc<RevocationFeed>,
    reflection: bool,
    /// The discovery document's `jwks_uri`, when not the issuer's.
    public_jwks_url: Option<String>,
    http_header_timeout: Duration,
    drain_period: Duration,
    shutdown_timeout: Duration,
    purge_retention: Duration,
    /// What callers may hold at once.
    limits: Limits,
    /// TLS material in service and where it is reloaded from.
    tls: Option<(TlsConfig, Arc<TlsState>)>,
    /// Whether the ledger's part of start-up migrates.
    migrate_on_start: bool,
    /// Why the ledger was not ready when the server was built, if it was
    /// not: [`Server::run`] waits for it (see `wait.rs`).
    waiting: Option<prepare::LedgerNotReady>,
    /// Closed while the ledger is not ready: the token service answers
    /// every call `STORAGE_UNAVAILABLE` until then.
    gate: wait::Gate,
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

/// Loads the key set the configuration names, the one way every reader of
/// the file does ([`crate::keys::load_key_file`]).
pub fn load_keys(source: &KeySource) -> Result<LoadedKeys, StartupError> {
    let path = match source {
        KeySource::File(path) => path,
        KeySource::Ephemeral => {
            let set =
                KeySet::ephemeral(crate::keys::DEFAULT_ALGORITHM).map_err(StartupError::DevKey)?;
            return Ok(LoadedKeys {
                set,
                warnings: Vec::new(),
                digest: None,
            });
        }
    };
    let loaded = load_key_file(path).map_err(|source| StartupError::Keys {
        path: path.display().to_string(),
        source,
    })?;
    Ok(LoadedKeys {
        set: loaded.set,
        warnings: loaded.warnings,
        digest: Some(loaded.digest),
    })
}

impl Server {
    /// Connects, migrates (when configured), loads and self-tests the keys
    /// (see [`prepare`]), and binds every port.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        if config.dev {
            announce_dev_mode();
        }
        let prepared = prepare::start(&config, Purpose::Serve).await?;
        for warning in &prepared.warnings {
            warn!("{warning}");
        }
        // One attempt now: a database that answers gives a server that
        // serves from its first call. One that does not is waited for.
        let waiting = match prepare::settle_ledger(
            &prepared.authority,
            &prepared.revocations,
            config.migrate_on_start,
        )
        .await
        {
            Ok(_) => None,
            Err(not_ready) if not_ready.may_pass() => Some(not_ready),
            Err(fatal) => return Err(fatal.into_startup()),
        };
        announce(&config, &prepared, waiting.is_none());
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| StartupError::Bind { addr, source })
        };
        Ok(Self {
            state: Running {
                authority: prepared.authority,
                key_file: prepared.key_file,
                key_reload_interval: config.key_reload_interval,
                callers: Arc::new(config.callers),
                revocations: prepared.revocations,
                reflection: config.reflection,
                public_jwks_url: config.public_jwks_url,
                http_header_timeout: config.http_header_timeout,
                drain_period: config.drain_period,
                shutdown_timeout: config.shutdown_timeout,
                purge_retention: config.purge_retention,
                limits: config.limits,
                tls: prepared
                    .tls
                    .map(|(tls, material)| (tls, Arc::new(TlsState::new(material)))),
                migrate_on_start: config.migrate_on_start,
                gate: wait::Gate::new(waiting.is_none()),
                waiting,
            },
            listeners: Listeners {
                grpc: bind(config.grpc_addr).await?,
                http: bind(config.http_addr).await?,
                metrics: bind(config.metrics_addr).await?,
                health: match config.health_addr {
                    Some(addr) => Some(bind(addr).await?),
                    None => None,
                },
            },
        })
    }

    /// Where gRPC is served.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.listeners
            .grpc
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Where HTTP (JWKS, discovery) is served.
    pub fn http_addr(&self) -> SocketAddr {
        self.listeners
            .http
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Where Prometheus metrics are served.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.listeners
            .metrics
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Where plain-text gRPC health is served, if anywhere.
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.listeners
            .health
            .as_ref()
            .map(|l| l.local_addr().expect("a bound listener has an address"))
    }

    /// The authority being served.
    pub fn authority(&self) -> &Arc<Authority> {
        &self.state.authority
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
    ) -> Result<(), ServeError> {
        let (reporter, health) = tonic_health::server::health_reporter();
        report(&reporter, &health_names::ALL, ServingStatus::NotServing).await;
        let stop = Stop::new();
        let mut tasks = Supervisor::new();
        let addrs = (self.grpc_addr(), self.http_addr(), self.metrics_addr());
        let Server {
            mut state,
            listeners,
        } = self;
        let waiting = state.waiting.take();
        let servers = state.servers(listeners, health, &stop)?;
        // Alive from here on: the keys are loaded and self-tested, and
        // what is missing (the ledger) a restart would not bring.
        report(&reporter, &[health_names::LIVENESS], ServingStatus::Serving).await;
        tokio::pin!(shutdown);
        if let Some(not_ready) = waiting {
            for (name, server) in servers {
                tasks.spawn(name, server);
            }
            info!(grpc = %addrs.0, http = %addrs.1, metrics = %addrs.2,
                "waiting for the ledger; not ready until it answers");
            if let Err(outcome) = state.settle(not_ready, &mut tasks, &mut shutdown).await {
                report(&reporter, &health_names::ALL, ServingStatus::NotServing).await;
                return state.shut_down(outcome, tasks, stop).await;
            }
            state.become_ready(&reporter).await?;
        } else {
            // SERVING is set before any connection is served, so the first
            // probe to get an answer already sees it.
            state.become_ready(&reporter).await?;
            for (name, server) in servers {
                tasks.spawn(name, server);
            }
        }
        state.spawn_background(&mut tasks, &reporter, &stop);
        info!(grpc = %addrs.0, http = %addrs.1, metrics = %addrs.2,
            tls = state.tls.is_some(), "serving");
        let outcome = tasks.watch(&mut shutdown).await;
        report(&reporter, &health_names::ALL, ServingStatus::NotServing).await;
        state.shut_down(outcome, tasks, stop).await
    }
}

impl Running {
    /// Self-tests the keys as now published, opens the gate and reports
    /// the server SERVING (the ledger's own status follows from its health
    /// task).
    async fn become_ready(&self, reporter: &HealthReporter) -> Result<(), ServeError> {
        // The keys were self-tested at start-up; test again right before
        // reporting SERVING, through the keys as now published.
        self.authority.self_test().map_err(ServeError::SelfTest)?;
        self.gate.open();
        report(
            reporter,
            &[
                health_names::SERVER,
                health_names::TOKEN_SERVICE,
                health_names::VERIFY,
            ],
            ServingStatus::Serving,
        )
        .await;
        Ok(())
    }

    /// The gRPC, health-only, HTTP and metrics servers, each a future that
    /// serves until `stop`, named for the supervisor. None has accepted a
    /// connection yet.
    fn servers(
        &self,
        listeners: Listeners,
        health: HealthServer<impl Health>,
        stop: &Stop,
    ) -> Result<Vec<(&'static str, ServerTask)>, ServeError> {
        let health = health.max_decoding_message_size(HEALTH_MAX_REQUEST_BYTES);
        let mut servers: Vec<(&'static str, ServerTask)> = Vec::new();
        if let Some(listener) = listeners.health {
            let serving = grpc_builder(&self.limits)
                .add_service(health.clone())
                .serve_with_incoming_shutdown(self.grpc_connections(listener, None), stop.signal());
            servers.push((
                "health server",
                Box::pin(async move { serving.await.map_err(|e| error_chain(&e)) }),
            ));
        }
        servers.push((
            "gRPC server",
            self.grpc_server(listeners.grpc, health, stop)?,
        ));
        // Metrics stay plain: scraped from inside the cluster, on a port
        // of their own.
        for (name, port, listener, tls, router) in [
            (
                "HTTP server",
                "http",
                listeners.http,
                self.tls_for(Port::Http),
                crate::http::router(
                    self.authority.clone(),
                    {
                        let gate = self.gate.clone();
                        Arc::new(move || gate.is_open())
                    },
                    self.callers.clone(),
                    self.public_jwks_url.clone(),
                ),
            ),
            (
                "metrics server",
                "metrics",
                listeners.metrics,
                None,
                crate::http::metrics_router(self.authority.clone()),
            ),
        ] {
            // The HTTP ports bound their connections too; between requests
            // hyper's header timeout closes an idle one.
            let incoming = connections(
                listener,
                self.gate(port, None),
                tls,
                self.http_header_timeout,
            );
            let (header_timeout, stopped) = (self.http_header_timeout, stop.signal());
            servers.push((
                name,
                Box::pin(async move {
                    crate::http::serve(incoming, router, header_timeout, stopped).await;
                    Ok(())
                }),
            ));
        }
        Ok(servers)
    }

    /// The main gRPC server: health, reflection (when on) and the token
    /// service, on `listener`.
    fn grpc_server(
        &self,
        listener: TcpListener,
        health: HealthServer<impl Health>,
        stop: &Stop,
    ) -> Result<ServerTask, ServeError> {
        let limits = self.limits;
        let reflection_v1 = reflection()
            .build_v1()
            .map_err(|e| ServeError::Setup(e.to_string()))?
            .max_decoding_message_size(REFLECTION_MAX_REQUEST_BYTES);
        let reflection_v1alpha = reflection()
            .build_v1alpha()
            .map_err(|e| ServeError::Setup(e.to_string()))?
            .max_decoding_message_size(REFLECTION_MAX_REQUEST_BYTES);
        let token_service = InterceptedService::new(
            TokenServiceServer::new(TokenServiceImpl::new(
                self.authority.clone(),
                self.callers.clone(),
                self.revocations.clone(),
                stop.receiver(),
                limits,
            ))
            .max_decoding_message_size(limits.max_request_bytes),
            self.gate.interceptor(),
        );
        let serving = grpc_builder(&limits)
            .add_service(health)
            .add_optional_service(self.reflection.then_some(reflection_v1))
            .add_optional_service(self.reflection.then_some(reflection_v1alpha))
            .add_service(token_service)
            .serve_with_incoming_shutdown(
                self.grpc_connections(listener, self.tls_for(Port::Grpc)),
                stop.signal(),
            );
        Ok(Box::pin(async move {
            serving.await.map_err(|e| error_chain(&e))
        }))
    }

    /// A gRPC listener's connections: through a gate that closes idle ones,
    /// over TLS when `tls` says so.
    fn grpc_connections(
        &self,
        listener: TcpListener,
        tls: Option<(Arc<TlsState>, Port)>,
    ) -> impl futures::Stream<Item = Result<crate::tls::Connection, std::io::Error>> + Send + 'static
    {
        // A TLS handshake gets as long as an HTTP client gets for a
        // request head.
        connections(
            listener,
            self.gate("grpc", Some(self.limits.idle_timeout)),
            tls,
            self.http_header_timeout,
        )
    }

    /// A port's connection gate; `idle` where calls are tracked (gRPC).
    /// What it closes is counted under `port`.
    fn gate(&self, port: &str, idle: Option<Duration>) -> Arc<Gate> {
        Gate::new(
            ConnectionLimits {
                max_connections: self.limits.max_connections,
                preface_timeout: self.limits.preface_timeout,
                idle_timeout: idle,
            },
            self.authority.metrics().connections().port(port),
        )
    }

    /// The TLS material in force for `port`, when TLS is on.
    fn tls_for(&self, port: Port) -> Option<(Arc<TlsState>, Port)> {
        self.tls.as_ref().map(|(_, state)| (state.clone(), port))
    }

    /// Everything that runs beside the servers: the revocation feed, the
    /// ledger's health and writer, the purge, the clearing of stale seals, and the
    /// key-set and TLS file watchers.
    fn spawn_background(&self, tasks: &mut Supervisor, reporter: &HealthReporter, stop: &Stop) {
        let ledger = self.authority.ledger().clone();
        tasks.spawn(
            "revocation feed",
            unit(follow_revocations(
                self.revocations.clone(),
                REVOCATION_POLL,
                stop.signal(),
            )),
        );
        tasks.spawn(
            "ledger health",
            unit(watch_ledger(
                ledger.clone(),
                reporter.clone(),
                stop.signal(),
            )),
        );
        {
            let (ledger, stopped) = (ledger.clone(), stop.signal());
            tasks.spawn("ledger writer", async move {
                tokio::select! {
                    _ = stopped => Ok(()),
                    _ = ledger.writer_ended() => Err("the ledger's writer stopped; Issue and Refresh cannot be written".into()),
                }
            });
        }
        tasks.spawn(
            "purge",
            unit(purge_ended(
                ledger.clone(),
                self.purge_retention,
                self.revocations.retention(),
                self.authority.clone(),
                stop.signal(),
            )),
        );
        tasks.spawn(
            "seal clearing",
            unit(clear_stale_seals(
                ledger,
                self.authority.policy().reuse_grace,
                stop.signal(),
            )),
        );
        if let Some((path, loaded)) = self.key_file.clone() {
            tasks.spawn(
                "key-file watch",
                unit(watch_key_file(
                    path,
                    loaded,
                    self.authority.clone(),
                    self.key_reload_interval,
                    stop.signal(),
                )),
            );
        }
        if let Some((config, state)) = self.tls.clone() {
            tasks.spawn(
                "TLS file watch",
                unit(watch_tls_files(
                    config,
                    state,
                    self.authority.metrics().clone(),
                    stop.signal(),
                )),
            );
        }
    }

    /// After `shutdown` (`outcome` is `Ok`) or a task's end (`Err`): on a
    /// shutdown, serves on through the drain period while probes fail;
    /// then stops every task and gives calls in flight the shutdown
    /// timeout.
    async fn shut_down(
        &self,
        outcome: Result<(), TaskEnded>,
        tasks: Supervisor,
        stop: Stop,
    ) -> Result<(), ServeError> {
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
        stop.stop();
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
            (Err(ended), _) | (Ok(()), Some(ended)) => Err(ServeError::Task(ended)),
            (Ok(()), None) => Ok(()),
        }
    }
}

/// A server, as the supervisor runs it.
type ServerTask = std::pin::Pin<Box<dyn Future<Output = TaskResult> + Send>>;

/// A background loop, as the supervisor runs it: it ends only when told to.
async fn unit(task: impl Future<Output = ()>) -> TaskResult {
    task.await;
    Ok(())
}

/// The server was serving and stopped for a reason other than being asked
/// to (or could not begin to serve).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The keys as published failed their self-test right before serving.
    #[error("self-test failed: {0}")]
    SelfTest(String),
    /// A service could not be set up (reflection's descriptors).
    #[error("cannot set up the gRPC services: {0}")]
    Setup(String),
    /// A task ended before shutdown was asked for, or failed while
    /// stopping.
    #[error(transparent)]
    Task(TaskEnded),
}

/// Tells every server, stream and loop to stop, once.
struct Stop {
    tx: watch::Sender<bool>,
}

impl Stop {
    fn new() -> Self {
        Self {
            tx: watch::channel(false).0,
        }
    }

    /// A future that resolves once [`Stop::stop`] is called.
    fn signal(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.tx.subscribe();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }

    /// The flag itself, for streams that watch it.
    fn receiver(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }

    fn stop(&self) {
        self.tx.send_replace(true);
    }
}

/// Says loudly, before anything else, that this server must never be
/// exposed.
fn announce_dev_mode() {
    warn!("DEV MODE: callers are not authenticated, Issue is open to anyone; never expose this server");
    // Relative to where the server was started, which a log reader cannot
    // know: say where the file is.
    let database = std::env::current_dir()
        .map(|dir| dir.join(DEV_DATABASE_FILE).display().to_string())
        .unwrap_or_else(|_| DEV_DATABASE_FILE.to_owned());
    warn!(database = %database, "DEV MODE: the ledger is the SQLite file {database}");
}

/// Logs what was loaded: each key by kid and fingerprint, the TLS files,
/// and the revocations known (when `loaded`: the ledger answered).
fn announce(config: &Config, prepared: &prepare::Started, loaded: bool) {
    let keys = prepared.authority.keys().current();
    if config.keys == KeySource::Ephemeral {
        warn!(
            kid = %keys.set().active().kid(),
            alg = %keys.set().active().alg(),
            "DEV MODE: signing with an ephemeral key that exists only in this process; \
             every token dies with it (pass --keys FILE to keep them)"
        );
    }
    for key in keys.set().keys() {
        info!(kid = %key.kid(), alg = %key.alg(), state = %key.state(), fingerprint = key.fingerprint(), "key loaded");
    }
    if let Some((tls, material)) = &prepared.tls {
        info!(
            cert = %tls.files.cert.display(),
            not_after = material.not_after,
            client_certificates = ?tls.client_certificates,
            "TLS on the gRPC and HTTP ports"
        );
    }
    if loaded {
        info!(
            revocations = prepared.revocations.known(),
            "revocations loaded"
        );
    }
    if config.dev {
        warn!(issuer = %config.policy.issuer, "DEV MODE: issuer derived from the HTTP address");
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
