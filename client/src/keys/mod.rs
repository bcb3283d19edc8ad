//! The key set a verifier holds, and how it stays current: pushed by
//! `WatchKeys` ([`watch`]) or polled from the HTTP JWKS ([`http`]), and
//! refetched at most once per interval when a token names a kid the set
//! does not have.
//!
//! Every document goes through `VerifyingKeys::from_jwks_json`, which
//! refuses a malformed one or one holding a private or `oct` key; a refused
//! document leaves the previous key set in service.

pub(crate) mod http;
pub(crate) mod watch;

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, PoisonError, RwLock,
    },
    time::Duration,
};

use inkan_core::keys::{LegacyKey, VerifyingKeys};
use tokio::{sync::watch as signal, time::Instant};
use tonic::transport::Channel;
use tracing::warn;

use crate::{
    metrics::Metrics,
    proto::v1::{token_service_client::TokenServiceClient, GetJwksRequest},
};

/// The keys in service, their generation (0 until the first set arrives,
/// then one more for each set applied) and whether they are known current.
#[derive(Debug)]
pub(crate) struct KeyStore {
    current: RwLock<Arc<VerifyingKeys>>,
    generation: signal::Sender<u64>,
    /// A former system's HS256 keys, configured locally: a JWKS never
    /// carries them, so they are added to every set taken in.
    legacy: Vec<LegacyKey>,
    stale: AtomicBool,
    metrics: Metrics,
}

impl KeyStore {
    pub(crate) fn new(legacy: Vec<LegacyKey>, metrics: Metrics) -> Self {
        Self {
            current: RwLock::new(Arc::new(
                VerifyingKeys::default().with_legacy(legacy.clone()),
            )),
            generation: signal::channel(0).0,
            legacy,
            stale: AtomicBool::new(true),
            metrics,
        }
    }

    /// The keys in service and their generation.
    pub(crate) fn snapshot(&self) -> (Arc<VerifyingKeys>, u64) {
        let keys = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        (keys, *self.generation.borrow())
    }

    pub(crate) fn generation(&self) -> u64 {
        *self.generation.borrow()
    }

    /// Takes a published JWKS document into service, or refuses it and
    /// keeps the set in service. Returns whether it was applied.
    pub(crate) fn offer(&self, jwks_json: &str) -> bool {
        match VerifyingKeys::from_jwks_json(jwks_json) {
            Ok(keys) => {
                let keys = Arc::new(keys.with_legacy(self.legacy.clone()));
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = keys;
                // Fresh before the new generation is announced, so whoever
                // waits on it (`Verifier::ready`) never sees it stale.
                self.set_stale(false);
                self.metrics.key_update(true);
                self.generation.send_modify(|g| *g += 1);
                true
            }
            Err(problem) => {
                // The error names the problem and the key's position, never
                // material from the document.
                warn!(%problem, "refused a key set from inkan; the previous one stays in service");
                self.metrics.key_update(false);
                // What inkan publishes is not what is in service.
                self.set_stale(true);
                false
            }
        }
    }

    pub(crate) fn set_stale(&self, stale: bool) {
        self.stale.store(stale, Ordering::Relaxed);
        self.metrics.set_keys_stale(stale);
    }

    pub(crate) fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Relaxed)
    }

    /// Resolves once a first key set is in service.
    pub(crate) async fn loaded(&self) {
        let mut generation = self.generation.subscribe();
        // The sender lives as long as `self`, so this cannot fail.
        let _ = generation.wait_for(|g| *g > 0).await;
    }
}

/// Where a key set is fetched from on demand.
#[derive(Clone, Debug)]
pub(crate) enum Fetcher {
    /// `GetJwks` over the channel that also carries `WatchKeys`.
    Grpc(TokenServiceClient<Channel>),
    /// The HTTP JWKS URL.
    Http(Box<http::HttpJwks>),
}

/// A fetched JWKS document and how long it may be cached.
pub(crate) struct Fetched {
    pub(crate) jwks_json: String,
    pub(crate) max_age: Option<Duration>,
}

/// Why a fetch failed. Only logged; the verifier keeps its keys.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    /// inkan answered the gRPC call with a failure.
    #[error("inkan answered {0:?}")]
    Status(tonic::Code),
    /// The HTTP request could not be made or got no answer.
    #[error("the HTTP request failed")]
    Http,
    /// The HTTP answer was not 200.
    #[error("the JWKS URL answered HTTP {0}")]
    HttpStatus(u16),
    /// The body was too large or not UTF-8.
    #[error("the JWKS body is larger than 64 KiB or not UTF-8")]
    Body,
    /// No answer within the fetch timeout.
    #[error("no answer in time")]
    Timeout,
}

impl Fetcher {
    pub(crate) async fn fetch(&self, timeout: Duration) -> Result<Fetched, FetchError> {
        let fetch = async {
            match self {
                Fetcher::Grpc(client) => {
                    let answer = client
                        .clone()
                        .get_jwks(GetJwksRequest {})
                        .await
                        .map_err(|status| FetchError::Status(status.code()))?
                        .into_inner();
                    Ok(Fetched {
                        jwks_json: answer.jwks_json,
                        max_age: None,
                    })
                }
                Fetcher::Http(http) => http.fetch().await,
            }
        };
        tokio::time::timeout(timeout, fetch)
            .await
            .map_err(|_| FetchError::Timeout)?
    }
}

/// Fetches the key set when a token names an unknown kid, at most once per
/// interval whatever the number of such tokens: random kids must not turn
/// into a flood of requests to inkan.
#[derive(Debug)]
pub(crate) struct Refetch {
    fetcher: Fetcher,
    interval: Duration,
    timeout: Duration,
    last: tokio::sync::Mutex<Option<Instant>>,
}

impl Refetch {
    pub(crate) fn new(fetcher: Fetcher, interval: Duration, timeout: Duration) -> Self {
        Self {
            fetcher,
            interval,
            timeout,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// Whether a refetch could start now: none running and none within the
    /// interval. Lets a caller that cannot wait skip starting a task that
    /// would only find the refetch rate-limited.
    pub(crate) fn is_due(&self) -> bool {
        self.last
            .try_lock()
            .is_ok_and(|last| last.is_none_or(|at| at.elapsed() >= self.interval))
    }

    /// Called after a token named a kid missing from the keys of
    /// generation `seen`. Returns whether a newer key set is now in service
    /// (fetched here, or by anyone since), so the token is worth one more try.
    pub(crate) async fn for_unknown_kid(&self, store: &KeyStore, seen: u64) -> bool {
        // One refetch at a time: others wait here and then see its result.
        let mut last = self.last.lock().await;
        if store.generation() != seen {
            return true;
        }
        if last.is_some_and(|at| at.elapsed() < self.interval) {
            return false;
        }
        *last = Some(Instant::now());
        store.metrics.key_refetch();
        match self.fetcher.fetch(self.timeout).await {
            Ok(fetched) => store.offer(&fetched.jwks_json),
            Err(problem) => {
                warn!(%problem, "refetching the key set for an unknown kid failed");
                false
            }
        }
    }
}
