//! The `inkan` binary as its own process: a command run to its end, or
//! `inkan serve` started from a production-shaped config and read from
//! its log.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::{Arc, Mutex},
};

use inkan::{
    keys::{KeyAlgorithm, KeySetFile},
    proto::v1::token_service_client::TokenServiceClient,
};
use serde_json::Value;
use tonic::transport::Channel;

use super::{http_get, ISSUER};

/// Runs the built `inkan` binary in `dir` with `args`, and none of the
/// developer's `INKAN_*` variables: only what the test passes.
pub(crate) fn run_inkan(args: &[&str], dir: &Path) -> Output {
    run_inkan_with_env(args, &[], dir)
}

/// What a finished command wrote to its standard error, as text.
pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// [`run_inkan`] with the environment variables `env` set.
pub(crate) fn run_inkan_with_env(args: &[&str], env: &[(&str, &str)], dir: &Path) -> Output {
    inkan_command(args, env, dir)
        .output()
        .expect("run the inkan binary")
}

/// [`run_inkan`] with `input` on its standard input.
pub(crate) fn run_inkan_with_stdin(args: &[&str], input: &str, dir: &Path) -> Output {
    use std::io::Write;
    let mut child = inkan_command(args, &[], dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the inkan binary");
    // Written from a thread, so a child that does not read cannot block
    // the test on a full pipe.
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let output = child.wait_with_output().expect("wait for the inkan binary");
    let _ = writer.join();
    output
}

fn inkan_command(args: &[&str], env: &[(&str, &str)], dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_inkan"));
    command.args(args).current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("INKAN_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    command
}

/// Runs `inkan migrate` with `config`, as an operator does before `check`
/// or `serve` on a new ledger; panics with its output if it fails.
pub(crate) fn migrate_with(config: &str, dir: &Path) {
    let out = run_inkan(&["migrate", "--config", config], dir);
    assert!(
        out.status.success(),
        "inkan migrate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What `inkan serve` logged as it runs: one JSON event a line (a line
/// that is not JSON is kept as a string).
type Log = Arc<Mutex<Vec<Value>>>;

/// Starts `inkan serve --config <config>`, with none of the developer's
/// `INKAN_*` or `RUST_LOG` variables, and waits for its "serving" event
/// (the config must say `log_format = "json"`): the process, its gRPC, HTTP
/// and metrics addresses, and its log, kept from then on as it is written.
/// Blocks reading the log: async tests call it on a blocking thread.
fn spawn_serving(config: &Path) -> (Child, Addresses, Log) {
    spawn_until(config, "serving")
}

/// [`spawn_serving`], waiting for the event whose message is `message`
/// (which must carry the `grpc`, `http` and `metrics` addresses) instead.
fn spawn_until(config: &Path, message: &str) -> (Child, Addresses, Log) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_inkan"));
    command
        .args(["serve", "--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars() {
        if name.starts_with("INKAN_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    let mut child = command.spawn().expect("start inkan serve");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let log = Log::default();
    let addresses = loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "inkan serve stopped before serving: {:?}",
                log.lock().unwrap()
            );
        };
        let event: Value = serde_json::from_str(&line).unwrap_or(Value::String(line));
        if event["message"] == message {
            let addr = |name: &str| event[name].as_str().unwrap().parse().unwrap();
            break Addresses {
                grpc: addr("grpc"),
                http: addr("http"),
                metrics: addr("metrics"),
            };
        }
        log.lock().unwrap().push(event);
    };
    // Keep reading, so the server never blocks on a full pipe.
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let event = serde_json::from_str(&line).unwrap_or(Value::String(line));
            kept.lock().unwrap().push(event);
        }
    });
    (child, addresses, log)
}

/// The addresses a server logged it serves on.
struct Addresses {
    grpc: SocketAddr,
    http: SocketAddr,
    metrics: SocketAddr,
}

/// `inkan serve` as its own process, for a test that stops it itself
/// (SIGTERM, SIGKILL): the child and the gRPC address it logged. See
/// [`spawn_serving`].
pub(crate) fn serve_process(config: &Path) -> (Child, SocketAddr) {
    let (child, addresses, _) = spawn_serving(config);
    (child, addresses.grpc)
}

/// `inkan serve` as its own process, with every line it logs kept, and
/// killed when dropped. See [`spawn_serving`].
pub(crate) struct Served {
    pub(crate) child: Child,
    pub(crate) grpc: SocketAddr,
    pub(crate) http: SocketAddr,
    pub(crate) metrics: SocketAddr,
    log: Log,
}

impl Served {
    /// Starts serving with `config`, as [`spawn_serving`] says.
    pub(crate) fn start(config: &Path) -> Self {
        let (child, addresses, log) = spawn_serving(config);
        Self::new(child, addresses, log)
    }

    /// Starts serving with `config` and returns once the server logs that
    /// it waits for its ledger (its ports are bound, it is not ready).
    pub(crate) fn start_waiting(config: &Path) -> Self {
        let (child, addresses, log) =
            spawn_until(config, "waiting for the ledger; not ready until it answers");
        Self::new(child, addresses, log)
    }

    fn new(child: Child, addresses: Addresses, log: Log) -> Self {
        Self {
            child,
            grpc: addresses.grpc,
            http: addresses.http,
            metrics: addresses.metrics,
            log,
        }
    }

    /// A client of the process's token service.
    pub(crate) async fn client(&self) -> TokenServiceClient<Channel> {
        TokenServiceClient::new(
            Channel::from_shared(format!("http://{}", self.grpc))
                .unwrap()
                .connect()
                .await
                .unwrap(),
        )
    }

    /// The events logged so far for which `matches` holds.
    pub(crate) fn logged(&self, matches: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches(e))
            .cloned()
            .collect()
    }

    /// How many events logged so far `matches` holds for.
    pub(crate) fn count(&self, matches: impl Fn(&Value) -> bool) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches(e))
            .count()
    }

    /// The value of the metric series `series` (name and labels), if
    /// `/metrics` shows it.
    pub(crate) async fn metric(&self, series: &str) -> Option<f64> {
        let (_, _, body) = http_get(self.metrics, "/metrics").await;
        body.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a fresh EdDSA key set and a production-shaped `inkan.toml` into
/// `dir`: ledger at `database_url`, Issue open (these tests care about the
/// process, not callers), every listener on `127.0.0.1:0`, and `extra`
/// TOML lines on top. Returns the config's path.
pub(crate) fn server_config(dir: &Path, database_url: &str, extra: &str) -> PathBuf {
    let keys = dir.join("keys.json");
    KeySetFile::generate(KeyAlgorithm::EdDSA)
        .unwrap()
        .write(&keys)
        .unwrap();
    let path = dir.join("inkan.toml");
    std::fs::write(
        &path,
        format!(
            "keys_file = {keys:?}\ndatabase_url = {database_url:?}\nissuer = \"{ISSUER}\"\n\
             allow_open_issue = true\ngrpc_addr = \"127.0.0.1:0\"\nhttp_addr = \"127.0.0.1:0\"\n\
             metrics_addr = \"127.0.0.1:0\"\n{extra}\n",
            keys = keys.display().to_string()
        ),
    )
    .unwrap();
    path
}
