//! The figures of a run, as a table for people and JSON for BENCHMARKS.md.

use std::{collections::BTreeMap, fmt::Write, time::Duration};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::procfs::{CpuSpent, Memory};

/// One scenario's figures.
#[derive(Debug, Serialize)]
pub(crate) struct ScenarioResult {
    pub(crate) name: String,
    pub(crate) calls: u64,
    pub(crate) seconds: f64,
    pub(crate) per_second: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) p999_ms: f64,
    pub(crate) errors: BTreeMap<String, u64>,
    /// Server CPU per call, in µs.
    pub(crate) server_cpu_us: f64,
    /// Database server CPU per call, in µs.
    pub(crate) database_cpu_us: f64,
    pub(crate) cpu: CpuSpent,
    pub(crate) memory: Option<Memory>,
    /// The server's resident memory (KiB) through the scenario, with the
    /// seconds since it started, when asked for.
    pub(crate) memory_samples: Vec<(f64, u64)>,
}

impl ScenarioResult {
    pub(crate) fn new(
        name: &str,
        latency_us: &Histogram<u64>,
        elapsed: Duration,
        errors: BTreeMap<String, u64>,
        cpu: CpuSpent,
        memory: Option<Memory>,
        memory_samples: Vec<(f64, u64)>,
    ) -> Self {
        let calls = latency_us.len();
        let per_call = |seconds: f64| {
            if calls == 0 {
                0.0
            } else {
                seconds * 1e6 / calls as f64
            }
        };
        let ms = |q: f64| latency_us.value_at_quantile(q) as f64 / 1000.0;
        Self {
            name: name.to_owned(),
            calls,
            seconds: elapsed.as_secs_f64(),
            per_second: calls as f64 / elapsed.as_secs_f64().max(1e-9),
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            errors,
            server_cpu_us: per_call(cpu.server_seconds),
            database_cpu_us: per_call(cpu.database_seconds),
            cpu,
            memory,
            memory_samples,
        }
    }
}

/// A whole run.
#[derive(Debug, Serialize)]
pub(crate) struct Run {
    pub(crate) label: String,
    pub(crate) concurrency: usize,
    pub(crate) duration_seconds: f64,
    pub(crate) measures_server: bool,
    pub(crate) measures_database: bool,
    pub(crate) scenarios: Vec<ScenarioResult>,
}

impl Run {
    /// A Markdown table; CPU columns only when a process was watched, and a
    /// column relating each call's CPU to the empty RPC's when it ran.
    pub(crate) fn table(&self) -> String {
        let baseline = self
            .scenarios
            .iter()
            .find(|s| s.name.starts_with("health"))
            .map(|s| s.server_cpu_us + s.database_cpu_us)
            .filter(|b| *b > 0.0);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n{}: {} in flight, {:.0} s per scenario\n",
            self.label, self.concurrency, self.duration_seconds
        );
        let mut header = "| call | calls/s | p50 ms | p99 ms | p99.9 ms | errors |".to_owned();
        let mut rule = "|---|---:|---:|---:|---:|---|".to_owned();
        if self.measures_server {
            header.push_str(" server CPU µs/call |");
            rule.push_str("---:|");
            if self.measures_database {
                header.push_str(" database CPU µs/call |");
                rule.push_str("---:|");
            }
            if baseline.is_some() {
                header.push_str(" CPU ÷ empty RPC |");
                rule.push_str("---:|");
            }
            header.push_str(" server peak RSS MiB |");
            rule.push_str("---:|");
        }
        let _ = writeln!(out, "{header}\n{rule}");
        for s in &self.scenarios {
            let errors = if s.errors.is_empty() {
                "0".to_owned()
            } else {
                s.errors
                    .iter()
                    .map(|(r, n)| format!("{r}: {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = write!(
                out,
                "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
                s.name, s.per_second, s.p50_ms, s.p99_ms, s.p999_ms, errors
            );
            if self.measures_server {
                let _ = write!(out, " {:.0} |", s.server_cpu_us);
                if self.measures_database {
                    let _ = write!(out, " {:.0} |", s.database_cpu_us);
                }
                if let Some(b) = baseline {
                    let _ = write!(out, " {:.2} |", (s.server_cpu_us + s.database_cpu_us) / b);
                }
                match s.memory {
                    Some(m) => {
                        let _ = write!(out, " {:.1} |", m.peak_kib as f64 / 1024.0);
                    }
                    None => out.push_str(" |"),
                }
            }
            out.push('\n');
        }
        for s in self
            .scenarios
            .iter()
            .filter(|s| !s.memory_samples.is_empty())
        {
            let mib: Vec<String> = s
                .memory_samples
                .iter()
                .map(|(t, kib)| format!("{t:.0} s: {:.1}", *kib as f64 / 1024.0))
                .collect();
            let _ = writeln!(out, "\n{} resident MiB: {}", s.name, mib.join(", "));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, calls: u64, server_seconds: f64) -> ScenarioResult {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for i in 0..calls {
            h.record(1000 + i).unwrap();
        }
        ScenarioResult::new(
            name,
            &h,
            Duration::from_secs(2),
            BTreeMap::new(),
            CpuSpent {
                server_seconds,
                database_seconds: 0.0,
            },
            None,
            Vec::new(),
        )
    }

    #[test]
    fn per_call_figures_divide_by_the_calls_made() {
        let r = result("Issue", 1000, 0.5);
        assert_eq!(r.calls, 1000);
        assert!((r.per_second - 500.0).abs() < 1e-9);
        assert!((r.server_cpu_us - 500.0).abs() < 1e-9);
        assert!(r.p50_ms >= 1.0 && r.p50_ms <= 2.0, "{}", r.p50_ms);
    }

    #[test]
    fn the_table_relates_cpu_to_the_empty_rpc() {
        let run = Run {
            label: "sqlite".into(),
            concurrency: 16,
            duration_seconds: 2.0,
            measures_server: true,
            measures_database: false,
            scenarios: vec![
                result("health (empty RPC)", 1000, 0.1),
                result("Verify", 1000, 0.3),
            ],
        };
        let table = run.table();
        let verify = table.lines().find(|l| l.starts_with("| Verify")).unwrap();
        assert!(verify.contains("| 3.00 |"), "{table}");
    }
}
