//! Waiting in tests: for a condition to hold, with a bound that only keeps
//! a regression from hanging the suite; and the one wait on the server
//! that has to be real time. A test that waits for a token or session to
//! expire moves the server's clock on instead (`Options::clock`).

use std::{future::Future, sync::Mutex, time::Duration};

use super::{http_get, TestApp};

/// Polls `check` every 50 ms until it returns true; panics naming `what`
/// if it has not by `deadline`.
pub(crate) async fn eventually<F, Fut>(what: &str, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + deadline;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < end,
            "{what}: not within {deadline:?}"
        );
        // The pause between two looks: what is awaited (another task, a
        // process, the database) moves in real time.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `app`'s `/metrics` once it shows `line` (a series and its value, e.g. a
/// key-set reload counted as applied).
pub(crate) async fn metrics_showing(app: &TestApp, line: &str) -> String {
    let shown = Mutex::new(String::new());
    eventually(
        &format!("/metrics shows {line}"),
        Duration::from_secs(20),
        || async {
            let text = http_get(app.metrics_addr, "/metrics").await.2;
            let found = text.contains(line);
            *shown.lock().unwrap() = text;
            found
        },
    )
    .await;
    shown.into_inner().unwrap()
}

/// Lets the server's revocation feed poll the ledger at least twice, and
/// so apply what the log holds and forget what no longer matters by the
/// server's clock. Nothing shows that a poll ran, so this waits.
pub(crate) async fn feed_polls() {
    // Real time: the feed is a task on a real 500 ms ticker, in a
    // multi-thread runtime doing real database I/O; a paused clock would
    // fire it without the I/O, and no hook runs a poll on demand.
    tokio::time::sleep(Duration::from_millis(1200)).await;
}
