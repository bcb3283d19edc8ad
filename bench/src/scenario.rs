//! The calls a run makes: each scenario prepares what it needs (sessions,
//! tokens) outside the measured window, then keeps `concurrency` calls in
//! flight until the duration is up.

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use inkan_client::{
    proto::v1::{
        revoke_request::Target, IssueRequest, RefreshRequest, RevokeRequest, VerifyRequest,
    },
    status::Failure,
    TokenServiceClient,
};
use tonic::{
    metadata::{Ascii, MetadataValue},
    service::{interceptor::InterceptedService, Interceptor},
    transport::{Channel, Endpoint},
    Request, Status,
};
use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};

use crate::{procfs::Watched, report::ScenarioResult};

/// What a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Scenario {
    /// `grpc.health.v1.Health/Check`: the empty RPC every other figure is
    /// compared with.
    Health,
    /// `Issue`: a new session per call.
    Issue,
    /// `Refresh`: one chain of rotations per worker.
    Refresh,
    /// `Verify` over a pool of distinct tokens.
    Verify,
    /// `Verify` of one token, over and over, as a service sees per user.
    VerifyRepeated,
    /// `Revoke` by refresh token, a session per call.
    Revoke,
    /// A service's day, for soaks: per session an Issue, eight Verify
    /// calls, two Refresh calls and a Revoke.
    Mixed,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Health => "health (empty RPC)",
            Scenario::Issue => "Issue",
            Scenario::Refresh => "Refresh",
            Scenario::Verify => "Verify, distinct tokens",
            Scenario::VerifyRepeated => "Verify, one token",
            Scenario::Revoke => "Revoke",
            Scenario::Mixed => "mixed",
        }
    }
}

/// How each scenario runs.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) concurrency: usize,
    pub(crate) duration: Duration,
    pub(crate) verify_pool: usize,
    pub(crate) revoke_pool: usize,
    pub(crate) progress: bool,
    pub(crate) memory_every: Option<Duration>,
}

type Tokens = TokenServiceClient<InterceptedService<Channel, ApiKey>>;

/// gRPC clients over `connections` HTTP/2 connections.
pub(crate) struct Clients {
    tokens: Vec<Tokens>,
    health: Vec<HealthClient<Channel>>,
}

impl Clients {
    /// Opens `connections` connections to `target`.
    pub(crate) async fn connect(
        target: &str,
        connections: usize,
        api_key: Option<String>,
        wait: Duration,
    ) -> Result<Self, String> {
        let give_up = Instant::now() + wait;
        let endpoint = Endpoint::from_shared(target.to_owned())
            .map_err(|e| e.to_string())?
            .tcp_nodelay(true);
        let key = match api_key {
            Some(k) => Some(
                k.parse::<MetadataValue<Ascii>>()
                    .map_err(|_| "the API key is not valid ASCII metadata".to_owned())?,
            ),
            None => None,
        };
        let mut clients = Self {
            tokens: Vec::new(),
            health: Vec::new(),
        };
        for _ in 0..connections {
            let channel = loop {
                match endpoint.connect().await {
                    Ok(channel) => break channel,
                    Err(_) if Instant::now() < give_up => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => return Err(source_chain(&e)),
                }
            };
            clients.tokens.push(TokenServiceClient::with_interceptor(
                channel.clone(),
                ApiKey(key.clone()),
            ));
            clients.health.push(HealthClient::new(channel));
        }
        Ok(clients)
    }

    fn tokens(&self, worker: usize) -> Tokens {
        self.tokens[worker % self.tokens.len()].clone()
    }

    fn health(&self, worker: usize) -> HealthClient<Channel> {
        self.health[worker % self.health.len()].clone()
    }
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Adds the caller's API key to every call.
#[derive(Clone)]
pub(crate) struct ApiKey(Option<MetadataValue<Ascii>>);

impl Interceptor for ApiKey {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(key) = &self.0 {
            request.metadata_mut().insert("x-api-key", key.clone());
        }
        Ok(request)
    }
}

/// What one worker does on each call.
enum Work {
    Health,
    Issue { next: u64 },
    Refresh { token: String },
    Verify { pool: Arc<Vec<String>>, next: usize },
    Revoke { queue: Arc<Mutex<Vec<String>>> },
    Mixed { next: u64 },
}

/// One worker's record of the calls it made.
struct Recorder {
    latency_us: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    calls: Arc<AtomicU64>,
}

impl Recorder {
    fn new(calls: Arc<AtomicU64>) -> Self {
        Self {
            // 1 µs to 60 s at 3 significant digits.
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            errors: BTreeMap::new(),
            calls,
        }
    }

    async fn call<T>(&mut self, call: impl Future<Output = Result<T, Status>>) -> Option<T> {
        let started = Instant::now();
        let result = call.await;
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.latency_us.saturating_record(micros.max(1));
        self.calls.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(v) => Some(v),
            Err(status) => {
                *self.errors.entry(reason(&status)).or_default() += 1;
                None
            }
        }
    }
}

