//! inkan-proto: what inkan's server and its consumers must agree on, in one
//! place so neither side can drift from the other.
//!
//! - [`v1`]: the messages and [`v1::token_service_client::TokenServiceClient`]
//!   generated from `proto/inkan/v1/inkan.proto`; those that carry tokens
//!   print `***` in their place under `Debug`.
//! - [`failure_status`] and [`Failure`]: a failure reason on the wire, as a
//!   status with `google.rpc.ErrorInfo` in domain [`ERROR_DOMAIN`], and back.
//! - [`API_KEY_HEADER`]: the metadata key a caller's API key travels in.
//!
//! The server trait is not here: the server generates it against these
//! messages, so consumers never link a gRPC server.

#![forbid(unsafe_code)]

mod redacted;
mod status;

pub use status::{code_of, failure_status, Failure, ERROR_DOMAIN};

/// The metadata key a caller's API key travels in.
pub const API_KEY_HEADER: &str = "x-api-key";

/// `inkan.v1`: the token service contract, messages and client stubs.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("inkan.v1");
}
