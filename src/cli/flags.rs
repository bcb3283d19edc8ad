//! Flag groups shared by commands. Each command takes only the groups it
//! uses, so none accepts a flag it would ignore, and each group lays its
//! values over the settings read from the config file and environment
//! (flags win over the environment, which wins over the file).

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, ValueEnum};
use secrecy::SecretString;

use crate::config::{unknown_env_vars, Settings};

/// The configuration file.
#[derive(Debug, Args)]
pub(super) struct ConfigFile {
    /// TOML configuration file (its settings are listed in the README).
    #[arg(long, env = "INKAN_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

impl ConfigFile {
    /// The settings from the file (if any) and the `INKAN_*` environment;
    /// warns, on standard error, of each `INKAN_*` variable that names no
    /// setting (a misspelt one would otherwise be ignored in silence).
    pub(super) fn load(&self) -> Result<Settings, String> {
        for warning in unknown_env_vars(std::env::vars_os()) {
            eprintln!("warning: {warning}");
        }
        Settings::load(self.config.as_deref()).map_err(|e| e.to_string())
    }

    /// Whether a config file is named (`--config` or `INKAN_CONFIG`).
    pub(super) fn given(&self) -> bool {
        self.config.is_some()
    }
}

/// The key-set file.
#[derive(Debug, Args)]
pub(super) struct KeysFlag {
    /// Key-set file [config: keys_file].
    #[arg(long = "keys", env = "INKAN_KEYS_FILE", value_name = "FILE")]
    pub(super) keys_file: Option<PathBuf>,
}

impl KeysFlag {
    pub(super) fn apply(self, settings: &mut Settings) {
        if let Some(path) = self.keys_file {
            settings.keys_file = Some(path);
        }
    }
}

/// The ledger database.
#[derive(Debug, Args)]
pub(super) struct DatabaseFlag {
    /// Ledger database URL (sqlite://, postgres://, mysql://) [config: database_url].
    #[arg(
        long,
        env = "INKAN_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    database_url: Option<String>,
}

impl DatabaseFlag {
    pub(super) fn apply(self, settings: &mut Settings) {
        if let Some(url) = self.database_url {
            // The flag stands in for whatever the file names.
            settings.database_url = Some(SecretString::from(url));
            settings.database_url_file = None;
        }
    }
}

/// The issuer tokens carry.
#[derive(Debug, Args)]
pub(super) struct IssuerFlag {
    /// The `iss` of every token, e.g. https://auth.example.com [config: issuer].
    #[arg(long, env = "INKAN_ISSUER", value_name = "URL")]
    issuer: Option<String>,
}

impl IssuerFlag {
    pub(super) fn apply(self, settings: &mut Settings) {
        if let Some(issuer) = self.issuer {
            settings.issuer = Some(issuer);
        }
    }
}

/// Where a server listens.
#[derive(Debug, Args)]
pub(super) struct ListenFlags {
    /// gRPC listen address [default: 0.0.0.0:50051; dev: 127.0.0.1:50051].
    #[arg(long, env = "INKAN_GRPC_ADDR", value_name = "ADDR")]
    grpc_addr: Option<SocketAddr>,
    /// HTTP listen address [default: 0.0.0.0:8080; dev: 127.0.0.1:8080].
    #[arg(long, env = "INKAN_HTTP_ADDR", value_name = "ADDR")]
    http_addr: Option<SocketAddr>,
    /// Prometheus /metrics listen address, never the public HTTP port
    /// [default: 127.0.0.1:9090].
    #[arg(long, env = "INKAN_METRICS_ADDR", value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,
}

impl ListenFlags {
    pub(super) fn apply(self, settings: &mut Settings) {
        if let Some(addr) = self.grpc_addr {
            settings.grpc_addr = Some(addr);
        }
        if let Some(addr) = self.http_addr {
            settings.http_addr = Some(addr);
        }
        if let Some(addr) = self.metrics_addr {
            settings.metrics_addr = Some(addr);
        }
    }
}

/// Everything a server is configured by: for `serve` and `check`, which
/// must agree on what would start.
#[derive(Debug, Args)]
pub(super) struct ServerArgs {
    #[command(flatten)]
    file: ConfigFile,
    #[command(flatten)]
    keys: KeysFlag,
    #[command(flatten)]
    database: DatabaseFlag,
    #[command(flatten)]
    issuer: IssuerFlag,
    #[command(flatten)]
    listen: ListenFlags,
}

impl ServerArgs {
    /// The settings, with the flags laid over the file and environment.
    pub(super) fn settings(self) -> Result<Settings, String> {
        let mut settings = self.file.load()?;
        self.keys.apply(&mut settings);
        self.database.apply(&mut settings);
        self.issuer.apply(&mut settings);
        self.listen.apply(&mut settings);
        Ok(settings)
    }
}

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum Output {
    /// Lines for people.
    Text,
    /// One JSON object for scripts: stable field names, never a secret.
    Json,
}

/// The `--output` flag.
#[derive(Debug, Args)]
pub(super) struct OutputFlag {
    /// How to print the result: text for people, or one JSON object with
    /// stable field names for scripts (never a secret).
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub(super) output: Output,
}

/// Prints `value` as one line of JSON on standard output.
pub(super) fn print_json(value: &serde_json::Value) {
    println!("{value}");
}
