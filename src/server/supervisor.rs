//! Supervising the server's tasks. A replica whose gRPC server died, or
//! whose revocation feed stopped, must not go on looking healthy: it would
//! answer Verify from a revocation set that no longer changes. Every task
//! the server runs is spawned here under a name; the first one to end
//! before shutdown was asked for ends the whole server, and its name and
//! cause are what the operator reads.

use std::{collections::HashMap, fmt, future::Future, time::Duration};

use tokio::task::{Id, JoinError, JoinSet};

/// What a supervised task returns: `Err` carries its cause, for the log.
pub type TaskResult = Result<(), String>;

/// A task ended while the server was meant to be running.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {task} task {how}")]
pub struct TaskEnded {
    /// The task's name.
    pub task: &'static str,
    /// How it ended: returned, failed with a cause, or panicked.
    pub how: String,
}

/// A set of named tasks, watched together.
#[derive(Default)]
pub struct Supervisor {
    tasks: JoinSet<TaskResult>,
    names: HashMap<Id, &'static str>,
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("tasks", &self.names.values().collect::<Vec<_>>())
            .finish()
    }
}

impl Supervisor {
    /// No tasks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `task` under `name`.
    pub fn spawn(
        &mut self,
        name: &'static str,
        task: impl Future<Output = TaskResult> + Send + 'static,
    ) {
        let handle = self.tasks.spawn(task);
        self.names.insert(handle.id(), name);
    }

    /// Waits until `shutdown` resolves (`Ok`) or any task ends first
    /// (`Err`, naming it). With no tasks, waits for `shutdown` alone.
    pub async fn watch(&mut self, shutdown: impl Future<Output = ()>) -> Result<(), TaskEnded> {
        tokio::pin!(shutdown);
        if self.tasks.is_empty() {
            shutdown.await;
            return Ok(());
        }
        tokio::select! {
            _ = &mut shutdown => Ok(()),
            Some(ended) = self.tasks.join_next_with_id() => Err(self.ended(ended)),
        }
    }

    /// After the tasks were told to stop: waits for all of them, at most
    /// `deadline`. Returns the tasks that failed or panicked while
    /// stopping, and whether every task ended in time.
    pub async fn drain(mut self, deadline: Duration) -> (Vec<TaskEnded>, bool) {
        let mut failed = Vec::new();
        let all = async {
            while let Some(ended) = self.tasks.join_next_with_id().await {
                if !matches!(ended, Ok((_, Ok(())))) {
                    failed.push(self.ended(ended));
                }
            }
        };
        let in_time = tokio::time::timeout(deadline, all).await.is_ok();
        (failed, in_time)
    }

    fn ended(&mut self, ended: Result<(Id, TaskResult), JoinError>) -> TaskEnded {
        let (id, how) = match ended {
            Ok((id, Ok(()))) => (id, "stopped although nothing asked it to".to_owned()),
            Ok((id, Err(cause))) => (id, format!("failed: {cause}")),
            Err(err) => (err.id(), join_failure(err)),
        };
        TaskEnded {
            task: self.names.remove(&id).unwrap_or("unnamed"),
            how,
        }
    }
}

fn join_failure(err: JoinError) -> String {
    if err.is_cancelled() {
        return "was cancelled".into();
    }
    let payload = err.into_panic();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text payload".into());
    format!("panicked: {message}")
}

/// An error and its sources, as one line: what a driver or the OS said
/// is often only in the sources.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use std::future::pending;

    use super::*;

    #[tokio::test]
    async fn a_panicking_task_ends_the_watch_with_its_name_and_message() {
        let mut tasks = Supervisor::new();
        tasks.spawn("steady", async { pending().await });
        tasks.spawn("revocation sync", async { panic!("boom") });
        let ended = tasks.watch(pending()).await.unwrap_err();
        assert_eq!(ended.task, "revocation sync");
        assert_eq!(ended.how, "panicked: boom");
        assert_eq!(ended.to_string(), "the revocation sync task panicked: boom");
    }

    #[tokio::test]
    async fn a_task_that_fails_or_returns_early_is_reported() {
        let mut tasks = Supervisor::new();
        tasks.spawn("gRPC server", async { Err("address in use".to_owned()) });
        let ended = tasks.watch(pending()).await.unwrap_err();
        assert_eq!(
            ended.to_string(),
            "the gRPC server task failed: address in use"
        );

        let mut tasks = Supervisor::new();
        tasks.spawn("purge", async { Ok(()) });
        let ended = tasks.watch(pending()).await.unwrap_err();
        assert_eq!(ended.task, "purge");
        assert!(ended.how.contains("stopped"), "{}", ended.how);
    }

    #[tokio::test]
    async fn shutdown_wins_and_drain_waits_for_every_task() {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks = Supervisor::new();
        for name in ["a", "b"] {
            let mut stop = stop_rx.clone();
            tasks.spawn(name, async move {
                let _ = stop.wait_for(|s| *s).await;
                Ok(())
            });
        }
        tasks.watch(async {}).await.unwrap();
        stop_tx.send(true).unwrap();
        let (failed, in_time) = tasks.drain(Duration::from_secs(5)).await;
        assert!(failed.is_empty() && in_time);
    }

    #[tokio::test(start_paused = true)]
    async fn drain_gives_up_at_the_deadline() {
        let mut tasks = Supervisor::new();
        tasks.spawn("stuck", async { pending().await });
        let (_, in_time) = tasks.drain(Duration::from_secs(20)).await;
        assert!(!in_time);
    }

    #[test]
    fn the_chain_names_the_underlying_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        #[derive(Debug, thiserror::Error)]
        #[error("ledger database error")]
        struct Outer(#[source] std::io::Error);
        assert_eq!(
            error_chain(&Outer(io)),
            "ledger database error: connection refused"
        );
    }
}
