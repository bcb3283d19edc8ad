//! Prometheus metrics: what an operator watches to see failures coming, and
//! to know when a legacy key can go. Each server has its own registry, so
//! tests can read exactly what their server counted.

use prometheus::{Encoder, IntCounterVec, Opts, Registry, TextEncoder};

use crate::reason::Reason;

/// The counters inkan keeps.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    failures: IntCounterVec,
    legacy_accepted: IntCounterVec,
    key_reloads: IntCounterVec,
}

impl Metrics {
    /// A fresh registry with every counter at zero.
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, label: &str| {
            let counter = IntCounterVec::new(Opts::new(name, help), &[label])
                .expect("metric names and labels are valid constants");
            registry
                .register(Box::new(counter.clone()))
                .expect("each metric is registered once");
            counter
        };
        Self {
            failures: counter(
                "inkan_failures_total",
                "Calls refused or failed, by contract reason.",
                "reason",
            ),
            legacy_accepted: counter(
                "inkan_legacy_tokens_accepted_total",
                "Tokens without a kid accepted through a legacy key, by key.",
                "key",
            ),
            key_reloads: counter(
                "inkan_key_reloads_total",
                "Key-set file reloads, by outcome (applied or refused).",
                "outcome",
            ),
            registry,
        }
    }

    /// Counts a refused or failed call.
    pub fn failure(&self, reason: Reason) {
        self.failures.with_label_values(&[reason.as_str()]).inc();
    }

    /// Counts a token accepted through the legacy key `label`.
    pub fn legacy_token_accepted(&self, label: &str) {
        self.legacy_accepted.with_label_values(&[label]).inc();
    }

    /// Counts a key-set reload that was applied (`true`) or refused.
    pub fn key_reload(&self, applied: bool) {
        let outcome = if applied { "applied" } else { "refused" };
        self.key_reloads.with_label_values(&[outcome]).inc();
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
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
