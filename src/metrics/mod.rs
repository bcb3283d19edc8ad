//! Prometheus metrics: what an operator watches to see failures coming, and
//! to know when a legacy key can go. Each server has its own registry, so
//! tests can read exactly what their server counted.
//!
//! - `rpc`: every call by method and outcome, and its latency;
//! - `sessions`: the life cycle of sessions (issued, refreshed, reused,
//!   revoked);
//! - `keys`: legacy uses, reloads and the active kid;
//! - `ledger`: the pool and the latency of the ledger calls that matter,
//!   and how far the revocation cache lags behind the ledger;
//! - `tls`: certificate reloads and expiry;
//! - `gateway`: introspection and forward-auth checks over HTTP;
//! - `connections`: what the per-port connection gates closed or refused.

mod build;
mod connections;
mod gateway;
mod keys;
mod ledger;
mod rpc;
mod sessions;
mod tls;

use prometheus::{Encoder, Registry, TextEncoder};

pub use connections::{ConnectionMetrics, GateCounters};
pub use gateway::{CheckEndpoint, GatewayMetrics};
pub use keys::KeyMetrics;
pub use ledger::{LedgerCall, LedgerMetrics, PoolState};
pub use rpc::{Method, Outcome, RpcMetrics, INTERNAL, OK};
pub use sessions::{RefreshOutcome, RevokedBy, SessionMetrics};
pub use tls::TlsMetrics;

use crate::reason::Reason;

/// The metrics inkan keeps.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    rpc: RpcMetrics,
    sessions: SessionMetrics,
    keys: KeyMetrics,
    ledger: LedgerMetrics,
    tls: TlsMetrics,
    gateway: GatewayMetrics,
    connections: ConnectionMetrics,
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new() -> Self {
        let registry = Registry::new();
        Self {
            rpc: RpcMetrics::new(&registry),
            sessions: SessionMetrics::new(&registry),
            keys: KeyMetrics::new(&registry),
            ledger: LedgerMetrics::new(&registry),
            tls: TlsMetrics::new(&registry),
            gateway: GatewayMetrics::new(&registry),
            connections: ConnectionMetrics::new(&registry),
            registry,
        }
    }

    /// Counts a refused or failed call.
    pub fn failure(&self, reason: Reason) {
        self.rpc.failure(reason);
    }

    /// Per-RPC counts and latencies.
    pub fn rpc(&self) -> &RpcMetrics {
        &self.rpc
    }

    /// Session life-cycle counters.
    pub fn sessions(&self) -> &SessionMetrics {
        &self.sessions
    }

    /// Key-set metrics.
    pub fn keys(&self) -> &KeyMetrics {
        &self.keys
    }

    /// Ledger pool, call latency and revocation-feed lag.
    pub fn ledger(&self) -> &LedgerMetrics {
        &self.ledger
    }

    /// TLS reloads and certificate expiry.
    pub fn tls(&self) -> &TlsMetrics {
        &self.tls
    }

    /// The connection gates' counters.
    pub fn connections(&self) -> &ConnectionMetrics {
        &self.connections
    }

    /// Introspection and forward-auth checks.
    pub fn gateway(&self) -> &GatewayMetrics {
        &self.gateway
    }

    /// Counts a token accepted through the legacy key `label`.
    pub fn legacy_token_accepted(&self, label: &str) {
        self.keys.legacy_token_accepted(label);
    }

    /// Counts a key-set reload that was applied (`true`) or refused.
    pub fn key_reload(&self, applied: bool) {
        self.keys.reload(applied);
    }

    /// The Prometheus text exposition of every metric. Values that are
    /// sampled rather than counted (the feed's lag) are brought up to date
    /// first.
    pub fn render(&self) -> String {
        self.ledger.sample_feed_lag();
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for these metric types.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn every_metric_is_documented_and_prefixed() {
        let metrics = Metrics::new();
        // Touch the metrics whose series appear only once used.
        metrics
            .rpc()
            .answered(Method::Verify, OK, Duration::from_micros(300));
        metrics.failure(Reason::TokenExpired);
        metrics.legacy_token_accepted("former");
        metrics.keys().active_key("k1");
        metrics.keys().legacy_refresh_exchanged("former");
        metrics.keys().legacy_sunsets([("former", 1_814_313_600)]);
        metrics.keys().placeholder_signed("ACCESS_SECRET");
        metrics
            .ledger()
            .call(LedgerCall::Rotate, Duration::from_millis(3));
        metrics.ledger().pool(PoolState { idle: 1, in_use: 0 });
        metrics.gateway().answered(CheckEndpoint::ForwardAuth, OK);
        let text = metrics.render();
        for name in [
            "inkan_rpc_calls_total",
            "inkan_rpc_duration_seconds",
            "inkan_failures_total",
            "inkan_sessions_issued_total",
            "inkan_refreshes_total",
            "inkan_refresh_reuse_detected_total",
            "inkan_sessions_revoked_total",
            "inkan_legacy_tokens_accepted_total",
            "inkan_legacy_refresh_tokens_exchanged_total",
            "inkan_legacy_key_sunset_timestamp_seconds",
            "inkan_placeholder_signed_tokens_total",
            "inkan_key_reloads_total",
            "inkan_active_key_info",
            "inkan_ledger_pool_connections",
            "inkan_ledger_call_duration_seconds",
            "inkan_revocation_feed_lag_seconds",
            "inkan_tls_reloads_total",
            "inkan_tls_certificate_expiry_timestamp_seconds",
            "inkan_http_token_checks_total",
        ] {
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "{name} has no HELP"
            );
        }
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("inkan_"), "unprefixed: {line}");
        }
    }

    #[test]
    fn a_new_active_key_replaces_the_old_one() {
        let metrics = Metrics::new();
        metrics.keys().active_key("k1");
        metrics.keys().active_key("k2");
        let text = metrics.render();
        assert!(text.contains("inkan_active_key_info{kid=\"k2\"} 1"));
        assert!(!text.contains("kid=\"k1\""));
    }

    #[test]
    fn a_reuse_counts_a_revoked_session() {
        let metrics = Metrics::new();
        metrics.sessions().reuse_detected();
        let text = metrics.render();
        assert!(text.contains("inkan_refresh_reuse_detected_total 1"));
        assert!(text.contains("inkan_sessions_revoked_total{by=\"reuse\"} 1"));
    }
}
