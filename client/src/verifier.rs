//! [`Verifier`]: inkan's access tokens checked in-process, by the same
//! `inkan_core::verify_access_token` inkan's own Verify runs, against keys
//! kept current from `WatchKeys` or the HTTP JWKS, and (optionally)
//! revocations followed from `WatchRevocations`.

use std::{fmt, sync::Arc, time::Duration};

use http::Uri;
use inkan_core::{
    clock,
    ids::Scope,
    keys::{LegacyKey, VerifyingKeys},
    verify_access_token, Expectations, RevocationCheck, VerifiedAccessToken, VerifyError,
};
use prometheus::Registry;
use secrecy::{ExposeSecret, SecretString};
use tokio::{sync::watch, task::AbortHandle};
use tonic::{metadata::AsciiMetadataValue, transport::Channel};

use crate::{
    keys::{self, http::HttpJwks, Fetcher, KeyStore, Refetch},
    metrics::{Metrics, MetricsError},
    proto::v1::token_service_client::TokenServiceClient,
    revocations::{Follower, RevocationSet},
};

/// Why a [`Verifier`] could not be started.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The JWKS URL does not parse, or is not `http://host/...`.
    #[error("the JWKS URL is not a plain http:// URL; over TLS, follow WatchKeys instead")]
    JwksUrl,
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

/// What a call asks of a token beyond being inkan's and valid: an audience
/// and scopes.
///
/// ```
/// use inkan_client::Requirements;
/// use inkan_core::ids::Scope;
///
/// let reads = Requirements::new()
///     .audience("orders")
///     .scope(Scope::parse("orders:read").unwrap());
/// assert_eq!(reads.required_audience(), Some("orders"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requirements {
    audience: Option<String>,
    scopes: Vec<Scope>,
}

impl Requirements {
    /// Any audience, no scope.
    pub fn new() -> Self {
        Self::default()
    }

    /// The token's `aud` must contain `audience`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The token's `scope` must contain `scope` (and any added before).
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scopes.push(scope);
        self
    }

    /// The audience required, if any.
    pub fn required_audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The scopes required.
    pub fn required_scopes(&self) -> &[Scope] {
        &self.scopes
    }
}

/// Where the keys come from.
enum KeySource {
    WatchKeys(Channel),
    Jwks(Uri),
}

/// Settings for a [`Verifier`]; see [`Verifier::watching`] and
/// [`Verifier::polling_jwks`].
pub struct VerifierBuilder {
    issuer: String,
    source: Result<KeySource, BuildError>,
    leeway: Duration,
    refetch_interval: Duration,
    fetch_timeout: Duration,
    reconnect_wait: Duration,
    legacy: Vec<LegacyKey>,
    revocations: Option<(Channel, SecretString)>,
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
    fn new(issuer: String, source: Result<KeySource, BuildError>) -> Self {
        Self {
            issuer,
            source,
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

    /// A former system's HS256 keys, for tokens without a kid during a
    /// migration (see the README): the JWKS never carries them.
    pub fn legacy_keys(mut self, keys: impl IntoIterator<Item = LegacyKey>) -> Self {
        self.legacy = keys.into_iter().collect();
        self
    }

    /// Follows `WatchRevocations` over `channel`, as the caller whose API
    /// key is `api_key` (any known caller may).
    pub fn follow_revocations(mut self, channel: Channel, api_key: SecretString) -> Self {
        self.revocations = Some((channel, api_key));
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
                let fetcher = Fetcher::Http(Box::new(HttpJwks::new(uri)));
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
                let mut api_key = AsciiMetadataValue::try_from(api_key.expose_secret())
                    .map_err(|_| BuildError::ApiKey)?;
                api_key.set_sensitive(true);
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
                refetch: Refetch::new(fetcher, self.refetch_interval, self.fetch_timeout),
                keys: store,
                revocations,
                revocations_current,
                metrics,
                tasks,
            }),
        })
    }
}

/// Verifies inkan's access tokens locally, through the same
/// `inkan_core::verify_access_token` as inkan's Verify RPC, so both give
/// the same answer (and the same [`inkan_core::Reason`]) for every token.
///
/// Keys come from `WatchKeys` (preferred: a rotation's `next` key arrives
/// long before it signs) or from the HTTP JWKS. A token naming an unknown
/// kid triggers at most one refetch per interval, and is tried once more
/// if that brought a new key set. While inkan is unreachable the verifier
/// keeps verifying with the keys it holds and says so ([`Verifier::is_stale`]
/// and the `inkan_client_keys_stale` gauge). Every verification is counted
/// by outcome in [`Verifier::registry`].
///
/// Cheap to clone; clones share keys, revocations and metrics.
///
/// ```no_run
/// use inkan_client::{Requirements, Verifier};
/// use tonic::transport::Channel;
///
/// # async fn run(token: &str) -> Result<(), Box<dyn std::error::Error>> {
/// let channel = Channel::from_static("http://inkan:50051").connect_lazy();
/// let verifier = Verifier::watching(channel, "https://auth.example.com").start()?;
/// verifier.ready().await;
/// let claims = verifier.verify(token, &Requirements::new().audience("orders")).await?;
/// println!("request by {}", claims.subject);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    leeway: Duration,
    keys: Arc<KeyStore>,
    refetch: Refetch,
    revocations: Option<Arc<RevocationSet>>,
    revocations_current: Option<watch::Receiver<bool>>,
    metrics: Metrics,
    tasks: Vec<AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What a [`Verifier`] knows about how current it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Health {
    /// A key set has been received.
    pub keys_loaded: bool,
    /// The keys may not be inkan's current ones: the stream is down, the
    /// last fetch failed, or inkan's last document was refused.
    pub keys_stale: bool,
    /// Whether the revocation stream is connected and caught up; `None`
    /// when revocations are not followed.
    pub revocations_current: Option<bool>,
}

