//! The load the failover stage (`.ci/stages/failover.sh`) runs through a
//! PostgreSQL failover: steady Issue, Refresh and Verify calls over several
//! inkan replicas, every answer recorded, then a check of what was
//! answered.
//!
//! Each worker keeps to one replica and holds a chain of refresh tokens:
//! it issues a session, refreshes it some times (retrying a refresh that
//! failed with the token it sent, as a client does), then starts another.
//! During the failover a call may fail only with `STORAGE_UNAVAILABLE`
//! (action `retry`); Verify must never fail. When the stop file appears,
//! the load stops and every chain is checked on the new leader: half must
//! still refresh from their last answered token (nothing acknowledged was
//! lost), the other half replay a token spent long before and must be
//! told `REFRESH_TOKEN_REUSED` (nothing can be spent twice). It prints a
//! JSON summary and exits non-zero on any other outcome.
//!
//! ```sh
//! failover_load --targets http://127.0.0.1:16051,http://127.0.0.1:16061 \
//!     --api-key-file key --stop-file stop --summary summary.json
//! ```

use std::{
    path::PathBuf,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use inkan::{
    proto::v1::{
        token_service_client::TokenServiceClient, IssueRequest, RefreshRequest, VerifyRequest,
    },
    reason::{Action, Reason},
};
use inkan_proto::Failure;
use tonic::{transport::Channel, Request, Status};
use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};

/// Refreshes per chain before a worker starts a new session.
const CHAIN: usize = 12;
/// The longest the load runs, whatever the stop file says.
const MOST: Duration = Duration::from_secs(300);
/// How long a replica may take to become ready.
const READY_WITHIN: Duration = Duration::from_secs(150);

struct Args {
    targets: Vec<String>,
    api_key: String,
    stop_file: PathBuf,
    summary: PathBuf,
    workers: usize,
}

fn args() -> Result<Args, String> {
    let mut targets = None;
    let mut api_key = None;
    let mut stop_file = None;
    let mut summary = None;
    let mut workers = 6;
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let mut value = || given.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--targets" => targets = Some(value()?.split(',').map(str::to_owned).collect()),
            "--api-key-file" => {
                let path = value()?;
                let key = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
                api_key = Some(key.trim().to_owned());
            }
            "--stop-file" => stop_file = Some(PathBuf::from(value()?)),
            "--summary" => summary = Some(PathBuf::from(value()?)),
            "--workers" => workers = value()?.parse().map_err(|e| format!("--workers: {e}"))?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(Args {
        targets: targets.ok_or("--targets is required")?,
        api_key: api_key.ok_or("--api-key-file is required")?,
        stop_file: stop_file.ok_or("--stop-file is required")?,
        summary: summary.ok_or("--summary is required")?,
        workers,
    })
}

/// Milliseconds since the epoch, to line the load up with the stage's
/// own events.
fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What one failed call was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failed {
    /// `STORAGE_UNAVAILABLE`, action `retry`: allowed during a failover.
    Retry,
    /// Anything else: an INTERNAL, a token failure (a logout), a transport
    /// error.
    Wrong,
}

fn classify(status: &Status) -> Failed {
    let failure = Failure::of(status);
    let retry = status.code() == tonic::Code::Unavailable
        && failure.as_ref().and_then(|f| f.reason) == Some(Reason::StorageUnavailable)
        && failure.as_ref().and_then(|f| f.action) == Some(Action::Retry);
    if retry {
        Failed::Retry
    } else {
        Failed::Wrong
    }
}

/// A status in one line, without its message (which never holds a token,
/// but stays out of the summary anyway).
fn describe(call: &str, status: &Status) -> String {
    let reason = Failure::of(status)
        .and_then(|f| f.reason)
        .map_or("no reason".to_owned(), |r| r.as_str().to_owned());
    format!("{call}: {:?} {reason}", status.code())
}

/// One session's refresh tokens, oldest first, and its last access token.
struct Chain {
    tokens: Vec<String>,
    access: String,
}

/// What one worker saw.
#[derive(Default)]
struct Seen {
    issued: u64,
    refreshed: u64,
    verified: u64,
    /// Verify calls answered right after an Issue or Refresh failed.
    verified_in_outage: u64,
    retry_failures: u64,
    wrong: Vec<String>,
    /// Spans during which its calls failed: (first failure, first success
    /// after), in unix milliseconds.
    outages: Vec<(u64, u64)>,
    chains: Vec<Chain>,
}

async fn client(target: &str) -> Result<TokenServiceClient<Channel>, String> {
    let channel = Channel::from_shared(target.to_owned())
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .map_err(|e| format!("{target}: {e}"))?;
    Ok(TokenServiceClient::new(channel))
}

