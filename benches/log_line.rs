//! What Verify's one INFO line per call costs (the issue-11 log contract):
//! the same event `grpc/observe.rs` logs, through the subscriber `serve`
//! installs (JSON, flattened, env filter), written to a sink, so the
//! figure is formatting without the write(2) to stderr; and the same event
//! with INFO filtered out, which is what it costs when disabled.
//!
//! `cargo bench --bench log_line`

use std::{hint::black_box, time::Duration};

use criterion::{criterion_group, criterion_main, Criterion};
use support::cpu::ProcessCpu;
use tracing::info;
use tracing_subscriber::{fmt, EnvFilter};

mod support {
    pub(crate) mod cpu;
}

fn call_answered(took: Duration) {
    info!(
        method = "Verify",
        outcome = "ok",
        caller = "orders-service",
        latency_ms = took.as_secs_f64() * 1000.0,
        subject = Some("user-42"),
        session_id = Some("0b7f4f5e-6a59-4a57-9a8e-0b1f2d7c9e11"),
        "call answered"
    );
}

fn log_line(c: &mut Criterion<ProcessCpu>) {
    let mut group = c.benchmark_group("Verify log line");
    for (name, filter) in [
        ("INFO, JSON to a sink", "info"),
        ("INFO filtered out", "warn"),
    ] {
        let subscriber = fmt()
            .with_env_filter(EnvFilter::new(filter))
            .with_writer(std::io::sink)
            .with_ansi(false)
            .json()
            .flatten_event(true)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            group.bench_function(name, |b| {
                b.iter(|| call_answered(black_box(Duration::from_micros(412))))
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ProcessCpu::default());
    targets = log_line
}
criterion_main!(benches);