impl Verifier {
    /// A verifier for tokens of `issuer`, with keys from `WatchKeys` over
    /// `channel` (and `GetJwks` for an unknown kid).
    pub fn watching(channel: Channel, issuer: impl Into<String>) -> VerifierBuilder {
        VerifierBuilder::new(issuer.into(), Ok(KeySource::WatchKeys(channel)))
    }

    /// A verifier for tokens of `issuer`, with keys from the HTTP JWKS at
    /// `url` (e.g. `http://inkan:8080/.well-known/jwks.json`), fetched again
    /// as its `Cache-Control: max-age` says.
    pub fn polling_jwks(url: &str, issuer: impl Into<String>) -> VerifierBuilder {
        let source = url
            .parse::<Uri>()
            .ok()
            .filter(|uri| uri.scheme_str() == Some("http") && uri.host().is_some())
            .map(KeySource::Jwks)
            .ok_or(BuildError::JwksUrl);
        VerifierBuilder::new(issuer.into(), source)
    }

    /// Verifies `token` against `required`, with the keys in service: the
    /// claims, or why it was refused ([`VerifyError::reason`]).
    pub async fn verify(
        &self,
        token: &str,
        required: &Requirements,
    ) -> Result<VerifiedAccessToken, VerifyError> {
        let inner = &self.inner;
        let (keys, generation) = inner.keys.snapshot();
        let mut result = self.check(token, &keys, required);
        // An unknown kid may be a key published since the last update; a
        // token without a kid gets here too, and the refetch's rate limit
        // bounds what either can cost.
        if matches!(result, Err(VerifyError::KeyUnknown(_)))
            && inner.refetch.for_unknown_kid(&inner.keys, generation).await
        {
            let (keys, _) = inner.keys.snapshot();
            result = self.check(token, &keys, required);
        }
        inner
            .metrics
            .verified(result.as_ref().map(|_| ()).map_err(VerifyError::reason));
        result
    }

    fn check(
        &self,
        token: &str,
        keys: &VerifyingKeys,
        required: &Requirements,
    ) -> Result<VerifiedAccessToken, VerifyError> {
        let expect = Expectations {
            issuer: &self.inner.issuer,
            audience: required.audience.as_deref(),
            required_scopes: &required.scopes,
            leeway: self.inner.leeway,
            now: clock::now(),
            allow_expired: false,
            revocations: self
                .inner
                .revocations
                .as_deref()
                .map(|set| set as &dyn RevocationCheck),
        };
        verify_access_token(token, keys, &expect)
    }

    /// Resolves once a key set is in service and, when revocations are
    /// followed, the revocation stream has caught up. Bound it with a
    /// timeout: while inkan is unreachable it waits.
    pub async fn ready(&self) {
        self.inner.keys.loaded().await;
        if let Some(current) = &self.inner.revocations_current {
            let _ = current.clone().wait_for(|current| *current).await;
        }
    }

    /// Whether the verifier cannot vouch for being current: no keys yet,
    /// keys not confirmed by inkan, or revocations followed but not caught
    /// up. It goes on verifying with what it holds either way.
    pub fn is_stale(&self) -> bool {
        let health = self.health();
        !health.keys_loaded || health.keys_stale || health.revocations_current == Some(false)
    }

    /// The parts [`Verifier::is_stale`] is made of.
    pub fn health(&self) -> Health {
        Health {
            keys_loaded: self.inner.keys.generation() > 0,
            keys_stale: self.inner.keys.is_stale(),
            revocations_current: self
                .inner
                .revocations_current
                .as_ref()
                .map(|current| *current.borrow()),
        }
    }

    /// The kids of the key set in service, sorted.
    pub fn kids(&self) -> Vec<String> {
        let (keys, _) = self.inner.keys.snapshot();
        keys.kids().into_iter().map(str::to_owned).collect()
    }

    /// The revocations held, when they are followed.
    pub fn revocations(&self) -> Option<&RevocationSet> {
        self.inner.revocations.as_deref()
    }

    /// The registry holding the verifier's metrics (the one given to
    /// [`VerifierBuilder::registry`], or its own).
    pub fn registry(&self) -> &Registry {
        self.inner.metrics.registry()
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.inner.issuer)
            .field("kids", &self.kids())
            .field("health", &self.health())
            .finish()
    }
}
