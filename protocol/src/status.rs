//! inkan's failures on the wire: a reason and a sentence become a gRPC
//! status (the contract's code, the sentence, and `google.rpc.ErrorInfo`
//! with domain `inkan`, the reason and `metadata["action"]`), and a status
//! a call returned reads back as its reason and action. Both directions sit
//! together so the server's answers and the clients' reading cannot drift.

use std::collections::HashMap;

use inkan_core::{Action, Reason};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every inkan failure.
pub const ERROR_DOMAIN: &str = "inkan";

/// The `ErrorInfo.metadata` key that holds the action.
const ACTION_KEY: &str = "action";

/// The gRPC code the contract (docs/contract.md) binds to `reason`.
pub fn code_of(reason: Reason) -> Code {
    Code::from_i32(reason.grpc_code())
}

/// A status for `reason` with `message`, as inkan answers it.
pub fn failure_status(reason: Reason, message: impl Into<String>) -> Status {
    let metadata = HashMap::from([(ACTION_KEY.to_owned(), reason.action().as_str().to_owned())]);
    Status::with_error_details(
        code_of(reason),
        message,
        ErrorDetails::with_error_info(reason.as_str(), ERROR_DOMAIN, metadata),
    )
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
    /// `ErrorInfo` of domain [`ERROR_DOMAIN`]. A reason or action this
    /// library does not know (a newer server's) reads as `None`, not as a
    /// refusal to read the rest.
    pub fn of(status: &Status) -> Option<Self> {
        let info = status.get_details_error_info()?;
        if info.domain != ERROR_DOMAIN {
            return None;
        }
        Some(Self {
            reason: info.reason.parse().ok(),
            action: info
                .metadata
                .get(ACTION_KEY)
                .and_then(|name| action_named(name)),
        })
    }
}

/// The action `name` is on the wire (`Action::as_str`'s inverse).
fn action_named(name: &str) -> Option<Action> {
    [
        Action::Refresh,
        Action::Reauthenticate,
        Action::Retry,
        Action::None,
    ]
    .into_iter()
    .find(|action| action.as_str() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_builds_the_contracts_status_and_reads_back() {
        for reason in Reason::ALL {
            let status = failure_status(reason, "a sentence");
            assert_eq!(status.code() as i32, reason.grpc_code(), "{reason}");
            assert_eq!(status.code(), code_of(reason), "{reason}");
            assert_eq!(status.message(), "a sentence");

            let info = status.get_details_error_info().expect("an ErrorInfo");
            assert_eq!(info.domain, "inkan");
            assert_eq!(info.reason, reason.as_str());
            assert_eq!(
                info.metadata.get("action").map(String::as_str),
                Some(reason.action().as_str()),
                "{reason}"
            );

            assert_eq!(
                Failure::of(&status),
                Some(Failure {
                    reason: Some(reason),
                    action: Some(reason.action())
                })
            );
        }
    }

    #[test]
    fn the_wire_names_of_actions() {
        for (action, name) in [
            (Action::Refresh, "refresh"),
            (Action::Reauthenticate, "reauthenticate"),
            (Action::Retry, "retry"),
            (Action::None, "none"),
        ] {
            assert_eq!(action_named(name), Some(action));
        }
        assert_eq!(action_named("REFRESH"), None);
        assert_eq!(action_named(""), None);
    }

    #[test]
    fn only_inkan_failures_read_as_one() {
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

    #[test]
    fn what_a_newer_server_adds_reads_as_unknown() {
        let newer = Status::with_error_details(
            Code::FailedPrecondition,
            "x",
            ErrorDetails::with_error_info(
                "SOMETHING_NEW",
                ERROR_DOMAIN,
                HashMap::from([("action".to_owned(), "wait".to_owned())]),
            ),
        );
        assert_eq!(
            Failure::of(&newer),
            Some(Failure {
                reason: None,
                action: None
            })
        );
    }
}
