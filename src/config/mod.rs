//! Configuration: read in layers (built-in limits, then the TOML file, then
//! `INKAN_*` environment variables, then command-line flags) into
//! [`Settings`], and validated once into a [`Config`] that cannot hold an
//! invalid value. No key, secret, database or issuer has a default outside
//! dev mode; a missing one stops start-up with a message naming the setting.
//! Dev mode is no setting: only `serve --dev` asks for it, and it refuses
//! anything that belongs to a real deployment.

mod limits;
mod read_error;

pub use limits::{
    Limits, CONNECTION_WINDOW_BYTES, HEALTH_MAX_REQUEST_BYTES, MAX_REQUEST_BYTES,
    REFLECTION_MAX_REQUEST_BYTES, STREAM_WINDOW_BYTES,
};

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use figment::{
    providers::{Env, Format, Toml},
    Figment,
};
use secrecy::SecretString;
use serde::Deserialize;

use crate::{
    authority::Policy,
    callers::{CallerConfig, CallerRegistry, Permission},
    tls::{TlsConfig, TlsSettings},
};

/// Settings that the environment may set, as `INKAN_<NAME>`.
/// `dev` is not one of them: dev mode comes only from `serve --dev`.
const ENV_SETTINGS: &[&str] = &[
    "keys_file",
    "database_url",
    "database_url_file",
    "issuer",
    "grpc_addr",
    "http_addr",
    "metrics_addr",
    "health_addr",
    "http_header_timeout",
    "drain_period",
    "shutdown_timeout",
    "access_token_ttl",
    "refresh_token_idle_ttl",
    "session_lifetime",
    "leeway",
    "reuse_grace",
    "reflection",
    "key_reload_interval",
    "refresh_requires_permission",
    "verify_requires_permission",
    "allow_open_issue",
    "migrate_on_start",
    "purge_retention",
    "verify_cache_bytes",
    "log_format",
    "max_connections",
    "max_streams_per_connection",
    "max_calls_in_flight",
    "max_request_bytes",
    "idle_timeout",
    "http2_keepalive_interval",
    "http2_keepalive_timeout",
    "max_watch_streams_per_caller",
    "max_anonymous_watch_streams",
];

