//! CPU time as criterion's measure: what the work costs the machine, all of
//! this process's threads counted (the ledger's SQLite worker and tokio's
//! threads included; a database server's own process is not). Unlike wall
//! time, it is not inflated by whatever else runs on a shared machine.

use std::time::Duration;

use cpu_time::ProcessTime;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};

/// This process's CPU time, user and system.
pub(crate) struct ProcessCpu {
    /// Only for its formatter: values are nanoseconds, as wall time's are.
    wall: WallTime,
}

impl Default for ProcessCpu {
    fn default() -> Self {
        Self { wall: WallTime }
    }
}

impl Measurement for ProcessCpu {
    type Intermediate = ProcessTime;
    type Value = Duration;

    fn start(&self) -> ProcessTime {
        ProcessTime::now()
    }

    fn end(&self, started: ProcessTime) -> Duration {
        started.elapsed()
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        self.wall.formatter()
    }
}
