//! The HTTP side: the public keys at `/.well-known/jwks.json` and OpenID
//! discovery at `/.well-known/openid-configuration`, so any JWT library can
//! verify inkan's tokens without calling it; and, on a port of its own,
//! Prometheus `/metrics`. Metrics are kept off the public port: they show
//! failure rates and key ids that are nobody's business outside the
//! cluster's monitoring.

mod serve;

pub use serve::serve;

use std::sync::Arc;

use axum::{
    extract::State,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde_json::json;

use crate::authority::{Authority, JWKS_MAX_AGE};

/// Where the JWKS is served.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Where metrics are served, on the metrics address.
pub const METRICS_PATH: &str = "/metrics";

/// The public routes: what consumers need to verify tokens locally.
pub fn router(authority: Arc<Authority>) -> Router {
    Router::new()
        .route(JWKS_PATH, get(jwks))
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .with_state(authority)
}

/// The metrics route, for the metrics address only.
pub fn metrics_router(authority: Arc<Authority>) -> Router {
    Router::new()
        .route(METRICS_PATH, get(metrics))
        .with_state(authority)
}

async fn jwks(State(authority): State<Arc<Authority>>) -> Response {
    let keys = authority.keys().current();
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

async fn openid_configuration(State(authority): State<Arc<Authority>>) -> Response {
    let issuer = &authority.policy().issuer;
    let keys = authority.keys().current();
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
        "jwks_uri": format!("{}{JWKS_PATH}", issuer.trim_end_matches('/')),
        "id_token_signing_alg_values_supported": algs,
    }))
    .into_response()
}