/// Settings as read, before validation. Every field is optional here;
/// [`Settings::validate`] decides what is required.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The key-set file (`INKAN_KEYS_FILE`, `--keys`).
    pub keys_file: Option<PathBuf>,
    /// The ledger's database (`INKAN_DATABASE_URL`, `--database-url`).
    pub database_url: Option<SecretString>,
    /// A file holding the ledger's database URL (a mounted Secret), instead
    /// of `database_url` (`INKAN_DATABASE_URL_FILE`).
    pub database_url_file: Option<PathBuf>,
    /// The `iss` of every token (`INKAN_ISSUER`, `--issuer`).
    pub issuer: Option<String>,
    pub grpc_addr: Option<SocketAddr>,
    pub http_addr: Option<SocketAddr>,
    /// Where Prometheus `/metrics` is served: its own port, loopback by
    /// default, never the public JWKS port.
    pub metrics_addr: Option<SocketAddr>,
    /// Where gRPC health is also served, in plain text whatever `[tls]`
    /// says: for the kubelet's gRPC probes, which cannot speak TLS. Off
    /// unless set.
    pub health_addr: Option<SocketAddr>,
    /// How long an HTTP client may take to send a request's head, on a new
    /// connection and between keep-alive requests.
    #[serde(default, with = "humantime_serde")]
    pub http_header_timeout: Option<Duration>,
    /// After SIGTERM, how long to go on serving while health says
    /// NOT_SERVING, so load balancers stop sending before the listeners
    /// close.
    #[serde(default, with = "humantime_serde")]
    pub drain_period: Option<Duration>,
    /// After the drain period, how long calls in flight may take to finish.
    #[serde(default, with = "humantime_serde")]
    pub shutdown_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub access_token_ttl: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub refresh_token_idle_ttl: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub session_lifetime: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub leeway: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub reuse_grace: Option<Duration>,
    /// How often the key-set file is checked for changes.
    #[serde(default, with = "humantime_serde")]
    pub key_reload_interval: Option<Duration>,
    /// Serve gRPC reflection (default on).
    pub reflection: Option<bool>,
    /// Refresh only for callers with the `refresh` permission.
    #[serde(default)]
    pub refresh_requires_permission: bool,
    /// Verify and WatchRevocations only for callers with the `verify`
    /// permission (otherwise any authenticated caller may).
    #[serde(default)]
    pub verify_requires_permission: bool,
    /// Let Issue be called without the `issue` permission. Outside dev mode
    /// the server refuses to start with Issue open unless this says so.
    #[serde(default)]
    pub allow_open_issue: bool,
    /// Run migrations at start-up (default: only in dev mode).
    pub migrate_on_start: Option<bool>,
    /// How long the rows of ended sessions and tokens stay in the ledger
    /// (for investigations) before the background purge deletes them.
    #[serde(default, with = "humantime_serde")]
    pub purge_retention: Option<Duration>,
    /// How many bytes of verified access tokens Verify keeps, so that the
    /// same token presented again skips its signature check; 0 turns the
    /// cache off.
    pub verify_cache_bytes: Option<u64>,
    pub log_format: Option<LogFormat>,
    /// Connections each port holds at once (see [`Limits`]).
    pub max_connections: Option<usize>,
    /// HTTP/2 streams one gRPC connection may have open at once.
    pub max_streams_per_connection: Option<u32>,
    /// gRPC calls served at once; more wait their turn.
    pub max_calls_in_flight: Option<usize>,
    /// The largest request message TokenService decodes.
    pub max_request_bytes: Option<usize>,
    /// How long a gRPC connection may stay with no call open.
    #[serde(default, with = "humantime_serde")]
    pub idle_timeout: Option<Duration>,
    /// How often an HTTP/2 ping checks that a client is still there.
    #[serde(default, with = "humantime_serde")]
    pub http2_keepalive_interval: Option<Duration>,
    /// How long a ping may wait for its answer.
    #[serde(default, with = "humantime_serde")]
    pub http2_keepalive_timeout: Option<Duration>,
    /// Watch streams one authenticated caller may hold open.
    pub max_watch_streams_per_caller: Option<usize>,
    /// Watch streams all anonymous callers together may hold open.
    pub max_anonymous_watch_streams: Option<usize>,
    /// TLS on the gRPC and HTTP ports (`[tls]`).
    pub tls: Option<TlsSettings>,
    /// Services allowed to call, by API key or client certificate.
    #[serde(default)]
    pub callers: Vec<CallerConfig>,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One JSON object per line: production.
    Json,
    /// Readable lines: dev mode.
    Pretty,
}

impl LogFormat {
    /// The format when `log_format` is not set: readable lines in dev mode,
    /// JSON for everything else (`serve`, `migrate`), so one collector
    /// reads every command's logs.
    pub fn default_for(dev: bool) -> Self {
        if dev {
            LogFormat::Pretty
        } else {
            LogFormat::Json
        }
    }
}

/// Where the keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A key-set file, reloaded when it changes.
    File(PathBuf),
    /// A key generated at start-up and lost at exit: dev mode only.
    Ephemeral,
}

