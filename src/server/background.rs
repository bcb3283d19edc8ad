//! The server's background work: the ledger's health, key-set and TLS reloads,
//! purging ended records and clearing sealed successors past their grace
//! window. Each task runs until the stop future resolves.

use std::{future::Future, path::PathBuf, sync::Arc, time::Duration};

use sha2::{Digest, Sha256};
use tonic_health::{server::HealthReporter, ServingStatus};
use tracing::{debug, error, info, warn};

use super::{
    LEDGER_HEALTH_INTERVAL, PURGE_INTERVAL, PURGE_INTERVAL_MIN, SEAL_SWEEP_MAX, SEAL_SWEEP_MIN,
};
use crate::{
    authority::Authority,
    clock::now,
    grpc::health_names,
    keys::{read_key_file, KeySet, KeySetError, KeySetFile},
    ledger::Ledger,
    metrics::Metrics,
    revocations::Retention,
    tls::{TlsConfig, TlsMaterial, TlsState},
};

/// Reports the ledger capability's health from a periodic ping, so probes
/// see "Verify up, ledger down" instead of one opaque failure.
pub(super) async fn watch_ledger(
    ledger: Ledger,
    reporter: HealthReporter,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut ticker = tokio::time::interval(LEDGER_HEALTH_INTERVAL);
    let mut last = None;
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = ticker.tick() => {}
        }
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
/// force stays.
pub(super) async fn watch_key_file(
    path: PathBuf,
    loaded: Vec<u8>,
    authority: Arc<Authority>,
    interval: Duration,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    // What is in service, and what was last looked at: the content's
    // digest and whether the file could be trusted. A file that becomes
    // writable by others is refused even before its content changes, and
    // is looked at again once its permissions are fixed.
    let mut in_service = loaded.clone();
    let mut seen = (loaded, true);
    let mut unreadable = false;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = ticker.tick() => {}
        }
        let read = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || read_key_file(&path)).await
        };
        let read = match read {
            Ok(Ok(read)) => {
                unreadable = false;
                read
            }
            Ok(Err(KeySetError::Read { source, .. })) => {
                if !unreadable {
                    warn!(path = %path.display(), error = %source, "key-set file unreadable; keeping the keys in force");
                    unreadable = true;
                }
                continue;
            }
            Ok(Err(refused)) => {
                unreadable = false;
                // The content is not even parsed: whoever could write the
                // file could have written any key into it.
                let current = (digest_of_file(&path).await, false);
                if seen != current {
                    seen = current;
                    error!(path = %path.display(), reason = %refused, security_event = true,
                        "key-set file refused: others than its owner may write it; the keys in force stay");
                    authority.metrics().key_reload(false);
                }
                continue;
            }
            Err(join) => {
                error!(error = %join, "reading the key-set file failed; keeping the keys in force");
                continue;
            }
        };
        let current = digest(&read.bytes);
        if seen == (current.clone(), true) {
            continue;
        }
        seen = (current.clone(), true);
        if current == in_service {
            // Only the permissions changed back; the content is in service.
            continue;
        }
        let parsed = std::str::from_utf8(&read.bytes)
            .map_err(|_| "the file is not UTF-8 text".to_owned())
            .and_then(|text| KeySetFile::parse(text).map_err(|e| e.to_string()))
            .and_then(|file| KeySet::from_file_contents(&file).map_err(|e| e.to_string()));
        let set = match parsed {
            Ok(set) => set,
            Err(reason) => {
                error!(path = %path.display(), reason = %reason, "new key set refused; the previous one stays in force");
                authority.metrics().key_reload(false);
                continue;
            }
        };
        match authority.reload_keys(set) {
            Ok(reloaded) => {
                in_service = current;
                for warning in read.warnings.into_iter().chain(reloaded.warnings) {
                    warn!(path = %path.display(), "{warning}");
                }
                if let Some(kid) = reloaded.unpublished_active {
                    warn!(path = %path.display(), kid = %kid, security_event = true,
                        "key {kid} signs without having been published first, as the key-set file allows \
                         (allow_unpublished): consumers with a cached key set refuse its tokens until they refetch");
                }
                let keys = authority.keys().current();
                let kids: Vec<String> = keys
                    .set()
                    .keys()
                    .iter()
                    .map(|k| format!("{}:{}", k.kid(), k.state()))
                    .collect();
                info!(keys = ?kids, active = %keys.set().active().kid(), "key set reloaded");
                authority.metrics().key_reload(true);
            }
            Err(reason) => {
                // A valid set that the set in service rules out (an unseen
                // key signing, a kid with new material) is what a planted
                // file looks like.
                error!(path = %path.display(), reason = %reason, security_event = true,
                    "new key set refused; the previous one stays in force");
                authority.metrics().key_reload(false);
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
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    // What was last looked at: the contents' digest and whether the files
    // could be trusted. Files that become writable by others are refused
    // even before their content changes, and looked at again once their
    // permissions are fixed.
    let mut seen = (state.current().digest.clone(), true);
    let mut unreadable = false;
    let mut ticker = tokio::time::interval(config.reload_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = ticker.tick() => {}
        }
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
        .map(|bytes| digest(&bytes))
        .unwrap_or_default()
}

/// The digest the key-set watcher compares file contents by.
pub(super) fn digest(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// Deletes sessions and refresh tokens that ended more than `retention`
/// ago, so the ledger's size follows the live sessions and not every login
/// there ever was (the ledger does it in small batches that rotations slip
/// between), and revocations that can no longer refuse a token (cut-offs
/// `retention` after that too, for investigations). A subject's cut-off is
/// kept while a session opened before it may live, and while any legacy
/// key (`legacy_sunset`, the latest sunset) may still take a former
/// system's token issued before it.
pub(super) async fn purge_ended(
    ledger: Ledger,
    retention: Duration,
    revocations: Retention,
    legacy_sunset: impl Fn() -> Option<i64>,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let keep = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
    let mut ticker =
        tokio::time::interval((retention / 4).clamp(PURGE_INTERVAL_MIN, PURGE_INTERVAL));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = ticker.tick() => {}
        }
        match ledger.purge_ended(now().saturating_sub(keep)).await {
            Ok(rows) => {
                if rows > 0 {
                    info!(rows, "purged ended sessions and refresh tokens");
                }
                failing = false;
            }
            Err(err) => {
                // Once per outage; the ledger's health says the rest.
                if !failing {
                    warn!(error = ?err, "purging ended records failed; will retry");
                }
                failing = true;
            }
        }
        let now = now();
        let cut_offs_before = if legacy_sunset().is_some_and(|sunset| sunset >= now) {
            // A former system's token issued before any cut-off may still
            // come: keep them all until the last sunset.
            i64::MIN
        } else {
            now.saturating_sub(revocations.subject_sessions)
                .saturating_sub(keep)
        };
        match ledger
            .purge_revocations(revocations.log(), cut_offs_before)
            .await
        {
            Ok(0) => {}
            Ok(rows) => info!(rows, "purged revocations that refuse no token any more"),
            Err(err) => warn!(error = ?err, "purging old revocations failed; will retry"),
        }
    }
}

/// Clears sealed successors whose grace window has passed, about once per
/// window, so a spent token keeps the key to its successor no longer than a
/// client's retry needs it. Each pass is a few short statements; a rotation
/// never waits on more than one of them.
pub(super) async fn sweep_seals(
    ledger: Ledger,
    reuse_grace: Duration,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let grace = i64::try_from(reuse_grace.as_secs()).unwrap_or(i64::MAX);
    let mut ticker = tokio::time::interval(reuse_grace.clamp(SEAL_SWEEP_MIN, SEAL_SWEEP_MAX));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = ticker.tick() => {}
        }
        match ledger.clear_stale_seals(grace).await {
            Ok(cleared) => {
                if cleared > 0 {
                    debug!(cleared, "cleared sealed successors past their grace window");
                }
                failing = false;
            }
            Err(err) => {
                // Once per outage, not every few seconds.
                if !failing {
                    warn!(error = ?err, "clearing sealed successors failed; will retry");
                }
                failing = true;
            }
        }
    }
}
