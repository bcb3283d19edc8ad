//! The command line: `serve`, `migrate`, `check`, `keys`, `token`,
//! `callers` and `legacy`.
//! Flags are parsed here and layered over the config file and environment;
//! [`crate::config::Settings::validate`] then decides what is valid. Each
//! command takes only the flags it uses (see [`flags`]), and every failure,
//! a mistyped flag included, is one line on standard error.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

mod callers;
mod flags;
mod inspect;
mod keys;
mod legacy;
use secrecy::{ExposeSecret, SecretString};

use crate::{
    callers::Permission,
    config::{Config, LogFormat, Settings},
    keys::KeyAlgorithm,
    ledger::Ledger,
    server::{error_chain, prepare, Purpose, Server},
    telemetry,
};
use flags::{
    print_json, ConfigFile, DatabaseFlag, IssuerFlag, KeysFlag, Output, OutputFlag, ServerArgs,
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
    Serve {
        /// Dev mode: local SQLite, unauthenticated callers, an ephemeral key
        /// unless --keys is given. For trying inkan out only: it refuses
        /// configured callers, a database URL, an issuer and non-loopback
        /// addresses. The only way to switch dev mode on.
        #[arg(long)]
        dev: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Bring the ledger's schema up to date.
    Migrate {
        #[command(flatten)]
        file: ConfigFile,
        #[command(flatten)]
        database: DatabaseFlag,
    },
    /// Validate the configuration `serve` would start with, and print each
    /// key's kid and fingerprint (never a secret), so two environments can
    /// be compared.
    Check {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        output: OutputFlag,
    },
    /// Create, rotate and inspect key sets.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Look inside tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Make API keys for the services that call inkan.
    #[command(subcommand)]
    Callers(CallersCommand),
    /// Move off a former system: import its refresh tokens.
    #[command(subcommand)]
    Legacy(LegacyCommand),
}

#[derive(Debug, Subcommand)]
enum LegacyCommand {
    /// Import the former system's refresh tokens (only their SHA-256 is
    /// stored), so Refresh exchanges each once for an inkan session. All or
    /// nothing; rerunning it with the same export changes nothing.
    ImportRefreshTokens {
        /// The export: CSV with a header row, or JSON lines, each record
        /// with token (or sha256), subject and expires_at, and optionally
        /// kind (jwt or opaque), client_id and device; `-` reads standard
        /// input.
        export: PathBuf,
        /// How the export is written [default: by its extension, .csv or
        /// .jsonl].
        #[arg(long, value_enum)]
        format: Option<legacy::ExportFormat>,
        /// The legacy key (marked for refresh) whose sunset and session
        /// grant opaque tokens are exchanged under [default: the only one].
        #[arg(long, value_name = "LABEL")]
        legacy_key: Option<String>,
        #[command(flatten)]
        file: ConfigFile,
        #[command(flatten)]
        keys: KeysFlag,
        #[command(flatten)]
        database: DatabaseFlag,
    },
}

#[derive(Debug, Subcommand)]
enum CallersCommand {
    /// Make an API key for a caller: prints the key, once, and the
    /// [[callers]] stanza for the configuration, which holds only its
    /// SHA-256.
    Add {
        /// The caller's name, for logs: letters, digits, '-', '_' and '.'.
        #[arg(long)]
        name: String,
        /// What it may do beyond Verify: issue (start sessions), verify
        /// (when verify_requires_permission is set), refresh (when
        /// refresh_requires_permission is set) or admin (list and end any
        /// session). Repeat for several.
        #[arg(long = "permission", value_name = "PERMISSION")]
        permissions: Vec<Permission>,
    },
}

// Parsed once per process and moved once: the size of its largest
// variant costs nothing worth boxing fields for.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key set with one new active key.
    Generate {
        /// ES256 (the default: every common verifier accepts it), EdDSA,
        /// RS256, or HS256 (a shared secret, never published: only when
        /// every verifier can hold it); any case.
        #[arg(long, default_value_t = crate::keys::DEFAULT_ALGORITHM)]
        alg: KeyAlgorithm,
        /// Where to write the key set (mode 0600; never overwrites a file).
        /// Without it, the keys_file of --config, if given; otherwise the
        /// key set is printed to standard output.
        #[arg(long = "keys", alias = "out", value_name = "FILE")]
        keys_file: Option<PathBuf>,
        #[command(flatten)]
        file: ConfigFile,
    },
    /// One safe rotation step: add a `next` key; run again (10 minutes later,
    /// twice the JWKS max-age) to promote it to active and retire the old
    /// active key; with --drop-retired, remove keys whose tokens have all
    /// expired, by the lifetimes in --config / INKAN_*.
    Rotate {
        // The configuration the servers run with: its access_token_ttl,
        // leeway and key_reload_interval decide when a retired key may go,
        // and its keys_file is used when --keys is not given.
        #[command(flatten)]
        file: ConfigFile,
        #[command(flatten)]
        keys: KeysFlag,
        /// Algorithm of the new key, in any case [default: the active key's].
        #[arg(long)]
        alg: Option<KeyAlgorithm>,
        /// Promote a next key published only moments ago, or drop keys with
        /// a --token-lifetime shorter than the configuration's.
        #[arg(long)]
        force: bool,
        /// Remove verify_only keys whose last token has expired (retired
        /// longer ago than the sum of access_token_ttl, leeway,
        /// key_reload_interval and 5m for every replica to load the file),
        /// and legacy keys past their sunset.
        #[arg(long)]
        drop_retired: bool,
        /// Wait this long after a key retired instead; longer than the
        /// configuration's wait, or shorter only with --force.
        #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
        token_lifetime: Option<std::time::Duration>,
    },
    /// Add a former system's HS256 secret as a legacy key: it verifies tokens
    /// without a kid, until its sunset.
    AddLegacy {
        // The key-set file to add the legacy key to: --keys, or the
        // keys_file of --config / INKAN_KEYS_FILE.
        #[command(flatten)]
        file: ConfigFile,
        #[command(flatten)]
        keys: KeysFlag,
        /// File holding the secret's raw bytes (a trailing newline is dropped).
        #[arg(long, value_name = "FILE")]
        secret_file: PathBuf,
        /// When the key stops accepting tokens (RFC 3339).
        #[arg(long, value_parser = humantime::parse_rfc3339_weak, value_name = "TIME")]
        sunset: std::time::SystemTime,
        /// The key's name in the key set.
        #[arg(long, default_value = "legacy")]
        label: String,
        /// The `iss` the former system's tokens carry, to check it.
        #[arg(long, value_name = "URL")]
        issuer: Option<String>,
        /// Accept the former system's tokens that carry no `iat` (PyJWT sets
        /// none by default), but only with at most this long left before
        /// their `exp` (e.g. its access-token lifetime, "15m"; at most 24h).
        /// Without it, such tokens are refused: nothing bounds their
        /// lifetime, so a long-lived refresh JWT would pass near its end.
        #[arg(long, value_parser = humantime::parse_duration)]
        max_remaining_without_iat: Option<std::time::Duration>,
        /// The claim that holds the subject in the former system's tokens,
        /// e.g. `user_id` (an integer is taken in decimal) [default: sub].
        #[arg(long, value_name = "CLAIM")]
        subject_claim: Option<String>,
        /// The audience the former system's access tokens must name in `aud`.
        #[arg(long, value_name = "AUDIENCE")]
        audience: Option<String>,
        /// An audience the former system's access tokens without `aud` stand
        /// for: Verify naming it accepts them, naming another refuses them;
        /// repeat for several.
        #[arg(long = "access-audience", value_name = "AUDIENCE")]
        access_audience: Vec<String>,
        /// A scope the former system's access tokens without `scope` carry;
        /// repeat for several.
        #[arg(long = "access-scope", value_name = "SCOPE")]
        access_scopes: Vec<String>,
        /// Also exchange the former system's refresh tokens (those imported
        /// with `inkan legacy import-refresh-tokens`) once each for an inkan
        /// session; needs --session-audience.
        #[arg(long)]
        refresh: bool,
        /// The audience of the sessions its refresh tokens open; repeat for
        /// several.
        #[arg(long = "session-audience", value_name = "AUDIENCE")]
        session_audience: Vec<String>,
        /// A scope of the sessions its refresh tokens open; repeat for several.
        #[arg(long = "session-scope", value_name = "SCOPE")]
        session_scopes: Vec<String>,
    },
    /// List kids, algorithms, states and fingerprints; never key material.
    Show {
        // The key-set file to show: --keys, or the keys_file of --config /
        // INKAN_KEYS_FILE.
        #[command(flatten)]
        file: ConfigFile,
        #[command(flatten)]
        keys: KeysFlag,
        #[command(flatten)]
        output: OutputFlag,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Decode a token's header and claims, and say in one line whether the
    /// configured keys accept it, and if not, why.
    Inspect {
        /// The JWT. Leave it out (or give `-`) to read it from standard
        /// input, where shell history and `ps` cannot see it.
        token: Option<String>,
        #[command(flatten)]
        file: ConfigFile,
        #[command(flatten)]
        keys: KeysFlag,
        #[command(flatten)]
        issuer: IssuerFlag,
        #[command(flatten)]
        output: OutputFlag,
    },
}

/// Runs the command line; returns the process's exit code. Every failure is
/// one line on standard error.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version go to standard output as clap writes them.
        Err(err) if !err.use_stderr() => err.exit(),
        Err(err) => {
            eprintln!("{} (see --help)", one_line(&err.render().to_string()));
            return ExitCode::from(2);
        }
    };
    crate::tls::install_default_provider();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => return fail(format!("cannot start the async runtime: {err}")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(message),
    }
}

