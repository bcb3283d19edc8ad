//! [`Verifier`]: inkan's access tokens checked in-process, by the same
//! `inkan_core::verify_access_token` inkan's own Verify runs, against keys
//! kept current from `WatchKeys` or the HTTP JWKS, and (optionally)
//! revocations followed from `WatchRevocations`.

mod builder;
mod requirements;

use std::{fmt, sync::Arc, time::Duration};

use http::Uri;
use inkan_core::{
    clock, keys::VerifyingKeys, verify_access_token, Expectations, RevocationCheck,
    VerifiedAccessToken, VerifyError,
};
use prometheus::Registry;
use tokio::{runtime::Handle, sync::watch, task::AbortHandle};
use tonic::transport::Channel;

pub use builder::{BuildError, VerifierBuilder};
pub use requirements::Requirements;

use crate::{
    keys::{KeyStore, Refetch},
    metrics::Metrics,
    revocations::RevocationSet,
};
use builder::KeySource;

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
/// use inkan_client::{tonic::transport::Channel, Requirements, Verifier};
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
    refetch: Arc<Refetch>,
    revocations: Option<Arc<RevocationSet>>,
    revocations_current: Option<watch::Receiver<bool>>,
    metrics: Metrics,
    tasks: Vec<AbortHandle>,
    /// Where [`Verifier::verify_cached`] starts a refetch it cannot wait for.
    runtime: Handle,
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

    /// A verifier for tokens of `issuer`, with keys from the JWKS at `url`
    /// (`https://inkan.example/.well-known/jwks.json`, or `http://` inside
    /// a trusted network), fetched again as its `Cache-Control: max-age`
    /// says. Over HTTPS the Mozilla roots are trusted, or only the CAs
    /// given to [`VerifierBuilder::jwks_ca_certificate`].
    pub fn polling_jwks(url: &str, issuer: impl Into<String>) -> VerifierBuilder {
        let source = url
            .parse::<Uri>()
            .ok()
            .filter(|uri| {
                matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some()
            })
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

    /// [`Verifier::verify`] without waiting: only the keys in service are
    /// tried, for callers that cannot await (a tonic
    /// [`Interceptor`](crate::Interceptor)). A token naming an unknown kid
    /// is refused (`KEY_UNKNOWN`) and starts the same rate-limited refetch
    /// in the background, so a key published since the last update serves
    /// the requests after it.
    pub fn verify_cached(
        &self,
        token: &str,
        required: &Requirements,
    ) -> Result<VerifiedAccessToken, VerifyError> {
        let inner = &self.inner;
        let (keys, generation) = inner.keys.snapshot();
        let result = self.check(token, &keys, required);
        if matches!(result, Err(VerifyError::KeyUnknown(_))) && inner.refetch.is_due() {
            let (refetch, store) = (inner.refetch.clone(), inner.keys.clone());
            inner.runtime.spawn(async move {
                refetch.for_unknown_kid(&store, generation).await;
            });
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
