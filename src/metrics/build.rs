//! Registering metrics whose names and labels are constants: a failure
//! there is a bug in inkan, found by the first test that starts a server.

use prometheus::{
    core::Collector, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts,
    Registry,
};

/// Latency buckets, in seconds: from a sub-millisecond Verify to a ledger
/// call that waits out its bounds (a few seconds, see `ledger::bounds`).
pub(super) const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

fn register<C: Collector + Clone + 'static>(registry: &Registry, metric: C) -> C {
    registry
        .register(Box::new(metric.clone()))
        .expect("each metric is registered once");
    metric
}

/// A counter with labels.
pub(super) fn counter_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> IntCounterVec {
    let counter = IntCounterVec::new(Opts::new(name, help), labels)
        .expect("metric names and labels are valid constants");
    register(registry, counter)
}

/// A counter without labels.
pub(super) fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let counter =
        IntCounter::with_opts(Opts::new(name, help)).expect("metric names are valid constants");
    register(registry, counter)
}

/// A gauge with labels.
pub(super) fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let gauge = GaugeVec::new(Opts::new(name, help), labels)
        .expect("metric names and labels are valid constants");
    register(registry, gauge)
}

/// A gauge without labels.
pub(super) fn gauge(registry: &Registry, name: &str, help: &str) -> Gauge {
    let gauge = Gauge::with_opts(Opts::new(name, help)).expect("metric names are valid constants");
    register(registry, gauge)
}

/// A latency histogram over [`LATENCY_BUCKETS`].
pub(super) fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
    let histogram =
        HistogramVec::new(opts, labels).expect("metric names and labels are valid constants");
    register(registry, histogram)
}
