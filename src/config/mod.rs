//! Configuration: read in layers (built-in limits, then the TOML file, then
//! `INKAN_*` environment variables, then command-line flags) into
//! [`Settings`], and validated once into a [`Config`] that cannot hold an
//! invalid value. No key, secret, database or issuer has a default outside
//! dev mode; a missing one stops start-up with a message naming the setting.
//! Dev mode is no setting: only `serve --dev` asks for it, and it refuses
//! anything that belongs to a real deployment.
//!
//! - `settings.rs`: the settings as read, and which the environment may set.
//! - `defaults.rs`: every default, and why it is that value.
//! - `validate.rs`: the checks, step by step, from [`Settings`] to [`Config`].
//! - `limits.rs`: what callers may hold at once.
//! - `retired_key.rs`: how long a retired key's tokens may still be alive.
//! - `read_error.rs`: saying what is wrong with a setting without quoting it.
//! - `file_paths.rs`: relative paths in the file name files beside it.
//! - `env_names.rs`: `INKAN_*` variables that name no setting.

mod defaults;
mod env_names;
mod file_paths;
mod limits;
mod read_error;
mod retired_key;
mod settings;
mod validate;

pub use defaults::{DEV_DATABASE_FILE, DEV_DATABASE_URL};
pub use env_names::unknown_env_vars;
pub use limits::{
    Limits, CONNECTION_WINDOW_BYTES, HEALTH_MAX_REQUEST_BYTES, MAX_REQUEST_BYTES,
    REFLECTION_MAX_REQUEST_BYTES, STREAM_WINDOW_BYTES,
};
pub use retired_key::{RetiredKeyLifetime, KEY_ROLLOUT_ALLOWANCE};
pub use settings::{LogFormat, Settings};

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use secrecy::SecretString;

use crate::{authority::Policy, callers::CallerRegistry, tls::TlsConfig};

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
    /// Where the signing keys come from.
    pub keys: KeySource,
    /// The ledger's database; its `Debug` hides it.
    pub database_url: SecretString,
    /// The `jwks_uri` of the discovery document, when not the issuer's.
    pub public_jwks_url: Option<String>,
    /// Where gRPC is served.
    pub grpc_addr: SocketAddr,
    /// Where the JWKS and discovery document are served.
    pub http_addr: SocketAddr,
    /// Where Prometheus `/metrics` is served.
    pub metrics_addr: SocketAddr,
    /// Plain-text gRPC health for probes, when set.
    pub health_addr: Option<SocketAddr>,
    /// How long an HTTP client may take to send a request's head.
    pub http_header_timeout: Duration,
    /// After SIGTERM, how long to serve while health says NOT_SERVING.
    pub drain_period: Duration,
    /// Then, how long calls in flight may take to finish.
    pub shutdown_timeout: Duration,
    /// Token lifetimes and tolerances, and which calls need a permission.
    pub policy: Policy,
    /// How often the key-set file is checked for changes.
    pub key_reload_interval: Duration,
    /// Whether gRPC reflection is served.
    pub reflection: bool,
    /// Who may call, and what each may do.
    pub callers: CallerRegistry,
    /// TLS on the gRPC and HTTP ports; plain TCP when `None`.
    pub tls: Option<TlsConfig>,
    /// Whether migrations run at start-up.
    pub migrate_on_start: bool,
    /// How long ended sessions and tokens are kept before purging.
    pub purge_retention: Duration,
    /// The bound of the cache of verified access tokens, in bytes.
    pub verify_cache_bytes: u64,
    /// How logs are written.
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
    /// The file or the environment could not be read or parsed.
    #[error("cannot read the configuration: {0}")]
    Read(String),
    /// A setting is missing, out of range or at odds with another.
    #[error("{0}")]
    Invalid(String),
}
