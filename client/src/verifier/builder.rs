//! [`VerifierBuilder`]: where a [`Verifier`]'s keys and revocations come
//! from, how it reaches them (plain or TLS, an API key or a client
//! certificate), and the background tasks that follow them.

use std::{fmt, sync::Arc, time::Duration};

use http::Uri;
use inkan_core::keys::LegacyKey;
use prometheus::Registry;
use rustls::pki_types::{pem::PemObject, CertificateDer};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;
use tonic::{metadata::AsciiMetadataValue, transport::Channel};

use super::{Inner, Verifier};
use crate::{
    keys::{
        self,
        http::{HttpJwks, Trust},
        Fetcher, KeyStore, Refetch,
    },
    metrics::{Metrics, MetricsError},
    proto::v1::token_service_client::TokenServiceClient,
    revocations::{Follower, RevocationSet},
};

/// Why a [`Verifier`] could not be started.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The JWKS URL does not parse, or is not `http://host/...` or
    /// `https://host/...`.
    #[error("the JWKS URL is not an http:// or https:// URL with a host")]
    JwksUrl,
    /// A certificate given to [`VerifierBuilder::jwks_ca_certificate`] is
    /// not PEM, or not a certificate rustls takes as a trust anchor.
    #[error("the JWKS CA certificate is not a PEM certificate rustls accepts")]
    JwksCa,
    /// No TLS client configuration could be made for the JWKS URL.
    #[error("no TLS configuration could be made for the JWKS URL")]
    Tls,
    /// The API key cannot travel as a header value.
    #[error("the API key is not a valid header value")]
    ApiKey,
    /// The metrics could not be registered.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// Started outside a Tokio runtime, which its background tasks need.
    #[error("a Verifier must be started inside a Tokio runtime")]
    NoRuntime,
}

impl From<keys::http::TrustError> for BuildError {
    fn from(problem: keys::http::TrustError) -> Self {
        match problem {
            keys::http::TrustError::Certificate => BuildError::JwksCa,
            keys::http::TrustError::Config => BuildError::Tls,
        }
    }
}

/// Where the keys come from.
pub(super) enum KeySource {
    WatchKeys(Channel),
    Jwks(Uri),
}

/// Settings for a [`Verifier`]; see [`Verifier::watching`] and
/// [`Verifier::polling_jwks`].
pub struct VerifierBuilder {
    issuer: String,
    source: Result<KeySource, BuildError>,
    jwks_trust: Result<Trust, BuildError>,
    leeway: Duration,
    refetch_interval: Duration,
    fetch_timeout: Duration,
    reconnect_wait: Duration,
    legacy: Vec<LegacyKey>,
    /// The channel, and the API key unless its client certificate names
    /// the caller.
    revocations: Option<(Channel, Option<SecretString>)>,
    registry: Option<Registry>,
}

impl fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("issuer", &self.issuer)
            .field("leeway", &self.leeway)
            .field("refetch_interval", &self.refetch_interval)
            .field("follows_revocations", &self.revocations.is_some())
            .finish_non_exhaustive()
    }
}

impl VerifierBuilder {
    pub(super) fn new(issuer: String, source: Result<KeySource, BuildError>) -> Self {
        Self {
            issuer,
            source,
            jwks_trust: Ok(Trust::default()),
            leeway: inkan_core::token::DEFAULT_LEEWAY,
            refetch_interval: Duration::from_secs(30),
            fetch_timeout: Duration::from_secs(5),
            reconnect_wait: Duration::from_millis(200),
            legacy: Vec::new(),
            revocations: None,
            registry: None,
        }
    }

    /// Tolerated clock difference for `exp`, `nbf` and `iat`: use inkan's
    /// own `leeway` (30 s by default) so both give the same answers.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// At most one key-set fetch per this interval for tokens naming an
    /// unknown kid (30 s by default), however many arrive.
    pub fn refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// How long one fetch of the key set may take (5 s by default).
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// The first wait before reconnecting a broken stream (200 ms by
    /// default); it doubles up to 30 s while inkan stays unreachable.
    pub fn reconnect_wait(mut self, wait: Duration) -> Self {
        self.reconnect_wait = wait;
        self
    }

