//! The server's background work: the ledger's health, key-set and TLS reloads,
//! purging ended records and clearing sealed successors past their grace
//! window. Each task runs until the stop future resolves.

use std::{future::Future, path::PathBuf, sync::Arc, time::Duration};

use tonic_health::{server::HealthReporter, ServingStatus};
use tracing::{debug, error, info, warn};

use super::{
    periodic::Periodic, LEDGER_HEALTH_INTERVAL, PURGE_INTERVAL, PURGE_INTERVAL_MIN, SEAL_SWEEP_MAX,
    SEAL_SWEEP_MIN,
};
use crate::{
    authority::Authority,
    clock::now,
    grpc::health_names,
    keys::{
        key_file_digest, parse_key_file, read_key_file, KeyFileBytes, KeySetError, ParsedKeyFile,
    },
    ledger::Ledger,
    metrics::Metrics,
    revocations::{Retention, RevocationFeed},
    tls::{TlsConfig, TlsMaterial, TlsState},
};

/// Reports the ledger capability's health from a periodic ping, so probes
/// see "Verify up, ledger down" instead of one opaque failure.
pub(super) async fn watch_ledger(
    ledger: Ledger,
    reporter: HealthReporter,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    // Its own log lines (an outage is an error here, and says what fails
    // meanwhile), so only the pace is `Periodic`'s.
    let mut every = Periodic::new("ledger health", LEDGER_HEALTH_INTERVAL, stop);
    let mut last = None;
    while every.tick().await {
        let status = match ledger.ping().await {
            Ok(()) => {
                if last == Some(ServingStatus::NotServing) {
                    info!("ledger reachable again");
                }
                ServingStatus::Serving
            }
            Err(err) => {
                if last != Some(ServingStatus::NotServing) {
                    error!(error = ?err, "ledger unreachable; Issue, Refresh and Revoke will fail until it is back");
                }
                ServingStatus::NotServing
            }
        };
        if last != Some(status) {
            reporter
                .set_service_status(health_names::LEDGER, status)
                .await;
            last = Some(status);
        }
    }
}

/// Reloads the key-set file when its content changes. Polling the content
/// (not watching inodes) also catches a Kubernetes Secret update, which
/// swaps a symlink. A new set is put in service only if the file is
/// writable by its owner alone, and the set is valid and passes the
/// self-test; otherwise it is logged, counted as refused, and the set in
/// force stays. The file is read as start-up and the CLI read it
/// ([`crate::keys::load_key_file`]'s steps), pausing after the read to skip
/// content already looked at.
pub(super) async fn watch_key_file(
    path: PathBuf,
    loaded: Vec<u8>,
    authority: Arc<Authority>,
    interval: Duration,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    let mut watch = KeyFileWatch {
        path,
        authority,
        in_service: loaded.clone(),
        seen: (loaded, true),
        unreadable: false,
    };
    // Its own log lines say what each refusal means (some are security
    // events), so only the pace is `Periodic`'s.
    let mut every = Periodic::new("key-file watch", interval, stop);
    while every.tick().await {
        if let Some(read) = watch.read_changed().await {
            watch.put_in_service(read);
        }
    }
}

/// What the key-file watcher knows between two looks.
struct KeyFileWatch {
    path: PathBuf,
    authority: Arc<Authority>,
    /// The digest of the content in service.
    in_service: Vec<u8>,
    /// What was last looked at: the content's digest and whether the file
    /// could be trusted. A file that becomes writable by others is refused
    /// even before its content changes, and is looked at again once its
    /// permissions are fixed.
    seen: (Vec<u8>, bool),
    /// Whether the file could not be read last time (said once).
    unreadable: bool,
}

impl KeyFileWatch {
    /// The file's bytes, when they can be trusted and differ from what was
    /// last looked at and from what is in service; `None` otherwise, with
    /// a refusal logged and counted once per change.
    async fn read_changed(&mut self) -> Option<KeyFileBytes> {
        let read = {
            let path = self.path.clone();
            tokio::task::spawn_blocking(move || read_key_file(&path)).await
        };
        let path = self.path.display();
        let read = match read {
            Ok(Ok(read)) => read,
            Ok(Err(KeySetError::Read { source, .. })) => {
                if !self.unreadable {
                    warn!(path = %path, error = %source, "key-set file unreadable; keeping the keys in force");
                    self.unreadable = true;
                }
                return None;
            }
            Ok(Err(refused)) => {
                self.unreadable = false;
                // The content is not even parsed: whoever could write the
                // file could have written any key into it.
                let current = (digest_of_file(&self.path).await, false);
                if self.seen != current {
                    self.seen = current;
                    error!(path = %path, reason = %refused, security_event = true,
                        "key-set file refused: others than its owner may write it; the keys in force stay");
                    self.authority.metrics().key_reload(false);
                }
                return None;
            }
            Err(join) => {
                error!(error = %join, "reading the key-set file failed; keeping the keys in force");
                return None;
            }
        };
        self.unreadable = false;
        let current = key_file_digest(&read.bytes);
        if self.seen == (current.clone(), true) {
            return None;
        }
        self.seen = (current.clone(), true);
        // Back to the content in service (only the permissions changed
        // back): nothing to do.
        (current != self.in_service).then_some(read)
    }

