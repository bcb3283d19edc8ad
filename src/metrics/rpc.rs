//! Every RPC, by method and outcome, and how long it took. The outcome is
//! `ok` or the contract reason name, the same words a client sees, so an
//! alert can divide one by the other (see `k8s/prometheusrule.yaml`).

use std::time::Duration;

use prometheus::{HistogramVec, IntCounterVec, Registry};

use super::build::{counter_vec, histogram_vec};
use crate::reason::Reason;

/// The outcome label of a call that succeeded.
pub const OK: &str = "ok";

/// The outcome label of a fault of inkan itself, which has no contract
/// reason.
pub const INTERNAL: &str = "INTERNAL";

/// The RPCs of `inkan.v1.TokenService`, named as the contract names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Opens a session and returns its first token pair.
    Issue,
    /// Spends a refresh token for a new pair.
    Refresh,
    /// Checks an access token.
    Verify,
    /// Ends a session, or every session of a subject.
    Revoke,
    /// Lists a subject's sessions.
    ListSessions,
    /// Returns the public keys.
    GetJwks,
    /// Counted when the stream starts (or is refused), not per message.
    WatchKeys,
    /// Counted when the stream starts (or is refused), not per message.
    WatchRevocations,
}

impl Method {
    /// The contract's name of the method, the `method` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Issue => "Issue",
            Method::Refresh => "Refresh",
            Method::Verify => "Verify",
            Method::Revoke => "Revoke",
            Method::ListSessions => "ListSessions",
            Method::GetJwks => "GetJwks",
            Method::WatchKeys => "WatchKeys",
            Method::WatchRevocations => "WatchRevocations",
        }
    }
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It succeeded.
    Ok,
    /// It was refused for a contract reason, which the client saw.
    Refused(Reason),
    /// A fault of inkan itself: there is no reason a client could act on.
    Fault,
}

impl Outcome {
    /// The `outcome` label: `ok`, the reason's contract name, or
    /// `INTERNAL`.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => OK,
            Outcome::Refused(reason) => reason.as_str(),
            Outcome::Fault => INTERNAL,
        }
    }

    /// The outcome of a failure whose contract reason is `reason` (`None`
    /// for a fault of the server).
    pub fn of_failure(reason: Option<Reason>) -> Self {
        reason.map_or(Outcome::Fault, Outcome::Refused)
    }
}

/// Per-RPC counters and latencies.
#[derive(Debug)]
pub struct RpcMetrics {
    calls: IntCounterVec,
    duration: HistogramVec,
    failures: IntCounterVec,
}

impl RpcMetrics {
    pub(super) fn new(registry: &Registry) -> Self {
        Self {
            calls: counter_vec(
                registry,
                "inkan_rpc_calls_total",
                "RPCs answered, by method and outcome (ok, or the contract reason; INTERNAL \
                 for a server fault). Streams count once, when they start.",
                &["method", "outcome"],
            ),
            duration: histogram_vec(
                registry,
                "inkan_rpc_duration_seconds",
                "Time to answer an RPC (to start a stream), in seconds, by method.",
                &["method"],
            ),
            failures: counter_vec(
                registry,
                "inkan_failures_total",
                "Calls refused or failed, by contract reason.",
                &["reason"],
            ),
        }
    }

    /// Counts a call to `method` that ended with `outcome` after `took`.
    pub fn answered(&self, method: Method, outcome: &str, took: Duration) {
        self.calls
            .with_label_values(&[method.as_str(), outcome])
            .inc();
        self.duration
            .with_label_values(&[method.as_str()])
            .observe(took.as_secs_f64());
    }

    /// Counts a refused or failed call by reason.
    pub(super) fn failure(&self, reason: Reason) {
        self.failures.with_label_values(&[reason.as_str()]).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_without_a_reason_is_internal_and_a_refusal_its_reason() {
        assert_eq!(Outcome::of_failure(None).label(), "INTERNAL");
        assert_eq!(
            Outcome::of_failure(Some(Reason::TokenExpired)).label(),
            "TOKEN_EXPIRED"
        );
        assert_eq!(Outcome::Ok.label(), "ok");
    }
}