    /// Trusts an `https://` JWKS URL only under the certificate
    /// authorities in `pem` (one or more PEM certificates: a deployment's
    /// internal CA), instead of the Mozilla roots. May be called again to
    /// add more.
    pub fn jwks_ca_certificate(mut self, pem: impl AsRef<[u8]>) -> Self {
        let parsed: Result<Vec<CertificateDer<'static>>, _> =
            CertificateDer::pem_slice_iter(pem.as_ref()).collect();
        self.jwks_trust = match (self.jwks_trust, parsed) {
            (Ok(trust), Ok(cas)) if !cas.is_empty() => Ok(match trust {
                Trust::PublicRoots => Trust::Only(cas),
                Trust::Only(mut held) => {
                    held.extend(cas);
                    Trust::Only(held)
                }
            }),
            (Err(earlier), _) => Err(earlier),
            _ => Err(BuildError::JwksCa),
        };
        self
    }

    /// A former system's HS256 keys, for tokens without a kid during a
    /// migration (see the README): the JWKS never carries them.
    pub fn legacy_keys(mut self, keys: impl IntoIterator<Item = LegacyKey>) -> Self {
        self.legacy = keys.into_iter().collect();
        self
    }

    /// Follows `WatchRevocations` over `channel`, as the caller whose API
    /// key is `api_key` (any known caller may).
    pub fn follow_revocations(mut self, channel: Channel, api_key: SecretString) -> Self {
        self.revocations = Some((channel, Some(api_key)));
        self
    }

    /// Follows `WatchRevocations` over `channel`, a TLS channel whose
    /// client certificate names a configured caller (see the README's
    /// TLS section), so no API key is sent.
    pub fn follow_revocations_by_certificate(mut self, channel: Channel) -> Self {
        self.revocations = Some((channel, None));
        self
    }

    /// Registers the metrics in the service's own registry; without it
    /// the verifier keeps a registry of its own ([`Verifier::registry`]).
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Starts following the keys (and revocations) in the background. The
    /// tasks end when the last clone of the verifier is dropped.
    pub fn start(self) -> Result<Verifier, BuildError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        let source = self.source?;
        let trust = self.jwks_trust?;
        let metrics = Metrics::register(self.registry.unwrap_or_default())?;
        let store = Arc::new(KeyStore::new(self.legacy, metrics.clone()));
        let mut tasks = Vec::new();
        let fetcher = match source {
            KeySource::WatchKeys(channel) => {
                let client = TokenServiceClient::new(channel);
                tasks.push(
                    runtime
                        .spawn(keys::watch::follow(
                            client.clone(),
                            store.clone(),
                            self.reconnect_wait,
                        ))
                        .abort_handle(),
                );
                Fetcher::Grpc(client)
            }
            KeySource::Jwks(uri) => {
                let fetcher = Fetcher::Http(Box::new(HttpJwks::new(uri, &trust)?));
                tasks.push(
                    runtime
                        .spawn(keys::http::poll(
                            fetcher.clone(),
                            store.clone(),
                            self.fetch_timeout,
                        ))
                        .abort_handle(),
                );
                fetcher
            }
        };
        let (revocations, revocations_current) = match self.revocations {
            None => (None, None),
            Some((channel, api_key)) => {
                let api_key = match api_key {
                    None => None,
                    Some(key) => {
                        let mut value = AsciiMetadataValue::try_from(key.expose_secret())
                            .map_err(|_| BuildError::ApiKey)?;
                        value.set_sensitive(true);
                        Some(value)
                    }
                };
                let set = Arc::new(RevocationSet::new());
                let (current, watching) = watch::channel(false);
                let follower = Follower {
                    client: TokenServiceClient::new(channel),
                    api_key,
                    set: set.clone(),
                    metrics: metrics.clone(),
                    current,
                    first_wait: self.reconnect_wait,
                };
                tasks.push(runtime.spawn(follower.run()).abort_handle());
                (Some(set), Some(watching))
            }
        };
        Ok(Verifier {
            inner: Arc::new(Inner {
                issuer: self.issuer,
                leeway: self.leeway,
                refetch: Arc::new(Refetch::new(
                    fetcher,
                    self.refetch_interval,
                    self.fetch_timeout,
                )),
                keys: store,
                revocations,
                revocations_current,
                metrics,
                tasks,
                runtime,
            }),
        })
    }
}
