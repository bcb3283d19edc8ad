//! inkan's failures as gRPC statuses: built exactly as inkan builds them
//! (code, one sentence, `google.rpc.ErrorInfo` with domain `inkan`, the
//! reason and `metadata["action"]`), and read back from a status a call
//! returned.

use std::collections::HashMap;

use inkan_core::{Action, Reason, VerifyError};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every inkan failure.
pub const ERROR_DOMAIN: &str = "inkan";

/// A status for `reason` with `message`, as inkan itself would answer.
pub fn failure_status(reason: Reason, message: impl Into<String>) -> Status {
    let metadata = HashMap::from([("action".to_owned(), reason.action().as_str().to_owned())]);
    Status::with_error_details(
        Code::from_i32(reason.grpc_code()),
        message,
        ErrorDetails::with_error_info(reason.as_str(), ERROR_DOMAIN, metadata),
    )
}

/// The status inkan's Verify would answer for this refusal.
pub fn refusal_status(refusal: &VerifyError) -> Status {
    failure_status(refusal.reason(), refusal.to_string())
}

/// What an inkan failure says: its reason and the action it asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The reason, when it is one this library knows.
    pub reason: Option<Reason>,
    /// The action, when it is one of the contract's four.
    pub action: Option<Action>,
}

impl Failure {
    /// The inkan failure `status` carries, if its details hold an
    /// `ErrorInfo` of domain `inkan`.
    pub fn of(status: &Status) -> Option<Self> {
        let info = status.get_details_error_info()?;
        if info.domain != ERROR_DOMAIN {
            return None;
        }
        let action = match info.metadata.get("action").map(String::as_str) {
            Some("refresh") => Some(Action::Refresh),
            Some("reauthenticate") => Some(Action::Reauthenticate),
            Some("retry") => Some(Action::Retry),
            Some("none") => Some(Action::None),
            _ => None,
        };
        Some(Self {
            reason: info.reason.parse().ok(),
            action,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_reads_back_with_its_code_and_action() {
        for reason in Reason::ALL {
            let status = failure_status(reason, "a sentence");
            assert_eq!(status.code() as i32, reason.grpc_code());
            assert_eq!(
                Failure::of(&status),
                Some(Failure {
                    reason: Some(reason),
                    action: Some(reason.action())
                })
            );
        }
        assert_eq!(
            Failure::of(&Status::unavailable("connection refused")),
            None
        );
        let foreign = Status::with_error_details(
            Code::Unauthenticated,
            "x",
            ErrorDetails::with_error_info("TOKEN_EXPIRED", "example.com", HashMap::new()),
        );
        assert_eq!(
            Failure::of(&foreign),
            None,
            "another domain's reasons are not inkan's"
        );
    }
}
