//! [`Interceptor`]: the [`AuthLayer`](crate::AuthLayer)'s check for
//! services that guard each tonic service with an interceptor
//! (`OrdersServer::with_interceptor`) rather than a tower layer.
//!
//! A tonic interceptor is synchronous, so it verifies with the keys the
//! [`Verifier`] already holds ([`Verifier::verify_cached`]); a token
//! naming a key published since the last update is refused once and its
//! key fetched in the background. An interceptor sees no method path: the
//! same [`Requirements`] apply to every method of the service it guards.

use tonic::{service::Interceptor as TonicInterceptor, Request, Status};

use crate::{bearer::bearer_token, status::refusal_status, Requirements, Verifier};

/// Verifies each request's `authorization: Bearer …` with a [`Verifier`],
/// puts the claims ([`VerifiedAccessToken`](crate::VerifiedAccessToken))
/// in the request's extensions, and refuses with the status inkan itself
/// would give (the same code, `ErrorInfo` reason and action).
///
/// ```no_run
/// use inkan_client::{Interceptor, Requirements, Scope, Verifier};
///
/// # fn guard(verifier: Verifier) -> Result<Interceptor, inkan_client::InvalidId> {
/// let interceptor = Interceptor::new(
///     verifier,
///     Requirements::new()
///         .audience("orders")
///         .scope(Scope::parse("orders:read")?),
/// );
/// // OrdersServer::with_interceptor(orders, interceptor)
/// # Ok(interceptor)
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Interceptor {
    verifier: Verifier,
    required: Requirements,
}

impl Interceptor {
    /// Requires a token that `verifier` accepts and that meets `required`
    /// on every call.
    pub fn new(verifier: Verifier, required: Requirements) -> Self {
        Self { verifier, required }
    }
}

impl TonicInterceptor for Interceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let claims = {
            let values = request
                .metadata()
                .get_all("authorization")
                .iter()
                .map(|value| value.to_str().ok());
            let token = bearer_token(values)?;
            self.verifier
                .verify_cached(token, &self.required)
                .map_err(|refusal| refusal_status(&refusal))?
        };
        request.extensions_mut().insert(claims);
        Ok(request)
    }
}