    /// Parses and validates `read` as start-up does, and puts the set in
    /// service if the authority takes it (see `Authority::reload_keys`).
    fn put_in_service(&mut self, read: KeyFileBytes) {
        let path = self.path.display();
        let digest = key_file_digest(&read.bytes);
        let loaded = match parse_key_file(&self.path, read).and_then(ParsedKeyFile::validate) {
            Ok(loaded) => loaded,
            Err(reason) => {
                error!(path = %path, reason = %reason, "new key set refused; the previous one stays in force");
                self.authority.metrics().key_reload(false);
                return;
            }
        };
        match self.authority.reload_keys(loaded.set) {
            Ok(reloaded) => {
                self.in_service = digest;
                for warning in loaded.warnings.into_iter().chain(reloaded.warnings) {
                    warn!(path = %path, "{warning}");
                }
                if let Some(kid) = reloaded.unpublished_active {
                    warn!(path = %path, kid = %kid, security_event = true,
                        "key {kid} signs without having been published first, as the key-set file allows \
                         (allow_unpublished): consumers with a cached key set refuse its tokens until they refetch");
                }
                let keys = self.authority.keys().current();
                let kids: Vec<String> = keys
                    .set()
                    .keys()
                    .iter()
                    .map(|k| format!("{}:{}", k.kid(), k.state()))
                    .collect();
                info!(keys = ?kids, active = %keys.set().active().kid(), "key set reloaded");
                self.authority.metrics().key_reload(true);
            }
            Err(reason) => {
                // A valid set that the set in service rules out (an unseen
                // key signing, a kid with new material) is what a planted
                // file looks like.
                error!(path = %path, reason = %reason, security_event = true,
                    "new key set refused; the previous one stays in force");
                self.authority.metrics().key_reload(false);
            }
        }
    }
}

/// Reloads the TLS certificate, key and client CA when any of their
/// contents changes (a Kubernetes Secret update swaps all three at once).
/// New material is put in service only if every file is writable by its
/// owner alone (as the key-set file must be: whoever can write the client
/// CA can mint a certificate for any caller), and passes the checks made at
/// start-up; it then serves the connections that follow, and connections
/// already open keep theirs. Material that fails (a file others may write,
/// a key that is not the certificate's, an expired certificate, a file
/// half-written) is logged and counted as refused, and the material in
/// force stays; it is tried again when the files change again, or when
/// their permissions are fixed.
pub(super) async fn watch_tls_files(
    config: TlsConfig,
    state: Arc<TlsState>,
    metrics: Arc<Metrics>,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    // What was last looked at: the contents' digest and whether the files
    // could be trusted. Files that become writable by others are refused
    // even before their content changes, and looked at again once their
    // permissions are fixed. Its own log lines say what each refusal
    // means, so only the pace is `Periodic`'s.
    let mut seen = (state.current().digest.clone(), true);
    let mut unreadable = false;
    let mut every = Periodic::new("TLS file watch", config.reload_interval, stop);
    while every.tick().await {
        let files = config.files.clone();
        let bytes = match tokio::task::spawn_blocking(move || files.read()).await {
            Ok(Ok(bytes)) => {
                unreadable = false;
                bytes
            }
            Ok(Err(err @ crate::tls::TlsError::Read { .. })) => {
                // Mid-swap, a file may be missing for a moment: say so once.
                if !unreadable {
                    warn!(error = %err, "TLS files unreadable; keeping the certificate in force");
                    unreadable = true;
                }
                continue;
            }
            Ok(Err(refused)) => {
                unreadable = false;
                // The contents are not even parsed: whoever could write a
                // file could have written anything into it.
                let files = config.files.clone();
                let as_is = tokio::task::spawn_blocking(move || files.digest_as_is())
                    .await
                    .unwrap_or_default();
                if seen != (as_is.clone(), false) {
                    seen = (as_is, false);
                    metrics.tls().reload(false);
                    error!(reason = %refused, security_event = true,
                        "TLS files refused: others than their owner may write them; the certificate in force stays");
                }
                continue;
            }
            Err(join) => {
                error!(error = %join, "reading the TLS files failed; keeping the certificate in force");
                continue;
            }
        };
        let digest = bytes.digest();
        if seen == (digest.clone(), true) {
            continue;
        }
        seen = (digest.clone(), true);
        if digest == state.current().digest {
            // Back to what is in service, after a refused change (or only
            // the permissions were fixed).
            continue;
        }
        let now = u64::try_from(now()).unwrap_or_default();
        match TlsMaterial::from_bytes(&config, &bytes, now) {
            Ok(material) => {
                let expires = material.not_after;
                for warning in &material.warnings {
                    warn!("{warning}");
                }
                state.replace(material);
                metrics.tls().reload(true);
                metrics.tls().certificate_expires(expires);
                info!(cert = %config.files.cert.display(), not_after = expires,
                    "TLS certificate reloaded; new connections use it");
            }
            Err(reason) => {
                metrics.tls().reload(false);
                error!(reason = %reason, "new TLS certificate refused; the previous one stays in force");
            }
        }
    }
}