/// A validated configuration.
#[derive(Debug)]
pub struct Config {
    /// Dev mode (`serve --dev`): every caller may do everything.
    pub dev: bool,
    pub keys: KeySource,
    pub database_url: SecretString,
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    /// Plain-text gRPC health for probes, when set.
    pub health_addr: Option<SocketAddr>,
    pub http_header_timeout: Duration,
    pub drain_period: Duration,
    pub shutdown_timeout: Duration,
    pub policy: Policy,
    pub key_reload_interval: Duration,
    pub reflection: bool,
    pub callers: CallerRegistry,
    /// TLS on the gRPC and HTTP ports; plain TCP when `None`.
    pub tls: Option<TlsConfig>,
    pub migrate_on_start: bool,
    /// How long ended sessions and tokens are kept before purging.
    pub purge_retention: Duration,
    /// The bound of the cache of verified access tokens, in bytes.
    pub verify_cache_bytes: u64,
    pub log_format: LogFormat,
    /// What callers may hold at once.
    pub limits: Limits,
    /// Where the server reads the time: the system clock, unless a test
    /// sets one it moves on.
    pub clock: crate::clock::Clock,
}

/// A configuration that cannot be used; the message names the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration: {0}")]
    Read(String),
    #[error("{0}")]
    Invalid(String),
}

/// Where dev mode keeps its ledger: [`DEV_DATABASE_FILE`], in the working
/// directory.
pub const DEV_DATABASE_URL: &str = "sqlite://inkan-dev.db?mode=rwc";

/// The file [`DEV_DATABASE_URL`] names, relative to the working directory.
pub const DEV_DATABASE_FILE: &str = "inkan-dev.db";

