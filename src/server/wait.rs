//! A replica whose database is absent at start waits for it instead of
//! exiting.
//!
//! Exiting would hand the wait to Kubernetes, whose restart back-off grows
//! to minutes: the database comes back and the replica stays down. So
//! `serve` binds its ports, reports itself alive (`liveness` SERVING) but
//! not ready (`""` NOT_SERVING), answers every token-service call
//! `UNAVAILABLE` (`STORAGE_UNAVAILABLE`, action `retry`), and retries the
//! ledger's part of start-up (migrating when configured, the schema check,
//! loading the revocations) with a capped, jittered back-off. Verify waits
//! too: until the revocations are loaded it cannot know whether a token's
//! session was revoked, and a token that might be revoked is never
//! accepted.

use std::{
    future::Future,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use tonic::{Request, Status};
use tracing::{info, warn};

use super::{
    error_chain,
    prepare::{settle_ledger, LedgerNotReady},
    Running, StartupError, Supervisor, TaskEnded,
};
use crate::{
    authority::Authority, grpc::failure, ledger::LedgerError, reason::Reason,
    revocations::RevocationFeed,
};

/// The first pause between attempts; each doubles it up to [`MOST`].
const FIRST: Duration = Duration::from_millis(250);
/// The longest pause between attempts: a database that comes back is
/// used within about this long.
const MOST: Duration = Duration::from_secs(5);

/// Whether the token service may serve yet; shared by the gate in front of
/// it and the task that opens it.
#[derive(Debug, Clone)]
pub(super) struct Gate(Arc<AtomicBool>);

impl Gate {
    /// A gate, open or not.
    pub(super) fn new(open: bool) -> Self {
        Self(Arc::new(AtomicBool::new(open)))
    }

    /// Lets calls through from now on.
    pub(super) fn open(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether calls go through.
    pub(super) fn is_open(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// A tonic interceptor that answers every call `STORAGE_UNAVAILABLE`
    /// (action `retry`) while the gate is closed. Cheap when open: one
    /// atomic load.
    pub(super) fn interceptor(
        &self,
    ) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone + Send + Sync + 'static
    {
        let gate = self.clone();
        move |request| {
            if gate.is_open() {
                Ok(request)
            } else {
                Err(failure(
                    Reason::StorageUnavailable,
                    "inkan is waiting for its database and is not serving yet; retry shortly"
                        .to_owned(),
                ))
            }
        }
    }
}

impl Running {
    /// Waits for the ledger's part of start-up to pass, while the servers run with the gate closed. `Err` with what stops
    /// the server instead: shutdown asked for (`Ok(())`), a task that
    /// ended, or a ledger that waiting cannot fix (a schema this build
    /// cannot serve), reported as the task that waited.
    pub(super) async fn settle(
        &self,
        not_ready: LedgerNotReady,
        tasks: &mut Supervisor,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
    ) -> Result<(), Result<(), TaskEnded>> {
        let settling = until_settled(
            &self.authority,
            &self.revocations,
            self.migrate_on_start,
            not_ready,
        );
        tokio::select! {
            settled = settling => settled.map_err(|err| Err(TaskEnded {
                task: "ledger start-up",
                how: format!("failed: {err}"),
            })),
            outcome = tasks.watch(shutdown) => Err(outcome),
        }
    }
}

/// Runs the ledger's part of start-up until it passes, pausing between
/// attempts; each failure is logged once, at warn, with its cause (the
/// driver's words and what a TCP connection met; never the URL). Ends
/// with an error only when waiting cannot help (a schema this build
/// cannot serve, ...).
pub(super) async fn until_settled(
    authority: &Authority,
    revocations: &RevocationFeed,
    migrate: bool,
    mut failure: LedgerNotReady,
) -> Result<(), StartupError> {
    let mut pause = FIRST;
    for attempt in 1u32.. {
        if !failure.may_pass() {
            return Err(failure.into_startup());
        }
        let network = match &failure {
            LedgerNotReady::Ledger(_) => authority.ledger().network_failure().await,
            LedgerNotReady::Schema(_) => None,
        };
        warn!(
            attempt,
            cause = %cause(&failure),
            network = network.as_deref().unwrap_or(""),
            retry_in = ?pause,
            "the ledger is not ready; not serving yet, trying again"
        );
        tokio::time::sleep(jittered(pause)).await;
        pause = (pause * 2).min(MOST);
        match settle_ledger(authority, revocations, migrate).await {
            Ok(_) => {
                info!(attempts = attempt + 1, "the ledger is ready");
                return Ok(());
            }
            Err(next) => failure = next,
        }
    }
    unreachable!("the attempts never run out")
}

/// The cause of `failure`, in one line, for the log.
fn cause(failure: &LedgerNotReady) -> String {
    match failure {
        LedgerNotReady::Ledger(err) => error_chain(err as &LedgerError),
        LedgerNotReady::Schema(schema) => schema.to_string(),
    }
}

/// `pause`, give or take a quarter, so replicas that lost the database
/// together do not all come back at the same instant.
fn jittered(pause: Duration) -> Duration {
    let quarter = pause / 4;
    let spread = u64::try_from(quarter.as_millis()).unwrap_or(0) * 2;
    let offset = if spread == 0 {
        0
    } else {
        rand::random::<u64>() % spread
    };
    pause - quarter + Duration::from_millis(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_stay_within_a_quarter_of_the_nominal_one() {
        for _ in 0..100 {
            let pause = jittered(MOST);
            assert!(pause >= MOST * 3 / 4 && pause <= MOST * 5 / 4, "{pause:?}");
        }
    }

    #[test]
    fn a_closed_gate_answers_retry_and_an_open_one_lets_calls_through() {
        let gate = Gate::new(false);
        let mut intercept = gate.interceptor();
        let refused = intercept(Request::new(())).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unavailable);
        let failure = inkan_proto::Failure::of(&refused).unwrap();
        assert_eq!(failure.reason, Some(Reason::StorageUnavailable));
        assert_eq!(failure.action, Some(crate::reason::Action::Retry));
        gate.open();
        assert!(intercept(Request::new(())).is_ok());
    }
}
