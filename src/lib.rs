//! inkan: a token authority for internal services.
//!
//! Verification (token checks, reasons, identifiers, public keys) is the
//! `inkan-core` crate, which consumers share; this crate signs, stores and
//! serves. The domain (`keys`, `token`, `ledger`, `revocations`, `callers`,
//! `authority`) knows nothing of the transport; `grpc` and `http` serve it,
//! `server` wires everything together, and `cli` is what `main` calls.

#![forbid(unsafe_code)]

pub mod authority;
pub mod callers;
pub mod cli;
pub mod config;
pub mod grpc;
pub mod http;
pub mod keys;
pub mod ledger;
pub mod metrics;
pub mod net;
pub mod proto;
pub mod revocations;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod token;

/// The verification core's vocabulary, shared with every consumer: the
/// clock, identifiers and failure reasons.
pub use inkan_core::{clock, ids, reason};
