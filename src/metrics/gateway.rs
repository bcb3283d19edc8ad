//! The HTTP checks gateways make: token introspection and forward-auth, by
//! endpoint and outcome. They answer outside gRPC, so `inkan_rpc_calls_total`
//! never sees them; a gateway's refusals still count in
//! `inkan_failures_total` by reason, as Verify's do.

use prometheus::{IntCounterVec, Registry};

use super::build::counter_vec;

/// The HTTP endpoints that check a token for a gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckEndpoint {
    /// `POST /oauth2/introspect` (RFC 7662).
    Introspect,
    /// `/auth/verify`, for nginx `auth_request` and the like.
    ForwardAuth,
}

impl CheckEndpoint {
    /// The `endpoint` label.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckEndpoint::Introspect => "introspect",
            CheckEndpoint::ForwardAuth => "forward_auth",
        }
    }
}

/// Gateway checks by endpoint and outcome.
#[derive(Debug)]
pub struct GatewayMetrics {
    checks: IntCounterVec,
}

impl GatewayMetrics {
    pub(super) fn new(registry: &Registry) -> Self {
        Self {
            checks: counter_vec(
                registry,
                "inkan_http_token_checks_total",
                "Token checks answered over HTTP for gateways, by endpoint (introspect, \
                 forward_auth) and outcome (ok, the contract reason, or INTERNAL).",
                &["endpoint", "outcome"],
            ),
        }
    }

    /// Counts a check on `endpoint` that ended with `outcome` (a label of
    /// [`super::Outcome`]).
    pub fn answered(&self, endpoint: CheckEndpoint, outcome: &str) {
        self.checks
            .with_label_values(&[endpoint.as_str(), outcome])
            .inc();
    }
}
