//! TLS metrics: reloads of the certificate files, and when the serving
//! certificate expires (so an alert fires before it does).

use prometheus::{Gauge, IntCounterVec, Registry};

use super::build::{counter_vec, gauge};

/// TLS metrics.
#[derive(Debug)]
pub struct TlsMetrics {
    reloads: IntCounterVec,
    expiry: Gauge,
}

impl TlsMetrics {
    pub(super) fn new(registry: &Registry) -> Self {
        let metrics = Self {
            reloads: counter_vec(
                registry,
                "inkan_tls_reloads_total",
                "Reloads of the TLS certificate, key and client CA files, by outcome (applied or refused).",
                &["outcome"],
            ),
            expiry: gauge(
                registry,
                "inkan_tls_certificate_expiry_timestamp_seconds",
                "When the serving TLS certificate expires, in Unix seconds (0 without TLS).",
            ),
        };
        for outcome in ["applied", "refused"] {
            metrics.reloads.with_label_values(&[outcome]);
        }
        metrics
    }

    /// Counts a reload that was applied (`true`) or refused.
    pub fn reload(&self, applied: bool) {
        let outcome = if applied { "applied" } else { "refused" };
        self.reloads.with_label_values(&[outcome]).inc();
    }

    /// Records when the certificate in service expires.
    pub fn certificate_expires(&self, unix_seconds: u64) {
        self.expiry.set(unix_seconds as f64);
    }
}