/// Waits until every target reports `""` SERVING; the milliseconds each
/// took.
async fn wait_ready(targets: &[String]) -> Result<Vec<u64>, String> {
    let started = Instant::now();
    let mut took = Vec::new();
    for target in targets {
        loop {
            let ready = async {
                let channel = Channel::from_shared(target.clone())
                    .ok()?
                    .connect()
                    .await
                    .ok()?;
                let request = HealthCheckRequest {
                    service: String::new(),
                };
                let answer = HealthClient::new(channel).check(request).await.ok()?;
                Some(answer.into_inner().status == 1)
            };
            if ready.await == Some(true) {
                took.push(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
                break;
            }
            if started.elapsed() > READY_WITHIN {
                return Err(format!("{target} was not ready within {READY_WITHIN:?}"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(took)
}

fn keyed<T>(message: T, key: &str) -> Request<T> {
    let mut request = Request::new(message);
    if let Ok(value) = key.parse() {
        request.metadata_mut().insert("x-api-key", value);
    }
    request
}

/// One worker's load on `target` until the stop file appears.
async fn work(id: usize, target: String, key: String, stop: PathBuf) -> Result<Seen, String> {
    let mut inkan = client(&target).await?;
    let mut seen = Seen::default();
    let mut failing_since: Option<u64> = None;
    let started = Instant::now();
    let mut sessions = 0;
    while !stop.exists() && started.elapsed() < MOST {
        let needs_session = seen
            .chains
            .last()
            .is_none_or(|chain| chain.tokens.len() > CHAIN);
        let outcome = if needs_session {
            sessions += 1;
            let request = IssueRequest {
                subject: format!("failover-{id}-{sessions}"),
                audience: vec!["failover".into()],
                scopes: vec![],
                client_id: "failover-load".into(),
                device: "failover stage".into(),
                claims: None,
            };
            inkan
                .issue(keyed(request, &key))
                .await
                .map(|pair| {
                    let pair = pair.into_inner();
                    seen.issued += 1;
                    seen.chains.push(Chain {
                        tokens: vec![pair.refresh_token],
                        access: pair.access_token,
                    });
                })
                .map_err(|s| ("Issue", s))
        } else {
            let chain = seen.chains.last_mut().ok_or("no chain")?;
            let presented = chain.tokens.last().cloned().unwrap_or_default();
            let request = RefreshRequest {
                refresh_token: presented.clone(),
            };
            match inkan.refresh(keyed(request, &key)).await {
                Ok(pair) => {
                    let pair = pair.into_inner();
                    if pair.refresh_token == presented {
                        return Err("a refresh answered the token it was sent".into());
                    }
                    chain.tokens.push(pair.refresh_token);
                    chain.access = pair.access_token;
                    seen.refreshed += 1;
                    Ok(())
                }
                Err(status) => Err(("Refresh", status)),
            }
        };
        // Verify answers from memory: it must never fail, failover or not,
        // so it runs after every call, failed ones included.
        let ledger_failed = outcome.is_err();
        let verified = match seen.chains.last() {
            Some(chain) => {
                let request = VerifyRequest {
                    access_token: chain.access.clone(),
                    audience: "failover".into(),
                    required_scopes: vec![],
                };
                match inkan.verify(keyed(request, &key)).await {
                    Ok(_) => {
                        seen.verified += 1;
                        if ledger_failed {
                            seen.verified_in_outage += 1;
                        }
                        Ok(())
                    }
                    Err(status) => Err(("Verify", status)),
                }
            }
            None => Ok(()),
        };
        match verified.and(outcome) {
            Ok(()) => {
                if let Some(since) = failing_since.take() {
                    seen.outages.push((since, unix_ms()));
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err((call, status)) => {
                failing_since.get_or_insert_with(unix_ms);
                match (call, classify(&status)) {
                    ("Verify", _) | (_, Failed::Wrong) => {
                        seen.wrong.push(describe(call, &status));
                        // A chain that met a wrong answer is not checked.
                        seen.chains.pop();
                    }
                    (_, Failed::Retry) => seen.retry_failures += 1,
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    if let Some(since) = failing_since {
        seen.outages.push((since, 0));
    }
    Ok(seen)
}

/// A call retried while it fails with `STORAGE_UNAVAILABLE`, for at most
/// ten seconds: the check runs right after the switchover.
async fn patiently<T, F, Fut>(mut call: F) -> Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Status>>,
{
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        match call().await {
            Err(status) if classify(&status) == Failed::Retry && Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            outcome => return outcome,
        }
    }
}

/// What the check after the load found.
#[derive(Default)]
struct Checked {
    kept: u64,
    lost: Vec<String>,
    reuse_refused: u64,
    spent_twice: u64,
    wrong: Vec<String>,
}

/// Checks every chain on `target`: even ones refresh from their last
/// token, odd ones (with at least two spends) replay their first token.
async fn check(chains: &[Chain], target: &str, key: &str) -> Result<Checked, String> {
    let inkan = client(target).await?;
    let mut checked = Checked::default();
    for (index, chain) in chains.iter().enumerate() {
        let Some(last) = chain.tokens.last() else {
            continue;
        };
        if index % 2 == 0 {
            let refreshed = patiently(|| {
                let request = RefreshRequest {
                    refresh_token: last.clone(),
                };
                let mut inkan = inkan.clone();
                let key = key.to_owned();
                async move { inkan.refresh(keyed(request, &key)).await }
            })
            .await;
            match refreshed {
                Ok(_) => checked.kept += 1,
                Err(status) => checked
                    .lost
                    .push(describe("Refresh of the last answered token", &status)),
            }
        } else if chain.tokens.len() >= 3 {
            let replayed = patiently(|| {
                let request = RefreshRequest {
                    refresh_token: chain.tokens[0].clone(),
                };
                let mut inkan = inkan.clone();
                let key = key.to_owned();
                async move { inkan.refresh(keyed(request, &key)).await }
            })
            .await;
            match replayed {
                Ok(_) => checked.spent_twice += 1,
                Err(status)
                    if Failure::of(&status).and_then(|f| f.reason)
                        == Some(Reason::RefreshTokenReused) =>
                {
                    checked.reuse_refused += 1
                }
                Err(status) => checked.wrong.push(describe("replay", &status)),
            }
        }
    }
    Ok(checked)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(err) => {
            eprintln!("failover_load: {err}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run() -> Result<bool, String> {
    let args = args()?;
    let ready_ms = wait_ready(&args.targets).await?;
    eprintln!("failover_load: every replica ready ({ready_ms:?} ms); load running");
    let mut workers = tokio::task::JoinSet::new();
    for id in 0..args.workers {
        let target = args.targets[id % args.targets.len()].clone();
        let (key, stop) = (args.api_key.clone(), args.stop_file.clone());
        let replica = id % args.targets.len();
        workers
            .spawn(async move { Ok::<_, String>((replica, work(id, target, key, stop).await?)) });
    }
    let mut seen_by: Vec<(usize, Seen)> = Vec::new();
    while let Some(done) = workers.join_next().await {
        seen_by.push(done.map_err(|e| e.to_string())??);
    }
    let chains: Vec<Chain> = seen_by
        .iter_mut()
        .flat_map(|(_, seen)| std::mem::take(&mut seen.chains))
        .collect();
    let checked = check(&chains, &args.targets[0], &args.api_key).await?;
    let sum = |f: fn(&Seen) -> u64| seen_by.iter().map(|(_, s)| f(s)).sum::<u64>();
    let wrong: Vec<&String> = seen_by
        .iter()
        .flat_map(|(_, s)| s.wrong.iter())
        .chain(checked.wrong.iter())
        .chain(checked.lost.iter())
        .collect();
    // Per replica: the spans its workers' calls failed, in unix ms.
    let outages: Vec<(usize, u64, u64)> = seen_by
        .iter()
        .flat_map(|(replica, s)| s.outages.iter().map(|(a, b)| (*replica, *a, *b)))
        .collect();
    let summary = serde_json::json!({
        "replicas": args.targets.len(),
        "workers": args.workers,
        "ready_ms": ready_ms,
        "issued": sum(|s| s.issued),
        "refreshed": sum(|s| s.refreshed),
        "verified": sum(|s| s.verified),
        "verified_in_outage": sum(|s| s.verified_in_outage),
        "failed_retry": sum(|s| s.retry_failures),
        "failed_other": wrong.len(),
        "failed_other_first": wrong.iter().take(10).collect::<Vec<_>>(),
        "outages_ms": outages,
        "chains_checked": checked.kept + checked.lost.len() as u64,
        "tokens_lost": checked.lost.len(),
        "reuse_refused": checked.reuse_refused,
        "spent_twice": checked.spent_twice,
    });
    let text = serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?;
    std::fs::write(&args.summary, &text).map_err(|e| format!("{}: {e}", args.summary.display()))?;
    println!("{text}");
    Ok(wrong.is_empty()
        && checked.spent_twice == 0
        && checked.kept > 0
        && checked.reuse_refused > 0)
}
