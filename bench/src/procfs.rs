//! What the server and its database spent: CPU time and memory read from
//! `/proc`, so a figure does not depend on what the load generator itself
//! burns on the same machine.

use std::{fs, io, path::Path, process::Command};

/// The processes whose cost a run reports.
#[derive(Debug, Clone)]
pub(crate) struct Watched {
    server: Option<u32>,
    database: Option<String>,
    ticks_per_second: f64,
}

/// CPU time at one moment, in clock ticks.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CpuSample {
    server: u64,
    database: u64,
}

/// CPU seconds spent between two samples.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub(crate) struct CpuSpent {
    /// Seconds of CPU of the server process (every thread).
    pub(crate) server_seconds: f64,
    /// Seconds of CPU of every process of the database server.
    pub(crate) database_seconds: f64,
}

impl Watched {
    /// Watches the server process `server` and every process whose name
    /// (`/proc/PID/comm`) is `database`, e.g. `postgres` (a process per
    /// connection) or `mariadbd`.
    pub(crate) fn new(server: Option<u32>, database: Option<String>) -> io::Result<Self> {
        if let Some(pid) = server {
            cpu_ticks(pid).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot read /proc/{pid}/stat: {e}"))
            })?;
        }
        if let Some(name) = &database {
            if processes_named(name)?.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no process named {name:?} is running"),
                ));
            }
        }
        Ok(Self {
            server,
            database,
            ticks_per_second: ticks_per_second(),
        })
    }

    /// Whether any CPU is measured at all.
    pub(crate) fn measures_server(&self) -> bool {
        self.server.is_some()
    }

    /// Whether a database server's CPU is measured.
    pub(crate) fn measures_database(&self) -> bool {
        self.database.is_some()
    }

    /// CPU time so far.
    pub(crate) fn sample(&self) -> CpuSample {
        let server = self.server.and_then(|pid| cpu_ticks(pid).ok()).unwrap_or(0);
        let database = match &self.database {
            Some(name) => processes_named(name)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|pid| cpu_ticks(pid).ok())
                .sum(),
            None => 0,
        };
        CpuSample { server, database }
    }

    /// CPU spent from `before` to `after`.
    pub(crate) fn spent(&self, before: CpuSample, after: CpuSample) -> CpuSpent {
        let seconds = |a: u64, b: u64| a.saturating_sub(b) as f64 / self.ticks_per_second;
        CpuSpent {
            server_seconds: seconds(after.server, before.server),
            database_seconds: seconds(after.database, before.database),
        }
    }

    /// The server's peak and current resident memory, in KiB.
    pub(crate) fn server_memory(&self) -> Option<Memory> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.server?)).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse().ok())
        };
        Some(Memory {
            peak_kib: field("VmHWM:")?,
            current_kib: field("VmRSS:")?,
        })
    }
}

/// Resident memory of the server.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub(crate) struct Memory {
    /// The highest resident set size so far (`VmHWM`).
    pub(crate) peak_kib: u64,
    /// The resident set size now (`VmRSS`).
    pub(crate) current_kib: u64,
}

/// User plus system time of every thread of `pid`, in clock ticks
/// (fields 14 and 15 of `/proc/PID/stat`).
fn cpu_ticks(pid: u32) -> io::Result<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after_name = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no ')' in stat"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name, field 3 (state) is index 0: utime (14) is 11, stime 12.
    let field = |i: usize| -> io::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "short stat line"))
    };
    Ok(field(11)? + field(12)?)
}

fn processes_named(name: &str) -> io::Result<Vec<u32>> {
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc")? {
        let entry = entry?;
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let comm = fs::read_to_string(Path::new("/proc").join(entry.file_name()).join("comm"));
        if comm.is_ok_and(|c| c.trim_end() == name) {
            pids.push(pid);
        }
    }
    Ok(pids)
}

/// `sysconf(_SC_CLK_TCK)`, asked of `getconf` (no unsafe code here); 100
/// on every Linux this runs on when `getconf` is missing.
fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_spent_some_cpu_and_holds_memory() {
        let me = std::process::id();
        // Burn a little CPU so at least one tick is on the clock.
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < std::time::Duration::from_millis(50) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        assert!(x != 1);
        let watched = Watched::new(Some(me), None).unwrap();
        assert!(cpu_ticks(me).unwrap() > 0);
        let memory = watched.server_memory().unwrap();
        assert!(memory.peak_kib >= memory.current_kib && memory.current_kib > 0);
    }

    #[test]
    fn a_database_that_is_not_running_is_named() {
        let err = Watched::new(None, Some("no-such-process-name".into())).unwrap_err();
        assert!(err.to_string().contains("no-such-process-name"), "{err}");
    }
}