/// The digest of the file's content, read without trusting it, so that a
/// refused file is reported again only when it changes.
async fn digest_of_file(path: &std::path::Path) -> Vec<u8> {
    tokio::fs::read(path)
        .await
        .map(|bytes| key_file_digest(&bytes))
        .unwrap_or_default()
}

/// Deletes sessions and refresh tokens that ended more than `retention`
/// ago, so the ledger's size follows the live sessions and not every login
/// there ever was (the ledger does it in small batches that rotations slip
/// between), and revocations that can no longer refuse a token (cut-offs
/// `retention` after that too, for investigations). A subject's cut-off is
/// kept while a session opened before it may live, and while any legacy
/// key (the latest sunset) may still take a former system's token issued
/// before it. Time is the authority's clock.
pub(super) async fn purge_ended(
    ledger: Ledger,
    retention: Duration,
    revocations: Retention,
    authority: Arc<Authority>,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    let keep = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
    let mut every = Periodic::new(
        "purging ended records",
        (retention / 4).clamp(PURGE_INTERVAL_MIN, PURGE_INTERVAL),
        stop,
    );
    while every.tick().await {
        let now = authority.now();
        let ended = ledger.purge_ended(now.saturating_sub(keep)).await;
        let legacy_sunset = authority.keys().current().legacy_sunset();
        let cut_offs_before = if legacy_sunset.is_some_and(|sunset| sunset >= now) {
            // A former system's token issued before any cut-off may still
            // come: keep them all until the last sunset.
            i64::MIN
        } else {
            now.saturating_sub(revocations.subject_sessions)
                .saturating_sub(keep)
        };
        let revoked = ledger
            .purge_revocations(revocations.log(), cut_offs_before)
            .await;
        match every.report(ended.and_then(|ended| Ok((ended, revoked?)))) {
            Some((0, 0)) | None => {}
            Some((ended, revoked)) => {
                info!(ended, revoked, "purged ended sessions and tokens, and revocations that refuse no token any more")
            }
        }
    }
}

/// Clears sealed successors whose grace window has passed, about once per
/// window, so a spent token keeps the key to its successor no longer than a
/// client's retry needs it. Each pass is a few short statements; a rotation
/// never waits on more than one of them.
pub(super) async fn clear_stale_seals(
    ledger: Ledger,
    reuse_grace: Duration,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    let mut every = Periodic::new(
        "clearing sealed successors",
        reuse_grace.clamp(SEAL_SWEEP_MIN, SEAL_SWEEP_MAX),
        stop,
    );
    while every.tick().await {
        if let Some(cleared @ 1..) = every.report(ledger.clear_stale_seals(reuse_grace).await) {
            debug!(cleared, "cleared sealed successors past their grace window");
        }
    }
}

/// Polls the revocation log every `interval` until `stop` resolves, and
/// forgets what no longer refuses any token. A failed poll is logged once
/// per outage; the cache keeps what it knows, and the first poll after the
/// outage reads everything it missed.
pub(super) async fn follow_revocations(
    feed: Arc<RevocationFeed>,
    interval: Duration,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    let mut every = Periodic::new("revocation polling", interval, stop);
    while every.tick().await {
        if let Some(seen) = every.report(feed.poll().await) {
            debug!(seen, "revocations polled");
        }
        feed.forget_expired();
    }
}
