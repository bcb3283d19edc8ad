//! The one place a domain error becomes a gRPC status: the code, the
//! sentence for a person, and a `google.rpc.ErrorInfo` with the reason and
//! the action. Internal causes are logged here and never sent. How a reason
//! is put on the wire is `inkan-proto`'s, the codec consumers read it with.

use tonic::Status;
use tracing::{error, warn};

use crate::{authority::AuthorityError, reason::Reason};

/// The protocol's failure vocabulary, under the names the server uses:
/// `failure` is [`inkan_proto::failure_status`].
pub use inkan_proto::{code_of, failure_status as failure, ERROR_DOMAIN};

impl From<AuthorityError> for Status {
    fn from(err: AuthorityError) -> Self {
        match (&err, err.reason()) {
            (AuthorityError::Storage(cause), Some(reason)) => {
                error!(error = ?cause, "ledger call failed");
                failure(reason, err.to_string())
            }
            (AuthorityError::DeadlineExceeded(budget), Some(reason)) => {
                error!(?budget, "ledger call ran out of time");
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
