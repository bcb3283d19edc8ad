//! The HTTP side: the public keys at `/.well-known/jwks.json` and OpenID
//! discovery at `/.well-known/openid-configuration`, so any JWT library can
//! verify inkan's tokens without calling it; for gateways, which need no
//! library at all, RFC 7662 introspection (`introspect.rs`) and
//! forward-auth (`forward_auth.rs`), both for authenticated callers
//! (`caller.rs`) and both through the Verify path; and, on a port of its
//! own, Prometheus `/metrics`. Metrics are kept off the public port: they
//! show failure rates and key ids that are nobody's business outside the
//! cluster's monitoring.

mod caller;
mod check;
mod forward_auth;
mod introspect;
mod serve;

pub use forward_auth::{
    ACTION_HEADER, CLIENT_ID_HEADER, FORWARD_AUTH_PATH, REASON_HEADER, SCOPES_HEADER,
    SESSION_HEADER, SUBJECT_HEADER,
};
pub use introspect::{BODY_TIMEOUT, INTROSPECT_PATH, MAX_BODY_BYTES};
pub use serve::serve;

use std::sync::Arc;

use axum::{
    extract::{DefaultBodyLimit, State},
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
    routing::{any, get, post},
    Json, Router,
};
use serde_json::json;

use crate::{
    authority::{Authority, JWKS_MAX_AGE},
    callers::CallerRegistry,
};

/// Where the JWKS is served.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Where metrics are served, on the metrics address.
pub const METRICS_PATH: &str = "/metrics";

/// Whether the server may vouch for tokens yet: false while it waits for
/// its ledger at start-up, as the gRPC gate in front of Verify is.
pub type Ready = Arc<dyn Fn() -> bool + Send + Sync>;

/// What the public routes answer from.
struct Public {
    authority: Arc<Authority>,
    /// Introspection and forward-auth answer 503 until this says so.
    ready: Ready,
    /// Who may introspect and use forward-auth.
    callers: Arc<CallerRegistry>,
    /// The discovery document's `jwks_uri`.
    jwks_uri: String,
}

/// The public routes: what consumers need to verify tokens locally, and
/// what gateways ask instead. The discovery document names
/// `public_jwks_url` as `jwks_uri`, or the JWKS under the issuer when it is
/// `None`. Introspection and forward-auth answer 503 (retry) while `ready`
/// says no: before the revocations are loaded, a revoked token could pass.
pub fn router(
    authority: Arc<Authority>,
    ready: Ready,
    callers: Arc<CallerRegistry>,
    public_jwks_url: Option<String>,
) -> Router {
    let jwks_uri = public_jwks_url.unwrap_or_else(|| {
        format!(
            "{}{JWKS_PATH}",
            authority.policy().issuer.trim_end_matches('/')
        )
    });
    Router::new()
        .route(JWKS_PATH, get(jwks))
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route(
            INTROSPECT_PATH,
            post(introspect::introspect).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .route(FORWARD_AUTH_PATH, any(forward_auth::forward_auth))
        .with_state(Arc::new(Public {
            authority,
            ready,
            callers,
            jwks_uri,
        }))
}

/// The metrics route, for the metrics address only.
pub fn metrics_router(authority: Arc<Authority>) -> Router {
    Router::new()
        .route(METRICS_PATH, get(metrics))
        .with_state(authority)
}

/// Marks a gateway's answer as never to be cached: each check is of one
/// request, and a cached "yes" would outlive a revocation.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn jwks(State(public): State<Arc<Public>>) -> Response {
    let keys = public.authority.keys().current();
    let cache = format!("public, max-age={}", JWKS_MAX_AGE.as_secs());
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwk-set+json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_str(&cache).unwrap_or(HeaderValue::from_static("no-cache")),
            ),
        ],
        keys.jwks_json().to_owned(),
    )
        .into_response()
}

async fn metrics(State(authority): State<Arc<Authority>>) -> Response {
    // Sampled here rather than by a task: a scrape sees the pool as it is.
    authority
        .metrics()
        .ledger()
        .pool(authority.ledger().pool_state());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        authority.metrics().render(),
    )
        .into_response()
}

async fn openid_configuration(State(public): State<Arc<Public>>) -> Response {
    let issuer = &public.authority.policy().issuer;
    let keys = public.authority.keys().current();
    let mut algs: Vec<&str> = keys
        .set()
        .keys()
        .iter()
        .filter(|k| !k.alg().is_symmetric())
        .map(|k| k.alg().as_str())
        .collect();
    algs.sort_unstable();
    algs.dedup();
    Json(json!({
        "issuer": issuer,
        "jwks_uri": public.jwks_uri,
        "id_token_signing_alg_values_supported": algs,
    }))
    .into_response()
}
