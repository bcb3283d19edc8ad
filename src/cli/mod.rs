//! The command line: `serve`, `migrate`, `check`, `keys` and `token`.
//! Flags are parsed here and layered over the config file and environment;
//! [`crate::config::Settings::validate`] then decides what is valid.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc};

use clap::{Args, Parser, Subcommand};

mod inspect;
mod keys;
use secrecy::{ExposeSecret, SecretString};

use crate::{
    authority::Authority,
    config::{Config, LogFormat, Settings},
    keys::{KeyAlgorithm, KeyStore},
    ledger::Ledger,
    revocations::RevocationCache,
    server::{load_keys, Server},
    telemetry,
};

/// inkan: a token authority for internal services.
#[derive(Debug, Parser)]
#[command(name = "inkan", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the token service (gRPC) and its public keys (HTTP).
    Serve(ServeArgs),
    /// Bring the ledger's schema up to date.
    Migrate(ConfigArgs),
    /// Validate the configuration, and print each key's kid and fingerprint
    /// (never a secret), so two environments can be compared.
    Check(ConfigArgs),
    /// Create, rotate and inspect key sets.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Look inside tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Dev mode: local SQLite, unauthenticated callers, an ephemeral key
    /// unless --keys is given. For trying inkan out only: it refuses
    /// configured callers, a database URL, an issuer and non-loopback
    /// addresses. The only way to switch dev mode on.
    #[arg(long)]
    dev: bool,
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Debug, Args)]
struct ConfigArgs {
    /// TOML configuration file.
    #[arg(long, env = "INKAN_CONFIG")]
    config: Option<PathBuf>,
    /// Key-set file.
    #[arg(long = "keys", env = "INKAN_KEYS_FILE")]
    keys_file: Option<PathBuf>,
    /// Ledger database URL (sqlite://, postgres://, mysql://).
    #[arg(long, env = "INKAN_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The `iss` of every token, e.g. https://auth.example.com.
    #[arg(long, env = "INKAN_ISSUER")]
    issuer: Option<String>,
    /// gRPC listen address [default: 0.0.0.0:50051; dev: 127.0.0.1:50051].
    #[arg(long, env = "INKAN_GRPC_ADDR")]
    grpc_addr: Option<SocketAddr>,
    /// HTTP listen address [default: 0.0.0.0:8080; dev: 127.0.0.1:8080].
    #[arg(long, env = "INKAN_HTTP_ADDR")]
    http_addr: Option<SocketAddr>,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key set with one new active key.
    Generate {
        /// EdDSA (recommended), ES256, RS256, or HS256 (a shared secret,
        /// never published: only when every verifier can hold it).
        #[arg(long, default_value = "EdDSA")]
        alg: KeyAlgorithm,
        /// Where to write the key set (mode 0600). Without it, the key set
        /// is printed to standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// One safe rotation step: add a `next` key; run again (10 minutes later,
    /// twice the JWKS max-age) to promote it to active and retire the old active key; with
    /// --drop-retired, remove keys whose tokens have all expired.
    Rotate {
        #[arg(long = "keys", env = "INKAN_KEYS_FILE")]
        keys_file: PathBuf,
        /// Algorithm of the new key [default: the active key's].
        #[arg(long)]
        alg: Option<KeyAlgorithm>,
        /// Promote even if the next key was published only moments ago.
        #[arg(long)]
        force: bool,
        /// Remove verify_only keys retired longer ago than --token-lifetime,
        /// and legacy keys past their sunset.
        #[arg(long)]
        drop_retired: bool,
        /// How long after a key retires its last token may still be alive:
        /// the access-token lifetime and leeway (15m 30s by default), plus
        /// time for every replica to load the file that retired it.
        #[arg(long, default_value = "20m 30s", value_parser = humantime::parse_duration)]
        token_lifetime: std::time::Duration,
    },
    /// Add a former system's HS256 secret as a legacy key: it verifies tokens
    /// without a kid, until its sunset.
    AddLegacy {
        #[arg(long = "keys", env = "INKAN_KEYS_FILE")]
        keys_file: PathBuf,
        /// File holding the secret's raw bytes (a trailing newline is dropped).
        #[arg(long)]
        secret_file: PathBuf,
        /// When the key stops accepting tokens (RFC 3339).
        #[arg(long, value_parser = humantime::parse_rfc3339_weak)]
        sunset: std::time::SystemTime,
        /// The key's name in the key set.
        #[arg(long, default_value = "legacy")]
        label: String,
        /// The `iss` the former system's tokens carry, to check it.
        #[arg(long)]
        issuer: Option<String>,
    },
    /// List kids, algorithms, states and fingerprints; never key material.
    Show {
        #[arg(long = "keys", env = "INKAN_KEYS_FILE")]
        keys_file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Decode a token's header and claims, and say in one line whether the
    /// configured keys accept it, and if not, why.
    Inspect {
        /// The JWT.
        token: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

impl ConfigArgs {
    fn settings(self) -> Result<Settings, String> {
        let mut settings = Settings::load(self.config.as_deref()).map_err(|e| e.to_string())?;
        if let Some(v) = self.keys_file {
            settings.keys_file = Some(v);
        }
        if let Some(v) = self.database_url {
            settings.database_url = Some(SecretString::from(v));
        }
        if let Some(v) = self.issuer {
            settings.issuer = Some(v);
        }
        if let Some(v) = self.grpc_addr {
            settings.grpc_addr = Some(v);
        }
        if let Some(v) = self.http_addr {
            settings.http_addr = Some(v);
        }
        Ok(settings)
    }

    fn config(self, dev: bool) -> Result<Config, String> {
        let settings = self.settings()?;
        let config = if dev {
            settings.validate_dev()
        } else {
            settings.validate()
        };
        config.map_err(|e| e.to_string())
    }
}

/// Runs the command line; returns the process's exit code. Every failure is
/// one line on standard error.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => return fail(format!("cannot start the async runtime: {err}")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(message),
    }
}

fn fail(message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve(args) => serve(args.config.config(args.dev)?).await,
        Command::Migrate(args) => {
            let settings = args.settings()?;
            let url = settings
                .database_url
                .ok_or("no ledger database: set database_url in the config file, INKAN_DATABASE_URL or --database-url")?;
            telemetry::init(settings.log_format.unwrap_or(LogFormat::default_for(false)));
            let ledger = Ledger::connect(url.expose_secret())
                .await
                .map_err(|e| e.to_string())?;
            ledger
                .migrate()
                .await
                .map_err(|e| format!("migration failed: {e:?}"))?;
            println!("ledger schema is up to date");
            Ok(())
        }
        Command::Check(args) => check(args.config(false)?).await,
        Command::Keys(command) => keys::run(command),
        Command::Token(TokenCommand::Inspect { token, config }) => {
            inspect::run(&token, config.settings()?)
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    telemetry::init(config.log_format);
    let server = Server::build(config).await.map_err(|e| e.to_string())?;
    server
        .run(shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

async fn check(config: Config) -> Result<(), String> {
    let loaded = load_keys(&config.keys).map_err(|e| e.to_string())?;
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    let keys = loaded.set;
    println!("issuer: {}", config.policy.issuer);
    for line in keys::describe(&keys) {
        println!("{line}");
    }
    let ledger = Ledger::connect(config.database_url.expose_secret())
        .await
        .map_err(|e| format!("ledger database unreachable: {e}"))?;
    ledger
        .ping()
        .await
        .map_err(|e| format!("ledger database unreachable: {e}"))?;
    println!("ledger: reachable ({:?})", ledger.backend());
    let revocations = Arc::new(RevocationCache::new(config.policy.access_token_ttl));
    let authority = Authority::new(
        config.policy,
        KeyStore::new(keys),
        ledger,
        revocations,
        Arc::new(crate::metrics::Metrics::new()),
    );
    authority
        .self_test()
        .map_err(|e| format!("self-test failed: {e}"))?;
    println!("self-test: a token signed with the active key verifies through the published keys");
    println!("configuration is valid");
    Ok(())
}

/// Resolves on SIGTERM (Kubernetes) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
