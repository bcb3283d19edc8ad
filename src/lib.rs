//! inkan: a token authority for internal services.
//!
//! Verification (token checks, reasons, identifiers, public keys) is the
//! `inkan-core` crate and the wire protocol is `inkan-proto`, both shared
//! with consumers; this crate signs, stores and serves. Its modules form
//! layers, and imports only go down them (`.ci/module_cycles.py` fails CI on
//! any cycle):
//!
//! 1. `keys`, `callers`, `metrics`, `proto`: key sets, who may call, the
//!    counters, the generated protocol. They import no other module.
//! 2. `token` (signing, refresh tokens), `ledger` (storage),
//!    `revocations` (what is revoked, in memory and from the ledger), and
//!    `authority`, the domain operations over them. None knows the
//!    transport exists.
//! 3. `net` and `tls` (connections, their limits and handshakes), `config`
//!    (settings validated into the domain's types), `telemetry`.
//! 4. `grpc` and `http`: the transports serving the authority.
//! 5. `server` wires everything together; `cli` is what `main` calls.

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