/// An inkan failure's reason, or the gRPC code of any other failure.
fn reason(status: &Status) -> String {
    Failure::of(status)
        .and_then(|f| f.reason)
        .map(|r| r.as_str().to_owned())
        .unwrap_or_else(|| format!("{:?}: {}", status.code(), status.message()))
}

fn issue_request(worker: usize, n: u64) -> IssueRequest {
    IssueRequest {
        subject: format!("bench-{worker}-{n}"),
        audience: vec!["inkan-bench-api".into()],
        scopes: vec!["read".into()],
        client_id: "inkan-bench".into(),
        device: "load generator".into(),
        ..Default::default()
    }
}

/// Issues `count` sessions spread over the workers' connections, outside
/// any measured window.
async fn prepare_sessions(
    clients: &Clients,
    count: usize,
    concurrency: usize,
    tag: &str,
) -> Result<Vec<(String, String)>, String> {
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let mut client = clients.tokens(worker);
        let share = count / concurrency + usize::from(worker < count % concurrency);
        let tag = tag.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut pairs = Vec::with_capacity(share);
            for n in 0..share {
                let mut request = issue_request(worker, n as u64);
                request.subject = format!("bench-{tag}-{worker}-{n}");
                let pair = client
                    .issue(request)
                    .await
                    .map_err(|s| {
                        format!(
                            "preparing sessions: Issue failed: {} ({})",
                            reason(&s),
                            s.message()
                        )
                    })?
                    .into_inner();
                pairs.push((pair.access_token, pair.refresh_token));
            }
            Ok::<_, String>(pairs)
        }));
    }
    let mut all = Vec::with_capacity(count);
    for task in tasks {
        all.extend(task.await.map_err(|e| e.to_string())??);
    }
    Ok(all)
}

/// Prepares `scenario`, runs it for the plan's duration and measures it.
pub(crate) async fn run(
    scenario: Scenario,
    plan: &Plan,
    clients: &Clients,
    watched: &Watched,
) -> Result<ScenarioResult, String> {
    let works: Vec<Work> = match scenario {
        Scenario::Health => (0..plan.concurrency).map(|_| Work::Health).collect(),
        Scenario::Issue => (0..plan.concurrency)
            .map(|_| Work::Issue { next: 0 })
            .collect(),
        Scenario::Refresh => {
            prepare_sessions(clients, plan.concurrency, plan.concurrency, "refresh")
                .await?
                .into_iter()
                .map(|(_, refresh)| Work::Refresh { token: refresh })
                .collect()
        }
        Scenario::Verify | Scenario::VerifyRepeated => {
            let size = if scenario == Scenario::Verify {
                plan.verify_pool.max(1)
            } else {
                1
            };
            let pool: Vec<String> = prepare_sessions(clients, size, plan.concurrency, "verify")
                .await?
                .into_iter()
                .map(|(access, _)| access)
                .collect();
            let pool = Arc::new(pool);
            (0..plan.concurrency)
                .map(|w| Work::Verify {
                    pool: pool.clone(),
                    next: w * pool.len() / plan.concurrency,
                })
                .collect()
        }
        Scenario::Mixed => (0..plan.concurrency)
            .map(|_| Work::Mixed { next: 0 })
            .collect(),
        Scenario::Revoke => {
            let queue: Vec<String> =
                prepare_sessions(clients, plan.revoke_pool, plan.concurrency, "revoke")
                    .await?
                    .into_iter()
                    .map(|(_, refresh)| refresh)
                    .collect();
            let queue = Arc::new(Mutex::new(queue));
            (0..plan.concurrency)
                .map(|_| Work::Revoke {
                    queue: queue.clone(),
                })
                .collect()
        }
    };

    let calls = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let progress = plan.progress.then(|| {
        tokio::spawn(show_progress(
            scenario.name(),
            plan.duration,
            calls.clone(),
            done.clone(),
        ))
    });

    let memory = plan
        .memory_every
        .map(|every| tokio::spawn(sample_memory(watched.clone(), every, done.clone())));
    let cpu_before = watched.sample();
    let started = Instant::now();
    let deadline = started + plan.duration;
    let mut tasks = Vec::new();
    for (worker, work) in works.into_iter().enumerate() {
        let tokens = clients.tokens(worker);
        let health = clients.health(worker);
        let recorder = Recorder::new(calls.clone());
        tasks.push(tokio::spawn(drive(
            worker, work, tokens, health, recorder, deadline,
        )));
    }
    let mut recorders = Vec::new();
    for task in tasks {
        recorders.push(task.await.map_err(|e| e.to_string())?);
    }
    let elapsed = started.elapsed();
    let cpu = watched.spent(cpu_before, watched.sample());
    done.store(true, Ordering::Relaxed);
    if let Some(progress) = progress {
        let _ = progress.await;
    }
    let memory_samples = match memory {
        Some(task) => task.await.map_err(|e| e.to_string())?,
        None => Vec::new(),
    };

    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    let mut errors = BTreeMap::new();
    for r in recorders {
        latency.add(&r.latency_us).map_err(|e| e.to_string())?;
        for (reason, n) in r.errors {
            *errors.entry(reason).or_default() += n;
        }
    }
    Ok(ScenarioResult::new(
        scenario.name(),
        &latency,
        elapsed,
        errors,
        cpu,
        watched.server_memory(),
        memory_samples,
    ))
}

