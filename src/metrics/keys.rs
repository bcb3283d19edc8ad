//! Key-set metrics: tokens accepted through a legacy key and legacy refresh
//! tokens exchanged (to know when it can go), each legacy key's sunset (for
//! the alert that warns of it), tokens signed with a placeholder secret,
//! reloads of the key-set file, and which kid signs.

use prometheus::{GaugeVec, IntCounterVec, Registry};

use super::build::{counter_vec, gauge_vec};

/// Key-set metrics.
#[derive(Debug)]
pub struct KeyMetrics {
    legacy_accepted: IntCounterVec,
    legacy_exchanged: IntCounterVec,
    legacy_sunset: GaugeVec,
    placeholder_signed: IntCounterVec,
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
            legacy_exchanged: counter_vec(
                registry,
                "inkan_legacy_refresh_tokens_exchanged_total",
                "Former refresh tokens exchanged once for an inkan session, by legacy key.",
                &["key"],
            ),
            legacy_sunset: gauge_vec(
                registry,
                "inkan_legacy_key_sunset_timestamp_seconds",
                "When each legacy key stops accepting anything, in Unix seconds.",
                &["key"],
            ),
            placeholder_signed: counter_vec(
                registry,
                "inkan_placeholder_signed_tokens_total",
                "Tokens refused because a well-known placeholder secret signed them, by placeholder \
                 (forged, or issued while a secret was unset).",
                &["placeholder"],
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

    /// Counts a former refresh token exchanged through the legacy key `label`.
    pub fn legacy_refresh_exchanged(&self, label: &str) {
        self.legacy_exchanged.with_label_values(&[label]).inc();
    }

    /// Shows the sunsets of the legacy keys in service (label, Unix
    /// seconds); keys no longer in the set disappear.
    pub fn legacy_sunsets<'a>(&self, keys: impl IntoIterator<Item = (&'a str, i64)>) {
        self.legacy_sunset.reset();
        for (label, sunset) in keys {
            self.legacy_sunset
                .with_label_values(&[label])
                .set(sunset as f64);
        }
    }

    /// Counts a token refused for being signed with `placeholder`.
    pub fn placeholder_signed(&self, placeholder: &str) {
        let label = if placeholder.is_empty() {
            "(empty)"
        } else {
            placeholder
        };
        self.placeholder_signed.with_label_values(&[label]).inc();
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
