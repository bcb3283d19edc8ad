//! Tokens signed with a placeholder secret: each is refused (as
//! `SIGNATURE_INVALID`, by the verification itself), counted, and logged
//! as a security event, within bounds an anonymous caller cannot push:
//!
//! - The counter (`inkan_placeholder_signed_tokens_total`) counts every
//!   one, exactly.
//! - A token id is logged at most once. The "once" is kept for a bounded
//!   number of ids ([`REMEMBERED`]): past that, the oldest are forgotten.
//! - Per placeholder, at most [`LINES_PER_WINDOW`] tokens (each with a new
//!   id) are logged one by one per [`WINDOW`]; the others of that window
//!   are summed up in one line when it ends ("N more, not logged one by
//!   one"). So however many forged tokens arrive, and whatever ids they
//!   carry, a placeholder writes at most `LINES_PER_WINDOW + 1` lines per
//!   window, and there are as many windows as placeholders (a fixed list):
//!   the log, and the flush every warning forces (see `crate::telemetry`),
//!   stay bounded, and so does memory (the remembered ids and one small
//!   window per placeholder).
//!
//! The summary is written by a timer when the window ends (inside a Tokio
//! runtime, which every RPC runs in), or else by the next such token of
//! that placeholder.

use std::{
    collections::{HashSet, VecDeque},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use inkan_core::token::PLACEHOLDER_SECRETS;
use tokio::time::Instant;
use tracing::warn;

use super::Authority;
use crate::metrics::Metrics;

/// How many token ids are remembered as already logged.
const REMEMBERED: usize = 4096;

/// How long one placeholder's window of individually logged tokens lasts.
const WINDOW: Duration = Duration::from_secs(60);

/// How many tokens a placeholder logs one by one in a window.
const LINES_PER_WINDOW: u32 = 5;

/// What `Authority` holds (under its former name).
pub(super) type SeenOnce = PlaceholderLog;

/// Locks `mutex`; a panic elsewhere while it was held loses at most a
/// count, so the data is used as it is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The ids of placeholder-signed tokens already logged, oldest first.
#[derive(Default)]
struct SeenIds {
    inner: Mutex<(HashSet<String>, VecDeque<String>)>,
}

impl SeenIds {
    /// Whether `id` is new (and now remembered).
    fn first_time(&self, id: &str) -> bool {
        let mut guard = lock(&self.inner);
        let (set, order) = &mut *guard;
        if set.contains(id) {
            return false;
        }
        if order.len() >= REMEMBERED {
            if let Some(oldest) = order.pop_front() {
                set.remove(&oldest);
            }
        }
        set.insert(id.to_owned());
        order.push_back(id.to_owned());
        true
    }

    fn len(&self) -> usize {
        lock(&self.inner).0.len()
    }
}

/// One placeholder's current window.
#[derive(Debug, Default, Clone, Copy)]
struct Window {
    /// When its first token arrived; `None` between windows.
    started: Option<Instant>,
    /// Tokens logged one by one in it.
    logged: u32,
    /// Tokens with a new id it did not log one by one.
    suppressed: u64,
}

/// A window that ended with tokens it did not log.
struct Ended {
    suppressed: u64,
    lasted: Duration,
}

impl Window {
    /// Ends the window if it has lasted [`WINDOW`] at `now`; what it did
    /// not log, if anything.
    fn end_if_over(&mut self, now: Instant) -> Option<Ended> {
        let started = self.started?;
        let lasted = now.saturating_duration_since(started);
        if lasted < WINDOW {
            return None;
        }
        let suppressed = self.suppressed;
        *self = Self::default();
        (suppressed > 0).then_some(Ended { suppressed, lasted })
    }
}

/// The security log of placeholder-signed tokens, bounded; see the
/// module's documentation.
pub(super) struct PlaceholderLog {
    seen: SeenIds,
    /// One window per entry of [`PLACEHOLDER_SECRETS`], and a last one for
    /// any other name (there is none today).
    windows: Arc<Mutex<Vec<Window>>>,
}

impl Default for PlaceholderLog {
    fn default() -> Self {
        Self {
            seen: SeenIds::default(),
            windows: Arc::new(Mutex::new(vec![
                Window::default();
                PLACEHOLDER_SECRETS.len() + 1
            ])),
        }
    }
}

impl std::fmt::Debug for PlaceholderLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Counts only: no token id.
        f.debug_struct("PlaceholderLog")
            .field("remembered_ids", &self.seen.len())
            .finish_non_exhaustive()
    }
}