async fn drive(
    worker: usize,
    mut work: Work,
    mut tokens: Tokens,
    mut health: HealthClient<Channel>,
    mut rec: Recorder,
    deadline: Instant,
) -> Recorder {
    while Instant::now() < deadline {
        match &mut work {
            Work::Health => {
                rec.call(health.check(HealthCheckRequest {
                    service: String::new(),
                }))
                .await;
            }
            Work::Issue { next } => {
                *next += 1;
                rec.call(tokens.issue(issue_request(worker, *next))).await;
            }
            Work::Refresh { token } => {
                let request = RefreshRequest {
                    refresh_token: token.clone(),
                };
                match rec.call(tokens.refresh(request)).await {
                    Some(pair) => *token = pair.into_inner().refresh_token,
                    // The chain is broken; the failure is counted, and
                    // carrying on would only repeat it.
                    None => break,
                }
            }
            Work::Verify { pool, next } => {
                let request = VerifyRequest {
                    access_token: pool[*next % pool.len()].clone(),
                    ..Default::default()
                };
                *next += 1;
                rec.call(tokens.verify(request)).await;
            }
            Work::Revoke { queue } => {
                let Some(refresh) = queue.lock().expect("queue lock").pop() else {
                    break;
                };
                rec.call(tokens.revoke(RevokeRequest {
                    target: Some(Target::RefreshToken(refresh)),
                    reason: "load test".into(),
                }))
                .await;
            }
            Work::Mixed { next } => {
                *next += 1;
                let Some(pair) = rec.call(tokens.issue(issue_request(worker, *next))).await else {
                    continue;
                };
                let mut pair = pair.into_inner();
                for _ in 0..8 {
                    let request = VerifyRequest {
                        access_token: pair.access_token.clone(),
                        ..Default::default()
                    };
                    rec.call(tokens.verify(request)).await;
                }
                for _ in 0..2 {
                    let request = RefreshRequest {
                        refresh_token: pair.refresh_token.clone(),
                    };
                    match rec.call(tokens.refresh(request)).await {
                        Some(p) => pair = p.into_inner(),
                        None => break,
                    }
                }
                rec.call(tokens.revoke(RevokeRequest {
                    target: Some(Target::RefreshToken(pair.refresh_token)),
                    reason: "load test".into(),
                }))
                .await;
            }
        }
    }
    rec
}

/// Issues `count` sessions as fast as `concurrency` calls in flight allow,
/// before anything is measured: a ledger of that size for the scenarios.
pub(crate) async fn fill(
    clients: &Clients,
    count: u64,
    concurrency: usize,
    progress: bool,
) -> Result<(), String> {
    let made = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let mut client = clients.tokens(worker);
        let made = made.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let n = made.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return Ok::<_, String>(());
                }
                let mut request = issue_request(worker, n);
                request.subject = format!("bench-fill-{n}");
                client.issue(request).await.map_err(|s| {
                    format!(
                        "filling the ledger: Issue failed: {} ({})",
                        reason(&s),
                        s.message()
                    )
                })?;
                if progress && n.is_multiple_of(10_000) && n > 0 {
                    let secs = started.elapsed().as_secs_f64();
                    eprint!(
                        "\rfilling the ledger: {n} of {count} sessions, {:.0}/s   ",
                        n as f64 / secs
                    );
                }
            }
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    if progress && count >= 10_000 {
        eprintln!();
    }
    Ok(())
}

/// The server's resident memory every `every`, in KiB, with the seconds
/// since the scenario started.
async fn sample_memory(
    watched: Watched,
    every: Duration,
    done: Arc<AtomicBool>,
) -> Vec<(f64, u64)> {
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(every);
    while !done.load(Ordering::Relaxed) {
        tick.tick().await;
        if let Some(m) = watched.server_memory() {
            samples.push((started.elapsed().as_secs_f64(), m.current_kib));
        }
    }
    samples
}

async fn show_progress(
    name: &str,
    duration: Duration,
    calls: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        if done.load(Ordering::Relaxed) {
            break;
        }
        let n = calls.load(Ordering::Relaxed);
        let secs = started.elapsed().as_secs_f64();
        eprint!(
            "\r{name}: {secs:>4.0} s of {:.0} s, {n} calls, {:.0}/s   ",
            duration.as_secs_f64(),
            n as f64 / secs.max(0.001)
        );
    }
    eprintln!();
}
