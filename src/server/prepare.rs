//! Everything start-up does that can fail, done once for `serve` and
//! `inkan check` alike: the keys, the TLS files, the ledger and its schema,
//! the revocations it holds, and a token signed and verified through the
//! keys as published. `check` is then exactly "would `serve` start?".

use std::{path::PathBuf, sync::Arc};

use secrecy::ExposeSecret;

use super::{load_keys, LoadedKeys, StartupError};
use crate::{
    authority::Authority,
    config::{Config, KeySource},
    keys::KeyStore,
    ledger::{Ledger, SchemaState},
    metrics::Metrics,
    revocations::{Retention, RevocationCache, RevocationFeed},
    tls::{TlsConfig, TlsMaterial},
};

/// What the start-up is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Serving: migrations run when `migrate_on_start` says so.
    Serve,
    /// Checking: nothing is written to the ledger.
    Check,
}

/// A configuration made ready to serve.
#[derive(Debug)]
pub struct Prepared {
    /// The authority over the loaded keys and the ledger, self-tested.
    pub authority: Arc<Authority>,
    /// The revocation feed, polled once.
    pub revocations: Arc<RevocationFeed>,
    /// What the operator should hear about the keys and the TLS files, one
    /// sentence each.
    pub warnings: Vec<String>,
    /// The key-set file and the digest of what was loaded from it (`None`
    /// for an ephemeral key).
    pub key_file: Option<(PathBuf, Vec<u8>)>,
    /// The TLS material loaded, with where it is reloaded from.
    pub tls: Option<(TlsConfig, TlsMaterial)>,
    /// The ledger's schema: current, or start-up would have been refused.
    pub schema: SchemaState,
}

/// Loads, connects and self-tests what `config` names. The cheap checks
/// come first (the key file, then the TLS files), so a bad file is found
/// before a slow database.
pub async fn prepare(config: &Config, purpose: Purpose) -> Result<Prepared, StartupError> {
    let LoadedKeys {
        set,
        mut warnings,
        digest,
    } = load_keys(&config.keys)?;
    let key_file = match (&config.keys, digest) {
        (KeySource::File(path), Some(digest)) => Some((path.clone(), digest)),
        _ => None,
    };
    // Created first so the ledger and the revocation feed record into the
    // same registry as the calls.
    let metrics = Arc::new(Metrics::new());
    let tls = match &config.tls {
        Some(tls) => {
            let now = u64::try_from(config.clock.now()).unwrap_or_default();
            let material = TlsMaterial::load(tls, now)?;
            metrics.tls().certificate_expires(material.not_after);
            warnings.extend(material.warnings.iter().cloned());
            Some((tls.clone(), material))
        }
        None => None,
    };
    let ledger = Ledger::connect(config.database_url.expose_secret())
        .await
        .map_err(StartupError::ledger)?
        .with_metrics(metrics.clone());
    if purpose == Purpose::Serve && config.migrate_on_start {
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
    let authority = Arc::new(
        Authority::new(
            config.policy.clone(),
            KeyStore::new(set, config.verify_cache_bytes),
            ledger,
            cache,
            metrics,
        )
        .with_clock(config.clock.clone()),
    );
    authority.self_test().map_err(StartupError::SelfTest)?;
    Ok(Prepared {
        authority,
        revocations,
        warnings,
        key_file,
        tls,
        schema,
    })
}
