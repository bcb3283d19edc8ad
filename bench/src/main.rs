//! `inkan-bench`: drives a running inkan over gRPC and reports, per call,
//! the rate, the latency percentiles, the errors by reason and the CPU the
//! server (and its database server) spent, beside an empty RPC measured in
//! the same run. See BENCHMARKS.md.

mod procfs;
mod report;
mod scenario;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;

use crate::{procfs::Watched, scenario::Scenario};

/// Load generator for inkan: rate, latency and server CPU per call.
#[derive(Debug, Parser)]
#[command(name = "inkan-bench", version)]
struct Args {
    /// The inkan gRPC endpoint.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    target: String,
    /// An API key with the issue (and, for a server that requires it,
    /// refresh) permission; none for a dev server.
    #[arg(long, env = "INKAN_BENCH_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// The server's process id, to measure its CPU time and memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The database server's process name, e.g. `postgres` or `mariadbd`,
    /// to measure its CPU time too (every process of that name).
    #[arg(long)]
    database_process: Option<String>,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// How long each scenario runs.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// The scenarios to run, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "health,issue,refresh,verify,verify-repeated,revoke"
    )]
    scenarios: Vec<Scenario>,
    /// Distinct access tokens the `verify` scenario cycles through.
    #[arg(long, default_value_t = 1000)]
    verify_pool: usize,
    /// Sessions made before the `revoke` scenario, ended one per call.
    #[arg(long, default_value_t = 5000)]
    revoke_pool: usize,
    /// Sessions to issue before the scenarios, unmeasured: the size of the
    /// ledger the scenarios run against.
    #[arg(long, default_value_t = 0)]
    fill: u64,
    /// During each scenario, record the server's resident memory this
    /// often (for soaks: it should stay flat).
    #[arg(long, value_parser = humantime::parse_duration)]
    memory_every: Option<Duration>,
    /// HTTP/2 connections the calls are spread over.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// A name for this run in the report, e.g. `sqlite` or `postgres`.
    #[arg(long, default_value = "inkan")]
    label: String,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// How long to keep trying to reach the server before giving up.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    wait: Duration,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(0) => ExitCode::SUCCESS,
        Ok(errors) => {
            eprintln!("inkan-bench: {errors} calls failed; every failure is unexpected here");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("inkan-bench: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs every scenario; returns how many calls failed.
async fn run(args: Args) -> Result<u64, String> {
    if args.concurrency == 0 || args.connections == 0 {
        return Err("--concurrency and --connections must be at least 1".into());
    }
    let watched =
        Watched::new(args.server_pid, args.database_process.clone()).map_err(|e| e.to_string())?;
    let clients = scenario::Clients::connect(
        &args.target,
        args.connections,
        args.api_key.clone(),
        args.wait,
    )
    .await
    .map_err(|e| format!("cannot connect to {}: {e}", args.target))?;
    let plan = scenario::Plan {
        concurrency: args.concurrency,
        duration: args.duration,
        verify_pool: args.verify_pool,
        revoke_pool: args.revoke_pool,
        progress: !args.quiet,
        memory_every: args.memory_every,
    };
    scenario::fill(&clients, args.fill, args.concurrency, !args.quiet).await?;
    let mut results = Vec::new();
    for &scenario in &args.scenarios {
        let result = scenario::run(scenario, &plan, &clients, &watched).await?;
        results.push(result);
    }
    let run = report::Run {
        label: args.label,
        concurrency: args.concurrency,
        duration_seconds: args.duration.as_secs_f64(),
        measures_server: watched.measures_server(),
        measures_database: watched.measures_database(),
        scenarios: results,
    };
    print!("{}", run.table());
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&run).map_err(|e| e.to_string())?;
        std::fs::write(path, json).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(run
        .scenarios
        .iter()
        .map(|s| s.errors.values().sum::<u64>())
        .sum())
}