impl Settings {
    /// Reads the config file (if any) and the `INKAN_*` environment.
    ///
    /// A file or environment that tries to switch dev mode on is refused:
    /// dev mode makes every caller an admin, so it must never ride along
    /// with a production configuration (see [`Settings::validate_dev`]).
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Read(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            if Figment::from(Toml::file(path)).find_value("dev").is_ok() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} sets dev: dev mode cannot be switched on by configuration; remove it \
                     (dev mode is only `inkan serve --dev`, for trying inkan out)",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        if std::env::var_os("INKAN_DEV").is_some() {
            return Err(ConfigError::Invalid(
                "INKAN_DEV is set: dev mode cannot be switched on by the environment; unset it \
                 (dev mode is only `inkan serve --dev`, for trying inkan out)"
                    .into(),
            ));
        }
        figment = figment.merge(Env::prefixed("INKAN_").only(ENV_SETTINGS));
        figment
            .extract()
            .map_err(|e| ConfigError::Read(read_error::describe(e)))
    }

    /// Checks every setting for serving for real and fills in the
    /// non-secret defaults.
    pub fn validate(self) -> Result<Config, ConfigError> {
        self.validate_as(false)
    }

    /// Checks the settings for `serve --dev`, which lets every caller do
    /// everything. Dev mode chooses its own database, issuer and loopback
    /// addresses, so that it can never stand in for a production server by
    /// accident: configured callers, a database URL, an issuer or a
    /// non-loopback address are refused, each by name. A key-set file
    /// (`--keys`) is allowed.
    pub fn validate_dev(self) -> Result<Config, ConfigError> {
        let refuse = |what: &str, why: &str| {
            Err(ConfigError::Invalid(format!(
                "serve --dev refuses {what}: {why}; serve without --dev to use it"
            )))
        };
        if !self.callers.is_empty() {
            return refuse(
                "configured [[callers]]",
                "dev mode lets every caller do everything and would ignore them",
            );
        }
        if self.database_url.is_some() || self.database_url_file.is_some() {
            return refuse(
                "a database_url (config file, INKAN_DATABASE_URL, --database-url or database_url_file)",
                "dev mode keeps its own ledger in ./inkan-dev.db (sqlite://inkan-dev.db?mode=rwc)",
            );
        }
        if self.issuer.is_some() {
            return refuse(
                "an issuer (config file, INKAN_ISSUER or --issuer)",
                "dev mode names itself after its HTTP address, so no consumer of a real issuer \
                 accepts its tokens",
            );
        }
        for (name, addr) in [
            ("grpc_addr", self.grpc_addr),
            ("http_addr", self.http_addr),
            ("health_addr", self.health_addr),
        ] {
            if let Some(addr) = addr.filter(|a| !a.ip().is_loopback()) {
                return Err(ConfigError::Invalid(format!(
                    "serve --dev listens on loopback only, but {name} is {addr}: use 127.0.0.1 or [::1], \
                     or serve without --dev"
                )));
            }
        }
        self.validate_as(true)
    }

    /// The ledger's database URL: `database_url`, or the content of
    /// `database_url_file` (surrounding whitespace trimmed). Setting both
    /// is refused. A file that cannot be read is named, its content never.
    pub fn database_url(&self) -> Result<Option<SecretString>, ConfigError> {
        match (&self.database_url, &self.database_url_file) {
            (Some(_), Some(_)) => Err(ConfigError::Invalid(
                "both database_url and database_url_file are set; set only one".into(),
            )),
            (Some(url), None) => Ok(Some(url.clone())),
            (None, Some(path)) => {
                let text = std::fs::read(path).map_err(|e| {
                    ConfigError::Invalid(format!(
                        "cannot read database_url_file {}: {}",
                        path.display(),
                        e.kind()
                    ))
                })?;
                let text = String::from_utf8(text).map_err(|_| {
                    ConfigError::Invalid(format!(
                        "database_url_file {} is not UTF-8 text",
                        path.display()
                    ))
                })?;
                let url = text.trim();
                if url.is_empty() {
                    return Err(ConfigError::Invalid(format!(
                        "database_url_file {} is empty",
                        path.display()
                    )));
                }
                Ok(Some(SecretString::from(url.to_owned())))
            }
            (None, None) => Ok(None),
        }
    }

    /// How long a retired key's tokens may still be alive, from the same
    /// settings the server runs with: what `keys rotate --drop-retired`
    /// waits for.
    pub fn retired_key_lifetime(&self) -> Result<RetiredKeyLifetime, ConfigError> {
        Ok(RetiredKeyLifetime {
            access_token_ttl: self.access_token_ttl()?,
            leeway: self.leeway()?,
            key_reload_interval: self.key_reload_interval()?,
            rollout: KEY_ROLLOUT_ALLOWANCE,
        })
    }

    fn access_token_ttl(&self) -> Result<Duration, ConfigError> {
        positive(
            "access_token_ttl",
            self.access_token_ttl,
            Duration::from_secs(15 * 60),
        )
    }

    fn leeway(&self) -> Result<Duration, ConfigError> {
        let leeway = self.leeway.unwrap_or(Duration::from_secs(30));
        if leeway > Duration::from_secs(300) {
            return Err(ConfigError::Invalid("leeway may be at most 5m".into()));
        }
        Ok(leeway)
    }

    fn key_reload_interval(&self) -> Result<Duration, ConfigError> {
        positive(
            "key_reload_interval",
            self.key_reload_interval,
            Duration::from_secs(2),
        )
    }

    fn validate_as(self, dev: bool) -> Result<Config, ConfigError> {
        let invalid = |m: String| ConfigError::Invalid(m);
        let http_header_timeout = positive(
            "http_header_timeout",
            self.http_header_timeout,
            Duration::from_secs(10),
        )?;
        // A new connection gets as long to speak as an HTTP client gets
        // for a request head.
        let limits = self.limits(http_header_timeout)?;
        // Read before the fields move; reported in their turn below.
        let (access_token_ttl, leeway, key_reload_interval, database_url) = (
            self.access_token_ttl(),
            self.leeway(),
            self.key_reload_interval(),
            self.database_url(),
        );
        let loopback = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let any = |port| SocketAddr::from(([0, 0, 0, 0], port));
        let grpc_addr = self
            .grpc_addr
            .unwrap_or(if dev { loopback(50051) } else { any(50051) });
        let http_addr = self
            .http_addr
            .unwrap_or(if dev { loopback(8080) } else { any(8080) });
        let metrics_addr = self.metrics_addr.unwrap_or(loopback(9090));

        let keys = match (self.keys_file, dev) {
            (Some(path), _) => KeySource::File(path),
            (None, true) => KeySource::Ephemeral,
            (None, false) => {
                return Err(invalid(
                    "no key set: set keys_file in the config file, INKAN_KEYS_FILE or --keys \
                     (create one with `inkan keys generate --alg EdDSA --keys keys.json`)"
                        .into(),
                ))
            }
        };
        let database_url = match (database_url?, dev) {
            (Some(url), _) => url,
            (None, true) => SecretString::from(DEV_DATABASE_URL),
            (None, false) => return Err(invalid(
                "no ledger database: set database_url (or database_url_file) in the config file, \
                     INKAN_DATABASE_URL or --database-url"
                    .into(),
            )),
        };
        let issuer = match (self.issuer, dev) {
            (Some(issuer), _) => issuer,
            // Dev mode names itself after the address it serves JWKS on.
            (None, true) => format!("http://{http_addr}"),
            (None, false) => {
                return Err(invalid(
                    "no issuer: set issuer in the config file, INKAN_ISSUER or --issuer (e.g. https://auth.example.com)"
                        .into(),
                ))
            }
        };
        validate_issuer(&issuer)?;

        let access_token_ttl = access_token_ttl?;
        let refresh_token_idle_ttl = positive(
            "refresh_token_idle_ttl",
            self.refresh_token_idle_ttl,
            Duration::from_secs(14 * 86_400),
        )?;
        let session_lifetime = positive(
            "session_lifetime",
            self.session_lifetime,
            Duration::from_secs(90 * 86_400),
        )?;
        let leeway = leeway?;
        let reuse_grace = self.reuse_grace.unwrap_or(Duration::from_secs(5));
        if reuse_grace > Duration::from_secs(60) {
            return Err(invalid("reuse_grace may be at most 60s".into()));
        }
        let purge_retention = self.purge_retention.unwrap_or(Duration::from_secs(86_400));
        // The revocation cache of a replica that starts later is loaded
        // from the ledger: a revoked session's row must outlive the access
        // tokens it signed, or that replica would accept them.
        if purge_retention < access_token_ttl + leeway {
            return Err(invalid(
                "purge_retention may not be shorter than access_token_ttl + leeway: a revoked \
                 session's access tokens must stay refused"
                    .into(),
            ));
        }
        if refresh_token_idle_ttl > session_lifetime {
            return Err(invalid(
                "refresh_token_idle_ttl may not be longer than session_lifetime".into(),
            ));
        }

        let callers = if dev {
            CallerRegistry::dev()
        } else {
            CallerRegistry::from_config(&self.callers).map_err(|e| invalid(e.to_string()))?
        };
        let tls = self
            .tls
            .map(TlsSettings::validate)
            .transpose()
            .map_err(invalid)?;
        let client_ca = tls
            .as_ref()
            .is_some_and(|t| t.client_certificates.is_some());
        if callers.has_certificate_callers() && !client_ca {
            return Err(invalid(
                "a [[callers]] entry is named by certificate_subject or certificate_san, but no client \
                 certificate is asked for: set [tls] cert_file, key_file and client_ca_file"
                    .into(),
            ));
        }
        if self.verify_requires_permission && !callers.anyone_may(Permission::Verify) {
            return Err(invalid(
                "verify_requires_permission is set but no caller has the verify permission, so \
                 Verify could not be called: add \"verify\" to a [[callers]] entry's permissions"
                    .into(),
            ));
        }
        let open_issue = dev || self.allow_open_issue;
        if !open_issue && !callers.anyone_may(Permission::Issue) {
            return Err(invalid(
                "no caller has the issue permission, so Issue could not be called: configure a [[callers]] \
                 entry with permissions = [\"issue\"], or set allow_open_issue = true to open it to anyone"
                    .into(),
            ));
        }

        // Both must fit in Kubernetes' grace period (30 s by default, less
        // the preStop sleep), or the pod is killed mid-drain.
        let drain_period = self.drain_period.unwrap_or(if dev {
            Duration::ZERO
        } else {
            Duration::from_secs(5)
        });
        let shutdown_timeout = positive(
            "shutdown_timeout",
            self.shutdown_timeout,
            Duration::from_secs(20),
        )?;
        if drain_period + shutdown_timeout > Duration::from_secs(300) {
            return Err(invalid(
                "drain_period plus shutdown_timeout may be at most 5m".into(),
            ));
        }

        Ok(Config {
            dev,
            keys,
            database_url,
            grpc_addr,
            http_addr,
            metrics_addr,
            health_addr: self.health_addr,
            http_header_timeout,
            drain_period,
            shutdown_timeout,
            policy: Policy {
                issuer,
                access_token_ttl,
                refresh_token_idle_ttl,
                session_lifetime,
                leeway,
                reuse_grace,
                refresh_needs_permission: self.refresh_requires_permission,
                verify_needs_permission: self.verify_requires_permission,
                open_issue,
            },
            key_reload_interval: key_reload_interval?,
            reflection: self.reflection.unwrap_or(true),
            callers,
            tls,
            migrate_on_start: self.migrate_on_start.unwrap_or(dev),
            purge_retention,
            verify_cache_bytes: self
                .verify_cache_bytes
                .unwrap_or(crate::token::VERIFY_CACHE_BYTES),
            log_format: self.log_format.unwrap_or(LogFormat::default_for(dev)),
            limits,
            clock: crate::clock::Clock::system(),
        })
    }
}

