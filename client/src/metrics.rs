//! What a verifier counts, in a `prometheus::Registry` the service owns or
//! reads: every verification by outcome (so a `SIGNATURE_INVALID` storm
//! shows in the consumer's own metrics, not only in inkan's), key-set
//! updates and refetches, and whether keys and revocations are current.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use inkan_core::Reason;

/// The `outcome` label of a verification that passed.
pub const ACCEPTED: &str = "accepted";

/// The verifier's counters and gauges, registered once.
#[derive(Clone, Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    verifications: IntCounterVec,
    key_updates: IntCounterVec,
    key_refetches: IntCounter,
    keys_stale: IntGauge,
    revocations_held: IntGauge,
    revocations_current: IntGauge,
}

/// Why the metrics could not be registered: most often a second verifier
/// registering the same names in one registry.
#[derive(Debug, thiserror::Error)]
#[error("could not register the verifier's metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

impl Metrics {
    /// Registers the metrics in `registry`.
    pub(crate) fn register(registry: Registry) -> Result<Self, MetricsError> {
        let verifications = IntCounterVec::new(
            Opts::new(
                "inkan_client_verifications_total",
                "Access tokens verified locally, by outcome: accepted or the contract reason",
            ),
            &["outcome"],
        )?;
        let key_updates = IntCounterVec::new(
            Opts::new(
                "inkan_client_key_updates_total",
                "Key sets received from inkan, by outcome: applied or refused",
            ),
            &["outcome"],
        )?;
        let key_refetches = IntCounter::new(
            "inkan_client_key_refetches_total",
            "Key sets fetched because a token named an unknown kid",
        )?;
        let keys_stale = IntGauge::new(
            "inkan_client_keys_stale",
            "1 while the verifier cannot confirm its keys are inkan's current ones",
        )?;
        let revocations_held = IntGauge::new(
            "inkan_client_revocations_held",
            "Revoked sessions and subject cut-offs held in memory",
        )?;
        let revocations_current = IntGauge::new(
            "inkan_client_revocations_current",
            "1 while the revocation stream is connected and caught up",
        )?;
        registry.register(Box::new(verifications.clone()))?;
        registry.register(Box::new(key_updates.clone()))?;
        registry.register(Box::new(key_refetches.clone()))?;
        registry.register(Box::new(keys_stale.clone()))?;
        registry.register(Box::new(revocations_held.clone()))?;
        registry.register(Box::new(revocations_current.clone()))?;
        keys_stale.set(1);
        Ok(Self {
            registry,
            verifications,
            key_updates,
            key_refetches,
            keys_stale,
            revocations_held,
            revocations_current,
        })
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    pub(crate) fn verified(&self, outcome: Result<(), Reason>) {
        let label = match outcome {
            Ok(()) => ACCEPTED,
            Err(reason) => reason.as_str(),
        };
        self.verifications.with_label_values(&[label]).inc();
    }

    pub(crate) fn key_update(&self, applied: bool) {
        let label = if applied { "applied" } else { "refused" };
        self.key_updates.with_label_values(&[label]).inc();
    }

    pub(crate) fn key_refetch(&self) {
        self.key_refetches.inc();
    }

    pub(crate) fn set_keys_stale(&self, stale: bool) {
        self.keys_stale.set(i64::from(stale));
    }

    pub(crate) fn set_revocations(&self, held: usize, current: bool) {
        self.revocations_held
            .set(i64::try_from(held).unwrap_or(i64::MAX));
        self.revocations_current.set(i64::from(current));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::Encoder;

    #[test]
    fn outcomes_are_counted_by_reason_in_the_given_registry() {
        let registry = Registry::new();
        let metrics = Metrics::register(registry.clone()).unwrap();
        metrics.verified(Ok(()));
        metrics.verified(Err(Reason::SignatureInvalid));
        metrics.verified(Err(Reason::SignatureInvalid));
        let mut text = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&registry.gather(), &mut text)
            .unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("inkan_client_verifications_total{outcome=\"SIGNATURE_INVALID\"} 2"));
        assert!(text.contains("inkan_client_verifications_total{outcome=\"accepted\"} 1"));
        assert!(text.contains("inkan_client_keys_stale 1"));
        // A second verifier in the same registry is refused, not merged.
        assert!(Metrics::register(registry).is_err());
    }
}
