//! What the connection gates in front of each port did: idle connections
//! closed to make room, and connections refused because every one held had
//! a call open. A rise in either is the first sign of a port at
//! `max_connections`, from a flood or from too small a limit.

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

use super::build::counter_vec;

/// Connections closed by the gates, by port and why.
#[derive(Debug)]
pub struct ConnectionMetrics {
    closed: IntCounterVec,
}

/// One port's counters, handed to its gate.
#[derive(Debug, Clone)]
pub struct GateCounters {
    /// Idle connections closed to make room for a new one.
    pub evicted: IntCounter,
    /// New connections refused because every held one was busy.
    pub refused: IntCounter,
}

impl GateCounters {
    /// Counters registered nowhere, for a gate no server scrapes (tests).
    pub fn detached() -> Self {
        let counter = |name: &str| {
            IntCounter::with_opts(Opts::new(name, "unregistered"))
                .expect("metric names are valid constants")
        };
        Self {
            evicted: counter("evicted"),
            refused: counter("refused"),
        }
    }
}

impl ConnectionMetrics {
    pub(super) fn new(registry: &Registry) -> Self {
        Self {
            closed: counter_vec(
                registry,
                "inkan_connections_closed_total",
                "Connections the per-port gate closed (why=\"evicted_idle\": an idle one \
                 closed to make room) or refused (why=\"refused_busy\": every held one had a \
                 call open), by port (grpc, http, metrics).",
                &["port", "why"],
            ),
        }
    }

    /// The counters of the gate in front of `port`.
    pub fn port(&self, port: &str) -> GateCounters {
        GateCounters {
            evicted: self.closed.with_label_values(&[port, "evicted_idle"]),
            refused: self.closed.with_label_values(&[port, "refused_busy"]),
        }
    }
}
