//! inkan's failures as gRPC statuses: built exactly as inkan builds them
//! and read back from a status a call returned (both `inkan-proto`'s, the
//! codec the server itself uses), plus the status for a local refusal.

use inkan_core::VerifyError;
use tonic::Status;

pub use inkan_proto::{failure_status, Failure, ERROR_DOMAIN};

/// The status inkan's Verify would answer for this refusal.
pub fn refusal_status(refusal: &VerifyError) -> Status {
    failure_status(refusal.reason(), refusal.to_string())
}
