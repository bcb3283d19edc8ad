//! Checking [`Settings`] once, at start-up, into a [`Config`] that cannot
//! hold an invalid value. `Settings::validate_as` reads as its steps:
//! limits, addresses, key source, database, issuer, policy, callers and
//! TLS, shutdown. Each refusal names the setting and where to set it,
//! never its value.

use std::{net::SocketAddr, time::Duration};

use secrecy::SecretString;

use super::{defaults, Config, ConfigError, KeySource, LogFormat, Settings};
use crate::{
    authority::Policy,
    callers::{CallerRegistry, Permission},
    tls::{TlsConfig, TlsSettings},
};

/// The largest `leeway`: a clock further off than this is broken, and a
/// larger tolerance would keep expired tokens alive for that long.
const MAX_LEEWAY: Duration = Duration::from_secs(5 * 60);

/// The largest `reuse_grace`: a client retries within seconds; a longer
/// window would let a copied refresh token pass for a retry.
const MAX_REUSE_GRACE: Duration = Duration::from_secs(60);

/// The most `drain_period` and `shutdown_timeout` may add up to: a bound
/// that catches a mistaken unit (`20m` for `20s`) before every rollout
/// waits on it.
const MAX_STOPPING: Duration = Duration::from_secs(5 * 60);

/// Where the server listens.
struct Addresses {
    grpc: SocketAddr,
    http: SocketAddr,
    metrics: SocketAddr,
}

impl Settings {
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