/// The window slot of `placeholder`.
fn slot_of(placeholder: &str) -> usize {
    PLACEHOLDER_SECRETS
        .iter()
        .position(|p| *p == placeholder)
        .unwrap_or(PLACEHOLDER_SECRETS.len())
}

/// The placeholder a slot stands for, as the lines name it.
fn name_of(slot: usize) -> &'static str {
    PLACEHOLDER_SECRETS.get(slot).copied().unwrap_or("(other)")
}

/// Logs the tokens a window of `placeholder` did not log one by one.
fn log_ended(placeholder: &str, ended: &Ended) {
    warn!(
        security_event = true,
        placeholder,
        suppressed = ended.suppressed,
        window_secs = ended.lasted.as_secs(),
        "refused more tokens signed with a placeholder secret than are logged one by one; \
         they are counted in inkan_placeholder_signed_tokens_total"
    );
}

impl PlaceholderLog {
    /// Counts a token signed with `placeholder`, presented to `rpc`, and
    /// logs it (or sums it up) as a security event the first time its id
    /// is seen.
    pub(super) fn record(
        &self,
        metrics: &Metrics,
        rpc: &'static str,
        placeholder: &str,
        token_id: &str,
    ) {
        metrics.keys().placeholder_signed(placeholder);
        if !self.seen.first_time(token_id) {
            return;
        }
        let now = Instant::now();
        let slot = slot_of(placeholder);
        let (ended, log_this, end_at) = {
            let mut windows = lock(&self.windows);
            let window = &mut windows[slot];
            let ended = window.end_if_over(now);
            let started = *window.started.get_or_insert(now);
            if window.logged < LINES_PER_WINDOW {
                window.logged += 1;
                (ended, true, None)
            } else {
                window.suppressed += 1;
                // The first token left out arms the window's summary.
                let end_at = (window.suppressed == 1).then(|| started + WINDOW);
                (ended, false, end_at)
            }
        };
        // Lines are written outside the lock.
        if let Some(ended) = ended {
            log_ended(name_of(slot), &ended);
        }
        if log_this {
            warn!(
                security_event = true,
                rpc,
                placeholder,
                token_id,
                "refused a token signed with a placeholder secret: forged, or issued while a \
                 secret was unset; find the service that signs with it"
            );
        }
        if let Some(at) = end_at {
            self.end_window_at(slot, at);
        }
    }

    /// Ends the window in `slot` at `at`, if a Tokio runtime is there to
    /// wait for it (otherwise the next token of that placeholder ends it).
    fn end_window_at(&self, slot: usize, at: Instant) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let windows = Arc::clone(&self.windows);
        runtime.spawn(async move {
            tokio::time::sleep_until(at).await;
            // A token that arrived since may have ended this window and
            // begun another: that one is not over, and is left alone.
            let ended = lock(&windows)[slot].end_if_over(Instant::now());
            if let Some(ended) = ended {
                log_ended(name_of(slot), &ended);
            }
        });
    }
}

impl Authority {
    /// Counts a token signed with `placeholder`, presented to `rpc`, and
    /// logs it as a security event the first time its id is seen, within
    /// the bounds the module's documentation gives.
    pub(super) fn placeholder_signed(&self, rpc: &'static str, placeholder: &str, token_id: &str) {
        self.placeholder_seen
            .record(&self.metrics, rpc, placeholder, token_id);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use serde_json::Value;
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[test]
    fn an_id_is_new_once_and_memory_stays_bounded() {
        let seen = SeenIds::default();
        assert!(seen.first_time("jti:a"));
        assert!(!seen.first_time("jti:a"));
        for i in 0..REMEMBERED + 10 {
            seen.first_time(&format!("jti:{i}"));
        }
        assert_eq!(seen.len(), REMEMBERED);
        // The oldest were forgotten; the newest are still known.
        assert!(seen.first_time("jti:a"));
        assert!(!seen.first_time(&format!("jti:{}", REMEMBERED + 9)));
    }

    /// Every line logged while it is the thread's subscriber, as JSON.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Self;

        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    impl Captured {
        fn install(&self) -> tracing::subscriber::DefaultGuard {
            tracing::subscriber::set_default(
                tracing_subscriber::fmt()
                    .json()
                    .flatten_event(true)
                    .with_writer(self.clone())
                    .finish(),
            )
        }

        fn events(&self) -> Vec<Value> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        }
    }

