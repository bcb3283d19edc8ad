//! Everything start-up does that can fail, done once for `serve` and
//! `inkan check` alike: the keys, the TLS files, the ledger and its schema,
//! the revocations it holds, and a token signed and verified through the
//! keys as published. `check` is then exactly "would `serve` start?", with
//! one difference: a database that does not answer fails `check` at once,
//! where `serve` waits for it ([`start`], then [`settle_ledger`] until it
//! passes; see `wait.rs`).

use std::{path::PathBuf, sync::Arc};

use secrecy::ExposeSecret;

use super::{load_keys, LoadedKeys, StartupError};
use crate::{
    authority::Authority,
    config::{Config, KeySource},
    keys::KeyStore,
    ledger::{Ledger, LedgerError, SchemaState},
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
    let started = start(config, purpose).await?;
    let migrate = purpose == Purpose::Serve && config.migrate_on_start;
    let schema = settle_ledger(&started.authority, &started.revocations, migrate)
        .await
        .map_err(LedgerNotReady::into_startup)?;
    Ok(started.with_schema(schema))
}

/// Everything start-up does but the ledger's part: the keys, the TLS
/// files, a ledger handle (for `serve`, one that connects on first use),
/// the authority, self-tested. Only a bad file or a malformed database URL
/// fails here.
pub(super) async fn start(config: &Config, purpose: Purpose) -> Result<Started, StartupError> {
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
    // `check` (and `migrate`) are one-shot: they fail at once when the
    // database does not answer. `serve` waits for it (see `wait.rs`).
    let url = config.database_url.expose_secret();
    let ledger = match purpose {
        Purpose::Check => Ledger::connect(url).await,
        Purpose::Serve => Ledger::connect_lazily(url).await,
    }
    .map_err(StartupError::ledger)?
    .with_metrics(metrics.clone());
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
    Ok(Started {
        authority,
        revocations,
        warnings,
        key_file,
        tls,
    })
}

/// What [`start`] made: a [`Prepared`] whose ledger may not answer yet.
#[derive(Debug)]
pub(super) struct Started {
    pub(super) authority: Arc<Authority>,
    pub(super) revocations: Arc<RevocationFeed>,
    pub(super) warnings: Vec<String>,
    pub(super) key_file: Option<(PathBuf, Vec<u8>)>,
    pub(super) tls: Option<(TlsConfig, TlsMaterial)>,
}

impl Started {
    fn with_schema(self, schema: SchemaState) -> Prepared {
        Prepared {
            authority: self.authority,
            revocations: self.revocations,
            warnings: self.warnings,
            key_file: self.key_file,
            tls: self.tls,
            schema,
        }
    }
}

/// The ledger's part of start-up: migrating (when `migrate`), checking
/// the schema, and loading the revocations Verify needs before it may
/// accept any token.
pub(super) async fn settle_ledger(
    authority: &Authority,
    revocations: &RevocationFeed,
    migrate: bool,
) -> Result<SchemaState, LedgerNotReady> {
    let ledger = authority.ledger();
    if migrate {
        ledger.migrate().await?;
    }
    let schema = ledger.schema_state().await?;
    if !schema.is_current() {
        return Err(LedgerNotReady::Schema(schema));
    }
    revocations.poll().await?;
    revocations.load_cut_offs().await?;
    Ok(schema)
}

/// Why the ledger's part of start-up did not finish.
#[derive(Debug)]
pub(super) enum LedgerNotReady {
    /// The database failed or did not answer.
    Ledger(LedgerError),
    /// The database answers, with a schema this build cannot serve.
    Schema(SchemaState),
}

impl From<LedgerError> for LedgerNotReady {
    fn from(err: LedgerError) -> Self {
        LedgerNotReady::Ledger(err)
    }
}

impl LedgerNotReady {
    /// Whether waiting could help: the database is absent, starting,
    /// failing over, or refusing for now. A schema this build cannot
    /// serve, a ledger record it cannot read, a SQLite file it cannot
    /// create, or a migration that another process holds for minutes
    /// need a person (or a restart), as before.
    pub(super) fn may_pass(&self) -> bool {
        match self {
            LedgerNotReady::Schema(_) => false,
            LedgerNotReady::Ledger(err) => matches!(
                err,
                LedgerError::Connect { .. }
                    | LedgerError::Database(_)
                    | LedgerError::Contended
                    | LedgerError::MigrationLockLost
            ),
        }
    }

    pub(super) fn into_startup(self) -> StartupError {
        match self {
            LedgerNotReady::Ledger(err) => StartupError::ledger(err),
            LedgerNotReady::Schema(schema) => StartupError::Schema(schema),
        }
    }
}
