//! inkan-client: what a Rust service needs to rely on inkan's tokens.
//!
//! - [`Verifier`]: verifies access tokens in-process with
//!   `inkan_core::verify_access_token` (the code inkan's own Verify runs),
//!   keys kept current from `WatchKeys` or the HTTP JWKS, revocations from
//!   `WatchRevocations`, outcomes counted in a `prometheus::Registry`.
//! - [`AuthLayer`]: a tower layer that guards a tonic service with a
//!   [`Verifier`] and answers refusals exactly as inkan would; the
//!   [`Interceptor`] does the same for services built on tonic
//!   interceptors.
//! - [`Session`]: an app's token pair held by its backend, refreshed once
//!   when calls need it, however many need it at once.
//! - [`proto`] and [`status`]: the generated messages,
//!   [`TokenServiceClient`] and the failure codec, re-exported from
//!   `inkan-proto`, the protocol crate the server builds on too.
//!
//! It never talks to inkan's database or key files: only to inkan.
//!
//! What its API takes is re-exported here ([`Scope`], [`SecretString`],
//! [`Registry`], [`LegacyKey`] with what makes one, [`inkan_core`] for the
//! claims' types, and [`tonic`] itself for `Channel` and its TLS
//! settings), so the one dependency line in the README is enough and the
//! versions always match.

#![forbid(unsafe_code)]

mod backoff;
mod bearer;
mod interceptor;
mod keys;
mod layer;
mod metrics;
pub mod proto;
mod revocations;
mod session;
pub mod status;
mod verifier;

/// The verification core, for the types a [`VerifiedAccessToken`]'s fields
/// are (`Subject`, `SessionId`, `Kid`, ...).
pub use inkan_core;
pub use inkan_core::{
    ids::{InvalidId, Kid, Scope},
    keys::{DecodingKey, Legacy, LegacyKey},
    Action, Reason, VerifiedAccessToken, VerifyError,
};
pub use interceptor::Interceptor;
pub use layer::{AuthLayer, Authenticated};
pub use metrics::{MetricsError, ACCEPTED};
pub use prometheus::Registry;
pub use proto::v1::token_service_client::TokenServiceClient;
pub use revocations::RevocationSet;
pub use secrecy::SecretString;
pub use session::{
    AccessToken, LoginRequired, RefreshTransport, Session, SessionBuilder, SessionError,
};
pub use tonic;
pub use verifier::{BuildError, Health, Requirements, Verifier, VerifierBuilder};