fn positive(
    name: &str,
    value: Option<Duration>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let value = value.unwrap_or(default);
    if value.is_zero() {
        return Err(ConfigError::Invalid(format!(
            "{name} must be longer than zero"
        )));
    }
    Ok(value)
}

/// Time allowed, beyond one reload interval, for a changed key-set file to
/// reach every replica. A Kubernetes Secret update reaches a pod's volume
/// within the kubelet's sync period plus its cache's TTL, a minute or two
/// by default; five minutes leaves room for a slow rollout.
pub const KEY_ROLLOUT_ALLOWANCE: Duration = Duration::from_secs(5 * 60);

/// How long after a key stops signing a token it signed may still be
/// accepted: every replica must first load the file that retired it (one
/// reload interval and [`KEY_ROLLOUT_ALLOWANCE`]); the last token it signed
/// then lives for the access-token lifetime, plus the leeway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetiredKeyLifetime {
    pub access_token_ttl: Duration,
    pub leeway: Duration,
    pub key_reload_interval: Duration,
    /// Time for every replica to load the file that retired the key.
    pub rollout: Duration,
}

impl RetiredKeyLifetime {
    /// The whole wait.
    pub fn total(&self) -> Duration {
        self.access_token_ttl + self.leeway + self.key_reload_interval + self.rollout
    }
}

