//! The one place every RPC is counted, timed and logged: one INFO line per
//! call with its method, outcome, caller, latency and, when the call knows
//! them, the subject and session. Never a token, key or secret: only what
//! the handlers put in a [`Call`], and they put in nothing else.

use std::time::Instant;

use tracing::info;

use crate::{
    callers::Caller,
    metrics::{Method, Metrics, Outcome},
};

/// What one call learned about itself on its way through the handler.
#[derive(Debug)]
pub(super) struct Call {
    method: Method,
    started: Instant,
    caller: Option<String>,
    subject: Option<String>,
    session_id: Option<String>,
}

impl Call {
    /// A call to `method`, starting now.
    pub(super) fn start(method: Method) -> Self {
        Self {
            method,
            started: Instant::now(),
            caller: None,
            subject: None,
            session_id: None,
        }
    }

    /// Names the caller in the log line.
    pub(super) fn caller(&mut self, caller: &Caller) {
        self.caller = Some(caller.name().to_owned());
    }

    /// Names the subject the call was about.
    pub(super) fn subject(&mut self, subject: impl ToString) {
        self.subject = Some(subject.to_string());
    }

    /// Names the session the call was about.
    pub(super) fn session(&mut self, session: impl ToString) {
        self.session_id = Some(session.to_string());
    }

    /// Counts, times and logs the call, by how it ended.
    pub(super) fn finish(self, metrics: &Metrics, outcome: Outcome) {
        let took = self.started.elapsed();
        let outcome = outcome.label();
        metrics.rpc().answered(self.method, outcome, took);
        info!(
            method = self.method.as_str(),
            outcome,
            // A call refused before its key was checked has no caller yet.
            caller = self.caller.as_deref().unwrap_or("anonymous"),
            latency_ms = took.as_secs_f64() * 1000.0,
            subject = self.subject.as_deref(),
            session_id = self.session_id.as_deref(),
            "call answered"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reason::Reason;

    #[test]
    fn a_call_is_counted_by_method_and_outcome() {
        let metrics = Metrics::new();
        Call::start(Method::Verify).finish(&metrics, Outcome::Ok);
        Call::start(Method::Verify).finish(&metrics, Outcome::Refused(Reason::TokenExpired));
        Call::start(Method::Issue).finish(&metrics, Outcome::Fault);
        let text = metrics.render();
        for line in [
            r#"inkan_rpc_calls_total{method="Verify",outcome="ok"} 1"#,
            r#"inkan_rpc_calls_total{method="Verify",outcome="TOKEN_EXPIRED"} 1"#,
            r#"inkan_rpc_calls_total{method="Issue",outcome="INTERNAL"} 1"#,
            r#"inkan_rpc_duration_seconds_count{method="Verify"} 2"#,
        ] {
            assert!(text.contains(line), "missing {line}");
        }
    }
}
