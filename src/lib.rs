//! inkan: a token authority for internal services.
//!
//! The domain (`ids`, `keys`, `token`, `ledger`, `revocations`, `callers`,
//! `authority`) knows nothing of the transport; `grpc` and `http` serve it,
//! `server` wires everything together, and `cli` is what `main` calls.

#![forbid(unsafe_code)]

pub mod authority;
pub mod callers;
pub mod cli;
pub mod clock;
pub mod config;
pub mod grpc;
pub mod http;
pub mod ids;
pub mod keys;
pub mod ledger;
pub mod metrics;
pub mod proto;
pub mod reason;
pub mod revocations;
pub mod server;
pub mod telemetry;
pub mod token;