impl std::fmt::Display for RetiredKeyLifetime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = humantime::format_duration;
        write!(
            f,
            "{} (access_token_ttl {} + leeway {} + key_reload_interval {} + {} for every replica to \
             load the file that retired the key)",
            show(self.total()),
            show(self.access_token_ttl),
            show(self.leeway),
            show(self.key_reload_interval),
            show(self.rollout)
        )
    }
}

fn validate_issuer(issuer: &str) -> Result<(), ConfigError> {
    let ok = (issuer.starts_with("https://") || issuer.starts_with("http://"))
        && issuer.len() > "https://".len()
        && issuer.len() <= 255
        && !issuer.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid(format!(
            "issuer {:?} is not an http(s) URL; set issuer to the URL consumers know inkan by",
            issuer.chars().take(80).collect::<String>()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn production() -> Settings {
        Settings {
            keys_file: Some("keys.json".into()),
            database_url: Some(SecretString::from("postgres://db/inkan")),
            issuer: Some("https://auth.example.com".into()),
            allow_open_issue: true,
            ..Settings::default()
        }
    }

    fn refusal(settings: Settings) -> String {
        settings.validate().unwrap_err().to_string()
    }

    #[test]
    fn production_needs_keys_database_and_issuer_and_names_each() {
        assert!(production().validate().is_ok());
        let msg = refusal(Settings {
            keys_file: None,
            ..production()
        });
        assert!(msg.contains("INKAN_KEYS_FILE"), "{msg}");
        let msg = refusal(Settings {
            database_url: None,
            ..production()
        });
        assert!(msg.contains("INKAN_DATABASE_URL"), "{msg}");
        let msg = refusal(Settings {
            issuer: None,
            ..production()
        });
        assert!(msg.contains("INKAN_ISSUER"), "{msg}");
    }

    #[test]
    fn issue_is_never_open_by_accident() {
        let msg = refusal(Settings {
            allow_open_issue: false,
            ..production()
        });
        assert!(msg.contains("issue permission"), "{msg}");
    }

    #[test]
    fn dev_mode_fills_in_local_defaults_but_no_key_file() {
        let config = Settings::default().validate_dev().unwrap();
        assert_eq!(config.keys, KeySource::Ephemeral);
        assert_eq!(config.grpc_addr.to_string(), "127.0.0.1:50051");
        assert_eq!(config.policy.issuer, "http://127.0.0.1:8080");
        assert!(config.migrate_on_start);
    }

    #[test]
    fn dev_mode_takes_nothing_that_could_make_it_a_production_server() {
        let dev_refusal = |settings: Settings| settings.validate_dev().unwrap_err().to_string();
        let with_caller = Settings {
            callers: vec![CallerConfig {
                name: "login".into(),
                api_key_sha256: Some("ab".repeat(32)),
                permissions: vec![Permission::Issue],
                ..CallerConfig::default()
            }],
            ..Settings::default()
        };
        assert!(dev_refusal(with_caller).contains("[[callers]]"));
        let msg = dev_refusal(Settings {
            database_url: Some(SecretString::from("postgres://db/inkan")),
            ..Settings::default()
        });
        assert!(msg.contains("database_url"), "{msg}");
        let msg = dev_refusal(Settings {
            grpc_addr: Some("0.0.0.0:50051".parse().unwrap()),
            ..Settings::default()
        });
        assert!(msg.contains("grpc_addr is 0.0.0.0:50051"), "{msg}");
        let msg = dev_refusal(Settings {
            http_addr: Some("10.0.0.1:8080".parse().unwrap()),
            ..Settings::default()
        });
        assert!(msg.contains("http_addr is 10.0.0.1:8080"), "{msg}");
        let local = Settings {
            keys_file: Some("keys.json".into()),
            grpc_addr: Some("[::1]:0".parse().unwrap()),
            ..Settings::default()
        };
        assert!(
            local.validate_dev().is_ok(),
            "a key file and loopback are fine"
        );
    }

    #[test]
    fn the_dev_database_url_names_the_dev_database_file() {
        assert!(DEV_DATABASE_URL.starts_with(&format!("sqlite://{DEV_DATABASE_FILE}?")));
    }

    #[test]
    fn a_retired_key_waits_for_the_tokens_the_server_would_issue() {
        let lifetime = Settings::default().retired_key_lifetime().unwrap();
        assert_eq!(lifetime.total(), Duration::from_secs(20 * 60 + 32));
        assert!(lifetime
            .to_string()
            .starts_with("20m 32s (access_token_ttl 15m"));
        let short = Settings {
            access_token_ttl: Some(Duration::from_secs(60)),
            leeway: Some(Duration::ZERO),
            key_reload_interval: Some(Duration::from_secs(1)),
            ..Settings::default()
        };
        assert_eq!(
            short.retired_key_lifetime().unwrap().total(),
            Duration::from_secs(6 * 60 + 1)
        );
    }

    #[test]
    fn the_verify_cache_is_on_unless_set_to_zero() {
        let config = production().validate().unwrap();
        assert_eq!(config.verify_cache_bytes, crate::token::VERIFY_CACHE_BYTES);
        let off = Settings {
            verify_cache_bytes: Some(0),
            ..production()
        }
        .validate()
        .unwrap();
        assert_eq!(off.verify_cache_bytes, 0);
    }

    #[test]
    fn ended_sessions_outlive_their_access_tokens() {
        let msg = refusal(Settings {
            purge_retention: Some(Duration::from_secs(60)),
            ..production()
        });
        assert!(msg.contains("purge_retention"), "{msg}");
        let config = Settings {
            purge_retention: Some(Duration::from_secs(2)),
            access_token_ttl: Some(Duration::from_secs(1)),
            leeway: Some(Duration::from_secs(1)),
            ..production()
        }
        .validate()
        .unwrap();
        assert_eq!(config.purge_retention, Duration::from_secs(2));
    }

    #[test]
    fn durations_must_be_positive() {
        let msg = refusal(Settings {
            access_token_ttl: Some(Duration::ZERO),
            ..production()
        });
        assert_eq!(msg, "access_token_ttl must be longer than zero");
    }

    #[test]
    fn the_database_url_can_come_from_a_file_never_quoted() {
        use secrecy::ExposeSecret;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("url");
        std::fs::write(&file, "postgres://inkan:hunter2@db/inkan\n").unwrap();
        let config = Settings {
            database_url: None,
            database_url_file: Some(file.clone()),
            ..production()
        }
        .validate()
        .unwrap();
        assert_eq!(
            config.database_url.expose_secret(),
            "postgres://inkan:hunter2@db/inkan"
        );
        let msg = refusal(Settings {
            database_url_file: Some(file.clone()),
            ..production()
        });
        assert!(msg.contains("set only one"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        let missing = dir.path().join("absent");
        let msg = refusal(Settings {
            database_url: None,
            database_url_file: Some(missing.clone()),
            ..production()
        });
        assert!(msg.contains(&missing.display().to_string()), "{msg}");
        std::fs::write(&file, "  \n").unwrap();
        let msg = refusal(Settings {
            database_url: None,
            database_url_file: Some(file),
            ..production()
        });
        assert!(msg.contains("is empty"), "{msg}");
    }

    #[test]
    fn certificate_callers_need_a_client_ca() {
        let tls = |client_ca_file: Option<PathBuf>| TlsSettings {
            cert_file: "tls.crt".into(),
            key_file: "tls.key".into(),
            client_ca_file,
            client_certificates: None,
            reload_interval: None,
        };
        let orders = CallerConfig {
            name: "orders".into(),
            certificate_san: Some("spiffe://cluster/ns/orders/sa/api".into()),
            permissions: vec![Permission::Issue],
            ..CallerConfig::default()
        };
        let msg = refusal(Settings {
            tls: Some(tls(None)),
            callers: vec![orders.clone()],
            ..production()
        });
        assert!(msg.contains("client_ca_file"), "{msg}");
        let config = Settings {
            tls: Some(tls(Some("ca.crt".into()))),
            callers: vec![orders],
            ..production()
        }
        .validate()
        .unwrap();
        let tls = config.tls.unwrap();
        assert_eq!(
            tls.client_certificates,
            Some(crate::tls::ClientCertificates::Optional)
        );
        assert_eq!(tls.reload_interval, Duration::from_secs(10));
    }

    #[test]
    fn restricting_verify_needs_a_caller_that_may_verify() {
        let msg = refusal(Settings {
            verify_requires_permission: true,
            ..production()
        });
        assert!(msg.contains("verify permission"), "{msg}");
    }
}
