//! A tower layer for a service protected by inkan: each request's
//! `authorization: Bearer …` header is verified locally by a [`Verifier`],
//! the claims ([`VerifiedAccessToken`]) go into the request's extensions
//! (tonic hands them on as `Request::extensions`), and a refused request is
//! answered with the status inkan's own Verify would give: the same code,
//! `google.rpc.ErrorInfo` reason and action.
//!
//! A missing header, another scheme, a value that is not visible ASCII and
//! several `authorization` headers are all `TOKEN_MALFORMED` (see
//! [`crate::bearer`]). For services built on tonic interceptors,
//! [`crate::Interceptor`] does the same without the layer.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::header::AUTHORIZATION;
use inkan_core::VerifiedAccessToken;
use tonic::{body::Body, Status};
use tower_layer::Layer;
use tower_service::Service;

use crate::{bearer::bearer_token, status::refusal_status, Requirements, Verifier};

/// Requirements by route (for gRPC, the method path such as
/// `/orders.v1.Orders/Cancel`), and those of every other route.
#[derive(Clone, Debug, Default)]
struct Policy {
    default: Requirements,
    routes: HashMap<String, Requirements>,
}

/// Verifies every request with a [`Verifier`] before the inner service
/// sees it.
///
/// ```no_run
/// use inkan_client::{AuthLayer, Requirements, Scope, Verifier};
///
/// # fn layer(verifier: Verifier) -> Result<AuthLayer, inkan_client::InvalidId> {
/// let layer = AuthLayer::new(verifier)
///     .require(Requirements::new().audience("orders"))
///     .route(
///         "/orders.v1.Orders/Cancel",
///         Requirements::new()
///             .audience("orders")
///             .scope(Scope::parse("orders:write")?),
///     );
/// // tonic::transport::Server::builder().layer(layer).add_service(...)
/// # Ok(layer)
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct AuthLayer {
    verifier: Verifier,
    policy: Arc<Policy>,
}

impl AuthLayer {
    /// Requires a valid inkan access token on every request, of any
    /// audience and scope until [`AuthLayer::require`] or
    /// [`AuthLayer::route`] say more.
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier,
            policy: Arc::new(Policy::default()),
        }
    }

    /// What every route without its own requirements asks.
    pub fn require(mut self, requirements: Requirements) -> Self {
        Arc::make_mut(&mut self.policy).default = requirements;
        self
    }

    /// What requests to `path` ask, instead of the default.
    pub fn route(mut self, path: impl Into<String>, requirements: Requirements) -> Self {
        Arc::make_mut(&mut self.policy)
            .routes
            .insert(path.into(), requirements);
        self
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticated {
            inner,
            verifier: self.verifier.clone(),
            policy: self.policy.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps around another.
#[derive(Clone, Debug)]
pub struct Authenticated<S> {
    inner: S,
    verifier: Verifier,
    policy: Arc<Policy>,
}

impl<S> Authenticated<S> {
    /// The claims of the request's token, or the refusal to answer with.
    /// Takes the parts it reads, not the request: a body need not be Sync.
    async fn authorize(
        verifier: &Verifier,
        policy: &Policy,
        headers: &http::HeaderMap,
        path: &str,
    ) -> Result<VerifiedAccessToken, Status> {
        let token = bearer_token(
            headers
                .get_all(AUTHORIZATION)
                .iter()
                .map(|value| value.to_str().ok()),
        )?;
        let required = policy.routes.get(path).unwrap_or(&policy.default);
        verifier
            .verify(token, required)
            .await
            .map_err(|refusal| refusal_status(&refusal))
    }
}

impl<S, B, ResBody> Service<http::Request<B>> for Authenticated<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    ResBody: tonic::codegen::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<tonic::codegen::StdError>,
{
    // A refusal is a gRPC status with an empty body, so whatever the inner
    // service's body type, the answer's is tonic's own.
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The service that was polled ready takes this request; a clone
        // stays behind for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (verifier, policy) = (self.verifier.clone(), self.policy.clone());
        Box::pin(async move {
            let verdict =
                Self::authorize(&verifier, &policy, request.headers(), request.uri().path()).await;
            match verdict {
                Ok(claims) => {
                    request.extensions_mut().insert(claims);
                    Ok(inner.call(request).await?.map(Body::new))
                }
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}
