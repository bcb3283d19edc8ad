//! The one place a domain error becomes a gRPC status: the code, the
//! sentence for a person, and a `google.rpc.ErrorInfo` with the reason and
//! the action. Internal causes are logged here and never sent.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tracing::{error, warn};

use crate::{authority::AuthorityError, reason::Reason};

/// The `ErrorInfo.domain` of every inkan failure.
pub const ERROR_DOMAIN: &str = "inkan";

/// The gRPC code the contract (docs/contract.md) binds to each reason.
pub fn code_of(reason: Reason) -> Code {
    Code::from_i32(reason.grpc_code())
}

/// A status for `reason` with `message`, carrying the contract's ErrorInfo.
pub fn failure(reason: Reason, message: impl Into<String>) -> Status {
    let metadata = HashMap::from([("action".to_owned(), reason.action().as_str().to_owned())]);
    Status::with_error_details(
        code_of(reason),
        message,
        ErrorDetails::with_error_info(reason.as_str(), ERROR_DOMAIN, metadata),
    )
}

impl From<AuthorityError> for Status {
    fn from(err: AuthorityError) -> Self {
        match (&err, err.reason()) {
            (AuthorityError::Storage(cause), Some(reason)) => {
                error!(error = ?cause, "ledger call failed");
                failure(reason, err.to_string())
            }
            (_, Some(reason)) => {
                if reason == Reason::RefreshTokenReused {
                    warn!("refresh token replayed outside the grace window");
                }
                failure(reason, err.to_string())
            }
            (_, None) => {
                error!(error = ?err, "server fault");
                Status::internal(err.to_string())
            }
        }
    }
}