/// clap's message on one line: what is wrong, with what it lists (the
/// missing arguments, on the lines after "not provided:") and its tips,
/// without the usage that follows.
fn one_line(rendered: &str) -> String {
    let mut line = String::new();
    for part in rendered
        .lines()
        .take_while(|l| !l.starts_with("Usage:"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
    }
    line
}

fn fail(message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve { dev, server } => {
            let settings = server.settings()?;
            let config = if dev {
                settings.validate_dev()
            } else {
                settings.validate()
            };
            serve(config.map_err(|e| e.to_string())?).await
        }
        Command::Migrate { file, database } => {
            let mut settings = file.load()?;
            database.apply(&mut settings);
            let url = ledger_url(&settings)?;
            let _log =
                telemetry::init(settings.log_format.unwrap_or(LogFormat::default_for(false)));
            let ledger = Ledger::connect(url.expose_secret()).await.map_err(|e| {
                format!(
                    "cannot open the ledger database: {} (check database_url / INKAN_DATABASE_URL)",
                    error_chain(&e)
                )
            })?;
            ledger
                .migrate()
                .await
                .map_err(|e| format!("migration failed: {}", error_chain(&e)))?;
            println!("ledger schema is up to date");
            Ok(())
        }
        Command::Check { server, output } => {
            let outcome = match server
                .settings()
                .and_then(|s| s.validate().map_err(|e| e.to_string()))
            {
                Ok(config) => check(config, output.output).await,
                Err(message) => Err(message),
            };
            // A script reading the JSON learns that the check failed, and
            // why, from standard output too.
            if let (Err(message), Output::Json) = (&outcome, output.output) {
                print_json(&serde_json::json!({ "valid": false, "error": message }));
            }
            outcome
        }
        Command::Keys(command) => keys::run(command),
        Command::Callers(command) => callers::run(command),
        Command::Legacy(LegacyCommand::ImportRefreshTokens {
            export,
            format,
            legacy_key,
            file,
            keys,
            database,
        }) => {
            let mut settings = file.load()?;
            keys.apply(&mut settings);
            database.apply(&mut settings);
            // The ledger as migrate, check and serve find it, the file
            // database_url_file names included.
            settings.database_url = Some(ledger_url(&settings)?);
            settings.database_url_file = None;
            let _log =
                telemetry::init(settings.log_format.unwrap_or(LogFormat::default_for(false)));
            legacy::import(&export, format, legacy_key.as_deref(), settings).await
        }
        Command::Token(TokenCommand::Inspect {
            token,
            file,
            keys,
            issuer,
            output,
        }) => {
            let mut settings = file.load()?;
            keys.apply(&mut settings);
            issuer.apply(&mut settings);
            let token = inspect::read_token(token)?;
            inspect::run(&token, settings, output.output)
        }
    }
}

