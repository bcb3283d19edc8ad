//! Counting and logging a gateway's token check (made through
//! [`Authority::verify`], the Verify RPC's path) the way a gRPC call is:
//! by endpoint and outcome, failures by reason, and one INFO line with the
//! endpoint, outcome, caller and, when known, the subject and session;
//! never the token.

use std::time::Instant;

use tracing::{error, info};

use crate::{
    authority::{Authority, AuthorityError},
    callers::Caller,
    metrics::{CheckEndpoint, Outcome},
    token::VerifiedAccessToken,
};

/// A check on its way through a handler.
pub(super) struct Check {
    endpoint: CheckEndpoint,
    started: Instant,
    caller: Option<String>,
}

impl Check {
    /// A check on `endpoint`, starting now.
    pub(super) fn start(endpoint: CheckEndpoint) -> Self {
        Self {
            endpoint,
            started: Instant::now(),
            caller: None,
        }
    }

    /// Names the caller in the log line.
    pub(super) fn caller(&mut self, caller: &Caller) {
        self.caller = Some(caller.name().to_owned());
    }

    /// Counts and logs the check by how it ended.
    pub(super) fn finish(self, authority: &Authority, ended: Ended<'_>) {
        let metrics = authority.metrics();
        let (outcome, verified) = match ended {
            Ended::Passed(verified) => (Outcome::Ok.label(), Some(verified)),
            Ended::NoToken => (NO_TOKEN, None),
            Ended::Refused(err) => {
                let reason = err.reason();
                match reason {
                    Some(reason) => metrics.failure(reason),
                    // Verify touches no ledger; only a fault of inkan
                    // itself has no reason. Its cause stays in the log.
                    None => error!(error = ?err, "server fault"),
                }
                (Outcome::of_failure(reason).label(), None)
            }
        };
        metrics.gateway().answered(self.endpoint, outcome);
        info!(
            endpoint = self.endpoint.as_str(),
            outcome,
            caller = self.caller.as_deref().unwrap_or("anonymous"),
            latency_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            subject = verified.map(|v| v.subject.as_str()),
            session_id = verified
                .and_then(|v| v.session_id.as_ref())
                .map(|s| s.to_string()),
            "token checked"
        );
    }
}

/// The outcome label of a forward-auth request that carried no token.
pub(super) const NO_TOKEN: &str = "no_token";

/// How a check ended.
#[derive(Debug, Clone, Copy)]
pub(super) enum Ended<'a> {
    /// The token passed every check.
    Passed(&'a VerifiedAccessToken),
    /// There was no token to check (forward-auth only).
    NoToken,
    /// The caller, the request or the token was refused, or inkan failed.
    Refused(&'a AuthorityError),
}
