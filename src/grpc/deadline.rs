//! The time a call may spend waiting on the ledger: a little less than the
//! client's own deadline (its `grpc-timeout` header), and never more than
//! [`LEDGER_BUDGET`]. When it runs out, the call answers
//! `STORAGE_UNAVAILABLE` (action `retry`) itself, while the client is still
//! listening, instead of tonic cancelling it at the deadline with no reason
//! a client could act on.

use std::{future::Future, time::Duration};

use tonic::Request;

use crate::authority::AuthorityError;

/// The longest a call waits on the ledger when its client set no shorter
/// deadline: below a typical RPC deadline, above the ledger's own bounds on
/// one statement (so those speak first, with the driver's cause logged).
pub(super) const LEDGER_BUDGET: Duration = Duration::from_secs(5);

/// The most kept back from a client's deadline for the answer to travel.
const ANSWER_MARGIN: Duration = Duration::from_millis(100);

/// The budget for `request`: [`LEDGER_BUDGET`], or less when the client's
/// deadline comes sooner. A header that does not parse is ignored, as
/// tonic ignores it.
pub(super) fn budget<T>(request: &Request<T>) -> Duration {
    let client = request
        .metadata()
        .get("grpc-timeout")
        .and_then(|value| value.to_str().ok())
        .and_then(parse_grpc_timeout);
    match client {
        Some(deadline) => deadline
            .saturating_sub((deadline / 10).min(ANSWER_MARGIN))
            .min(LEDGER_BUDGET),
        None => LEDGER_BUDGET,
    }
}

/// Runs `call` within `budget`; out of time, the ledger did not answer.
pub(super) async fn bounded<T>(
    budget: Duration,
    call: impl Future<Output = Result<T, AuthorityError>>,
) -> Result<T, AuthorityError> {
    tokio::time::timeout(budget, call)
        .await
        .unwrap_or(Err(AuthorityError::DeadlineExceeded(budget)))
}

/// A `grpc-timeout` value: at most 8 digits and a unit (H, M, S, m, u, n).
fn parse_grpc_timeout(text: &str) -> Option<Duration> {
    let unit = text.chars().last()?;
    let digits = &text[..text.len() - unit.len_utf8()];
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        'H' => Duration::from_secs(n * 3600),
        'M' => Duration::from_secs(n * 60),
        'S' => Duration::from_secs(n),
        'm' => Duration::from_millis(n),
        'u' => Duration::from_micros(n),
        'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_as_the_protocol_spells_them() {
        assert_eq!(
            parse_grpc_timeout("1500m"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        for bad in ["", "S", "123456789S", "10x", "-1S", "1.5S", "٣S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_budget_ends_just_before_the_clients_deadline() {
        let with = |value: &str| {
            let mut request = Request::new(());
            request
                .metadata_mut()
                .insert("grpc-timeout", value.parse().unwrap());
            budget(&request)
        };
        assert_eq!(with("1S"), Duration::from_millis(900));
        assert_eq!(with("50m"), Duration::from_millis(45));
        assert_eq!(with("1M"), LEDGER_BUDGET);
        assert_eq!(with("junk"), LEDGER_BUDGET);
        assert_eq!(budget(&Request::new(())), LEDGER_BUDGET);
    }
}