/// The ledger's database URL, read as `check` and `serve` read it:
/// `database_url`, or the content of the file `database_url_file` names.
fn ledger_url(settings: &Settings) -> Result<SecretString, String> {
    settings
        .database_url()
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            "no ledger database: set database_url (or database_url_file) in the config file, \
         INKAN_DATABASE_URL or --database-url"
                .to_owned()
        })
}

async fn serve(config: Config) -> Result<(), String> {
    // Held until serve returns, so the last lines are written out.
    let _log = telemetry::init(config.log_format);
    let server = Server::build(config).await.map_err(|e| e.to_string())?;
    server
        .run(shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

/// Checks everything `serve` would, without serving: the same start-up
/// ([`prepare`]: the keys and what to warn of, the TLS files, the ledger
/// and its schema, a token signed and verified through the keys as
/// published), writing nothing. Warnings go to standard error in either
/// output.
async fn check(config: Config, output: Output) -> Result<(), String> {
    let text = output == Output::Text;
    let prepared = prepare(&config, Purpose::Check)
        .await
        .map_err(|e| e.to_string())?;
    for warning in &prepared.warnings {
        eprintln!("warning: {warning}");
    }
    let keys = prepared.authority.keys().current();
    let views = keys::views(keys.set());
    let engine = prepared.authority.ledger().engine();
    let tls = prepared.tls.as_ref().map(|(tls, material)| {
        let expires = humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(material.not_after),
        )
        .to_string();
        let client_ca = match &tls.files.client_ca {
            Some(ca) => format!("; client CA {}", ca.display()),
            None => String::new(),
        };
        let line = format!(
            "tls: certificate {} matches its key, valid until {expires}{client_ca}",
            tls.files.cert.display()
        );
        (line, expires)
    });
    if text {
        println!("issuer: {}", config.policy.issuer);
        for view in &views {
            println!("{}", view.line());
        }
        if let Some((line, _)) = &tls {
            println!("{line}");
        }
        println!("ledger: reachable ({engine}), {}", prepared.schema);
        println!(
            "self-test: a token signed with the active key verifies through the published keys"
        );
        println!("configuration is valid");
    } else {
        print_json(&serde_json::json!({
            "valid": true,
            "issuer": config.policy.issuer,
            "keys": views,
            "ledger": { "reachable": true, "backend": engine.to_string(), "schema": "current" },
            "self_test": "passed",
            "tls": match &tls {
                Some((_, expires)) => serde_json::json!({ "enabled": true, "certificate_expires": expires }),
                None => serde_json::json!({ "enabled": false }),
            },
            "warnings": prepared.warnings,
        }));
    }
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every command and flag says what it is for in `--help`.
    #[test]
    fn every_command_and_flag_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{id}"));
                }
            }
            for sub in command.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(path.clone());
                }
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "inkan", &mut missing);
        assert!(missing.is_empty(), "without help: {missing:?}");
    }
}
