//! Key-set metrics: tokens accepted through a legacy key (to know when it
//! can go), reloads of the key-set file, and which kid signs.

use prometheus::{GaugeVec, IntCounterVec, Registry};

use super::build::{counter_vec, gauge_vec};

/// Key-set metrics.
#[derive(Debug)]
pub struct KeyMetrics {
    legacy_accepted: IntCounterVec,
    reloads: IntCounterVec,
    active: GaugeVec,
}

impl KeyMetrics {
    pub(super) fn new(registry: &Registry) -> Self {
        let metrics = Self {
            legacy_accepted: counter_vec(
                registry,
                "inkan_legacy_tokens_accepted_total",
                "Tokens without a kid accepted through a legacy key, by key.",
                &["key"],
            ),
            reloads: counter_vec(
                registry,
                "inkan_key_reloads_total",
                "Key-set file reloads, by outcome (applied or refused).",
                &["outcome"],
            ),
            active: gauge_vec(
                registry,
                "inkan_active_key_info",
                "1 for the kid that signs new tokens; replicas that disagree show two kids.",
                &["kid"],
            ),
        };
        // Both series exist from the start, so the first refused reload
        // is an increase an alert sees.
        for outcome in ["applied", "refused"] {
            metrics.reloads.with_label_values(&[outcome]);
        }
        metrics
    }

    /// Counts a token accepted through the legacy key `label`.
    pub(super) fn legacy_token_accepted(&self, label: &str) {
        self.legacy_accepted.with_label_values(&[label]).inc();
    }

    /// Counts a key-set reload that was applied (`true`) or refused.
    pub(super) fn reload(&self, applied: bool) {
        let outcome = if applied { "applied" } else { "refused" };
        self.reloads.with_label_values(&[outcome]).inc();
    }

    /// Shows `kid` as the one active key; the previous one disappears, so
    /// a sum over kids is always 1 per replica.
    pub fn active_key(&self, kid: &str) {
        self.active.reset();
        self.active.with_label_values(&[kid]).set(1.0);
    }
}