    /// The checks, in the order their refusals are reported.
    fn validate_as(self, dev: bool) -> Result<Config, ConfigError> {
        let http_header_timeout = positive(
            "http_header_timeout",
            self.http_header_timeout,
            defaults::HTTP_HEADER_TIMEOUT,
        )?;
        // A new connection gets as long to speak as an HTTP client gets
        // for a request head.
        let limits = self.limits(http_header_timeout)?;
        let addresses = self.addresses(dev);
        let keys = self.key_source(dev)?;
        let database_url = self.ledger_database(dev)?;
        let issuer = self.issuer_or_dev(dev, addresses.http)?;
        let policy = self.policy(issuer, dev)?;
        let purge_retention = self.purge_retention(&policy)?;
        let (callers, tls) = self.callers_and_tls(dev, &policy)?;
        let (drain_period, shutdown_timeout) = self.stopping(dev)?;
        let key_reload_interval = self.key_reload_interval()?;
        Ok(Config {
            dev,
            keys,
            database_url,
            public_jwks_url: self.public_jwks_url()?,
            grpc_addr: addresses.grpc,
            http_addr: addresses.http,
            metrics_addr: addresses.metrics,
            health_addr: self.health_addr,
            http_header_timeout,
            drain_period,
            shutdown_timeout,
            policy,
            key_reload_interval,
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

    /// Every interface by default, loopback only in dev mode; metrics on
    /// loopback unless set.
    fn addresses(&self, dev: bool) -> Addresses {
        let public = if dev { loopback } else { any_interface };
        Addresses {
            grpc: self.grpc_addr.unwrap_or(public(defaults::GRPC_PORT)),
            http: self.http_addr.unwrap_or(public(defaults::HTTP_PORT)),
            metrics: self
                .metrics_addr
                .unwrap_or(loopback(defaults::METRICS_PORT)),
        }
    }

    /// The key-set file; only dev mode may do without one.
    fn key_source(&self, dev: bool) -> Result<KeySource, ConfigError> {
        match (&self.keys_file, dev) {
            (Some(path), _) => Ok(KeySource::File(path.clone())),
            (None, true) => Ok(KeySource::Ephemeral),
            (None, false) => Err(invalid(
                "no key set: set keys_file in the config file, INKAN_KEYS_FILE or --keys \
                 (create one with `inkan keys generate --keys keys.json`)",
            )),
        }
    }

    /// The ledger's database; only dev mode has one of its own.
    fn ledger_database(&self, dev: bool) -> Result<SecretString, ConfigError> {
        match (self.database_url()?, dev) {
            (Some(url), _) => Ok(url),
            (None, true) => Ok(SecretString::from(defaults::DEV_DATABASE_URL)),
            (None, false) => Err(invalid(
                "no ledger database: set database_url (or database_url_file) in the config file, \
                 INKAN_DATABASE_URL or --database-url",
            )),
        }
    }

    /// The `iss` of every token, checked to be an http(s) URL.
    fn issuer_or_dev(&self, dev: bool, http_addr: SocketAddr) -> Result<String, ConfigError> {
        let issuer = match (&self.issuer, dev) {
            (Some(issuer), _) => issuer.clone(),
            // Dev mode names itself after the address it serves JWKS on.
            (None, true) => format!("http://{http_addr}"),
            (None, false) => {
                return Err(invalid(
                    "no issuer: set issuer in the config file, INKAN_ISSUER or --issuer \
                     (e.g. https://auth.example.com)",
                ))
            }
        };
        validate_issuer(&issuer)?;
        Ok(issuer)
    }

    /// Where consumers fetch the JWKS, when that is not under the issuer:
    /// an http(s) URL, named in the discovery document as it is written.
    fn public_jwks_url(&self) -> Result<Option<String>, ConfigError> {
        let Some(url) = &self.public_jwks_url else {
            return Ok(None);
        };
        if !is_http_url(url, 2048) {
            return Err(ConfigError::Invalid(format!(
                "public_jwks_url {:?} is not an http(s) URL; set it to the JWKS URL consumers \
                 reach inkan at, or leave it unset for the issuer's",
                url.chars().take(80).collect::<String>()
            )));
        }
        Ok(Some(url.clone()))
    }

    /// The lifetimes and tolerances tokens are issued and checked with, and
    /// which calls need a permission.
    fn policy(&self, issuer: String, dev: bool) -> Result<Policy, ConfigError> {
        let access_token_ttl = self.access_token_ttl()?;
        let refresh_token_idle_ttl = positive(
            "refresh_token_idle_ttl",
            self.refresh_token_idle_ttl,
            defaults::REFRESH_TOKEN_IDLE_TTL,
        )?;
        let session_lifetime = positive(
            "session_lifetime",
            self.session_lifetime,
            defaults::SESSION_LIFETIME,
        )?;
        let leeway = self.leeway()?;
        let reuse_grace = self.reuse_grace.unwrap_or(defaults::REUSE_GRACE);
        if reuse_grace > MAX_REUSE_GRACE {
            return Err(invalid("reuse_grace may be at most 60s"));
        }
        if refresh_token_idle_ttl > session_lifetime {
            return Err(invalid(
                "refresh_token_idle_ttl may not be longer than session_lifetime",
            ));
        }
        Ok(Policy {
            issuer,
            access_token_ttl,
            refresh_token_idle_ttl,
            session_lifetime,
            leeway,
            reuse_grace,
            refresh_requires_permission: self.refresh_requires_permission,
            verify_requires_permission: self.verify_requires_permission,
            open_issue: dev || self.allow_open_issue,
        })
    }

    /// How long ended sessions and tokens stay in the ledger.
    fn purge_retention(&self, policy: &Policy) -> Result<Duration, ConfigError> {
        let purge_retention = self.purge_retention.unwrap_or(defaults::PURGE_RETENTION);
        // The revocation cache of a replica that starts later is loaded
        // from the ledger: a revoked session's row must outlive the access
        // tokens it signed, or that replica would accept them.
        if purge_retention < policy.access_token_ttl + policy.leeway {
            return Err(invalid(
                "purge_retention may not be shorter than access_token_ttl + leeway: a revoked \
                 session's access tokens must stay refused",
            ));
        }
        Ok(purge_retention)
    }

    /// Who may call, and over what: the callers, TLS, and the checks that
    /// the two fit together and that Issue and Verify can be called at all.
    fn callers_and_tls(
        &self,
        dev: bool,
        policy: &Policy,
    ) -> Result<(CallerRegistry, Option<TlsConfig>), ConfigError> {
        let callers = if dev {
            CallerRegistry::dev()
        } else {
            CallerRegistry::from_config(&self.callers).map_err(|e| invalid(e.to_string()))?
        };
        let tls = self
            .tls
            .clone()
            .map(TlsSettings::validate)
            .transpose()
            .map_err(invalid)?;
        let client_ca = tls
            .as_ref()
            .is_some_and(|t| t.client_certificates.is_some());
        if callers.has_certificate_callers() && !client_ca {
            return Err(invalid(
                "a [[callers]] entry is named by certificate_subject or certificate_san, but no client \
                 certificate is asked for: set [tls] cert_file, key_file and client_ca_file",
            ));
        }
        if policy.verify_requires_permission && !callers.anyone_may(Permission::Verify) {
            return Err(invalid(
                "verify_requires_permission is set but no caller has the verify permission, so \
                 Verify could not be called: add \"verify\" to a [[callers]] entry's permissions",
            ));
        }
        if !policy.open_issue && !callers.anyone_may(Permission::Issue) {
            return Err(invalid(
                "no caller has the issue permission, so Issue could not be called: configure a [[callers]] \
                 entry with permissions = [\"issue\"], or set allow_open_issue = true to open it to anyone",
            ));
        }
        Ok((callers, tls))
    }

    /// How the server stops after SIGTERM: `(drain_period, shutdown_timeout)`.
    fn stopping(&self, dev: bool) -> Result<(Duration, Duration), ConfigError> {
        // Both must fit in Kubernetes' grace period (30 s by default, less
        // the preStop sleep), or the pod is killed mid-drain.
        let drain_period = self.drain_period.unwrap_or(if dev {
            defaults::DEV_DRAIN_PERIOD
        } else {
            defaults::DRAIN_PERIOD
        });
        let shutdown_timeout = positive(
            "shutdown_timeout",
            self.shutdown_timeout,
            defaults::SHUTDOWN_TIMEOUT,
        )?;
        if drain_period + shutdown_timeout > MAX_STOPPING {
            return Err(invalid(
                "drain_period plus shutdown_timeout may be at most 5m",
            ));
        }
        Ok((drain_period, shutdown_timeout))
    }

    // The settings below are also read by `retired_key_lifetime`, which
    // must wait for the tokens the server would issue with them.

    pub(super) fn access_token_ttl(&self) -> Result<Duration, ConfigError> {
        positive(
            "access_token_ttl",
            self.access_token_ttl,
            defaults::ACCESS_TOKEN_TTL,
        )
    }

    pub(super) fn leeway(&self) -> Result<Duration, ConfigError> {
        let leeway = self.leeway.unwrap_or(defaults::LEEWAY);
        if leeway > MAX_LEEWAY {
            return Err(invalid("leeway may be at most 5m"));
        }
        Ok(leeway)
    }

    pub(super) fn key_reload_interval(&self) -> Result<Duration, ConfigError> {
        positive(
            "key_reload_interval",
            self.key_reload_interval,
            defaults::KEY_RELOAD_INTERVAL,
        )
    }
}

/// `value`, or `default` when unset; zero is refused by name.
pub(super) fn positive(
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

/// Whether `url` is an http(s) URL of at most `max` bytes, with no
/// whitespace or control character.
fn is_http_url(url: &str, max: usize) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() > "https://".len()
        && url.len() <= max
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn validate_issuer(issuer: &str) -> Result<(), ConfigError> {
    if is_http_url(issuer, 255) {
        Ok(())
    } else {
        Err(ConfigError::Invalid(format!(
            "issuer {:?} is not an http(s) URL; set issuer to the URL consumers know inkan by",
            issuer.chars().take(80).collect::<String>()
        )))
    }
}

fn invalid(message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(message.into())
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn any_interface(port: u16) -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], port))
}

#[cfg(test)]
mod tests;