    fn counted(metrics: &Metrics, placeholder: &str) -> f64 {
        let series =
            format!("inkan_placeholder_signed_tokens_total{{placeholder=\"{placeholder}\"}} ");
        metrics
            .render()
            .lines()
            .find_map(|l| l.strip_prefix(&series)?.parse().ok())
            .unwrap_or(0.0)
    }

    /// The flood of the review: anonymous callers with a fresh jti each
    /// time. Every token is counted; the lines stay few.
    #[tokio::test(start_paused = true)]
    async fn a_flood_of_forged_tokens_is_counted_in_full_and_logged_in_few_lines() {
        let captured = Captured::default();
        let _guard = captured.install();
        let metrics = Metrics::new();
        let log = PlaceholderLog::default();
        let flood = 2_000;
        for i in 0..flood {
            log.record(&metrics, "Refresh", "ACCESS_SECRET", &format!("jti:f-{i}"));
        }
        // A second placeholder has its own window.
        for i in 0..20 {
            log.record(&metrics, "Verify", "", &format!("jti:e-{i}"));
        }
        // The same token again is counted, never logged again.
        log.record(&metrics, "Verify", "ACCESS_SECRET", "jti:f-0");
        assert_eq!(counted(&metrics, "ACCESS_SECRET"), f64::from(flood + 1));
        assert_eq!(counted(&metrics, "(empty)"), 20.0);

        let events = captured.events();
        let one_by_one = |events: &[Value], placeholder: &str| -> Vec<String> {
            events
                .iter()
                .filter(|e| e["placeholder"] == placeholder && e["token_id"].is_string())
                .map(|e| e["token_id"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            one_by_one(&events, "ACCESS_SECRET"),
            (0..LINES_PER_WINDOW)
                .map(|i| format!("jti:f-{i}"))
                .collect::<Vec<_>>(),
            "the first tokens are logged at once, with their ids"
        );
        assert_eq!(
            events.len(),
            2 * LINES_PER_WINDOW as usize,
            "{} lines for {flood} tokens",
            events.len()
        );
        assert!(events.iter().all(|e| e["security_event"] == true));

        // When the window ends, one line sums up what it left out.
        tokio::time::sleep(WINDOW + Duration::from_secs(1)).await;
        let events = captured.events();
        let summaries: Vec<&Value> = events.iter().filter(|e| e["suppressed"].is_u64()).collect();
        assert_eq!(summaries.len(), 2, "{summaries:?}");
        let of = |placeholder: &str| {
            summaries
                .iter()
                .find(|e| e["placeholder"] == placeholder)
                .map(|e| e["suppressed"].as_u64().unwrap())
        };
        assert_eq!(
            of("ACCESS_SECRET"),
            Some(u64::from(flood - LINES_PER_WINDOW))
        );
        assert_eq!(of(""), Some(u64::from(20 - LINES_PER_WINDOW)));

        // The next window logs its first tokens again, and no more.
        for i in 0..flood {
            log.record(&metrics, "Verify", "ACCESS_SECRET", &format!("jti:g-{i}"));
        }
        let events = captured.events();
        assert_eq!(
            one_by_one(&events, "ACCESS_SECRET").len(),
            2 * LINES_PER_WINDOW as usize
        );
        assert_eq!(events.len(), 3 * LINES_PER_WINDOW as usize + 2);
        assert_eq!(counted(&metrics, "ACCESS_SECRET"), f64::from(2 * flood + 1));
    }

    /// Without a runtime to wait on, the next token of that placeholder
    /// ends the window, and the summary comes first.
    #[test]
    fn without_a_runtime_the_next_token_writes_the_summary() {
        let captured = Captured::default();
        let _guard = captured.install();
        let metrics = Metrics::new();
        let log = PlaceholderLog::default();
        for i in 0..LINES_PER_WINDOW + 3 {
            log.record(&metrics, "Verify", "secret", &format!("jti:{i}"));
        }
        assert_eq!(captured.events().len(), LINES_PER_WINDOW as usize);
        // Age the window rather than wait a minute.
        {
            let mut windows = lock(&log.windows);
            let window = &mut windows[slot_of("secret")];
            window.started = Some(Instant::now() - WINDOW);
        }
        log.record(&metrics, "Verify", "secret", "jti:late");
        let events = captured.events();
        assert_eq!(events.len(), LINES_PER_WINDOW as usize + 2);
        let summary = &events[LINES_PER_WINDOW as usize];
        assert_eq!(summary["suppressed"], 3);
        assert_eq!(summary["placeholder"], "secret");
        assert_eq!(events.last().unwrap()["token_id"], "jti:late");
    }
}
