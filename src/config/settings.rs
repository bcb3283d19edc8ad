//! [`Settings`]: the configuration as read, from the TOML file and then the
//! `INKAN_*` environment, before anything is checked. Every field is
//! optional here; `validate.rs` decides what is required and fills in
//! `defaults.rs`.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use figment::{
    providers::{Env, Format, Toml},
    Figment,
};
use secrecy::SecretString;
use serde::Deserialize;

use super::{read_error, ConfigError};
use crate::{callers::CallerConfig, tls::TlsSettings};

/// Settings that the environment may set, as `INKAN_<NAME>`: every field
/// of [`Settings`] but the `[tls]` and `[[callers]]` tables (a test holds
/// the list to the struct). `dev` is not one of them: dev mode comes only
/// from `serve --dev`.
pub(super) const ENV_SETTINGS: &[&str] = &[
    "keys_file",
    "database_url",
    "database_url_file",
    "issuer",
    "public_jwks_url",
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
    /// The JWKS URL the discovery document names as `jwks_uri`
    /// (`INKAN_PUBLIC_JWKS_URL`), for consumers that reach inkan at another
    /// address than the issuer's; the issuer followed by
    /// `/.well-known/jwks.json` when unset.
    pub public_jwks_url: Option<String>,
    /// Where gRPC (`TokenService`, health, reflection) is served
    /// (`--grpc-addr`).
    pub grpc_addr: Option<SocketAddr>,
    /// Where the JWKS and discovery document are served (`--http-addr`).
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
    /// How long an access token lives.
    #[serde(default, with = "humantime_serde")]
    pub access_token_ttl: Option<Duration>,
    /// How long a refresh token lasts unused; slides with each rotation.
    #[serde(default, with = "humantime_serde")]
    pub refresh_token_idle_ttl: Option<Duration>,
    /// The absolute end of a session, counted from login.
    #[serde(default, with = "humantime_serde")]
    pub session_lifetime: Option<Duration>,
    /// Tolerated clock difference when checking token times.
    #[serde(default, with = "humantime_serde")]
    pub leeway: Option<Duration>,
    /// How long after a refresh a retry of it gets the same successor, by
    /// the database's clock; zero turns retries off.
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
    /// How logs are written (default: [`LogFormat::default_for`]).
    pub log_format: Option<LogFormat>,
    /// Connections each port holds at once (see [`Limits`](super::Limits)).
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
        let mut settings: Settings = figment
            .extract()
            .map_err(|e| ConfigError::Read(read_error::describe(e)))?;
        if let Some(dir) = file.and_then(std::path::Path::parent) {
            super::file_paths::resolve_from_file(&mut settings, dir, |name| {
                std::env::var_os(format!("INKAN_{}", name.to_ascii_uppercase())).is_some()
            });
        }
        Ok(settings)
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
}

#[cfg(test)]
mod tests {
    use figment::{error::Kind, providers::Serialized};

    use super::*;

    /// Every field of [`Settings`], as serde knows them: the list it names
    /// when it meets a field it does not know. Taken from the derive, so a
    /// new field is in it without anyone writing it down twice.
    fn fields() -> &'static [&'static str] {
        let err = Figment::from(Serialized::default("no_such_setting", 0))
            .extract::<Settings>()
            .expect_err("an unknown setting is refused");
        match err.kind {
            Kind::UnknownField(_, expected) => expected,
            other => panic!("expected an unknown-field error, got {other:?}"),
        }
    }

    /// A setting added without adding it to [`ENV_SETTINGS`] could not be
    /// set from the environment, which the documentation promises for
    /// every plain setting; a name in the list that is no field would be
    /// silently dropped.
    #[test]
    fn every_plain_setting_and_nothing_else_can_come_from_the_environment() {
        // Tables, which a single environment variable cannot spell.
        const TABLES: [&str; 2] = ["tls", "callers"];
        let plain: Vec<&str> = fields()
            .iter()
            .copied()
            .filter(|f| !TABLES.contains(f))
            .collect();
        let unlisted: Vec<&str> = plain
            .iter()
            .copied()
            .filter(|f| !ENV_SETTINGS.contains(f))
            .collect();
        let no_setting: Vec<&str> = ENV_SETTINGS
            .iter()
            .copied()
            .filter(|name| !plain.contains(name))
            .collect();
        assert!(
            unlisted.is_empty(),
            "settings missing from ENV_SETTINGS: {unlisted:?}"
        );
        assert!(
            no_setting.is_empty(),
            "ENV_SETTINGS names that are no setting: {no_setting:?}"
        );
        assert!(
            !ENV_SETTINGS.contains(&"dev"),
            "dev mode never comes from the environment"
        );
    }
}
