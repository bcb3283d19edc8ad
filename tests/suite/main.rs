//! The integration suite, as one test binary: every module starts real
//! inkan servers in-process (or runs the `inkan` binary) and talks to them
//! as a client would. One binary links tonic and SeaORM once instead of
//! once per file, which is most of the suite's build time on two cores.
//! (`tests/no_leaks.rs` stays apart: it owns the global log subscriber.)

#[macro_use]
#[path = "../common/mod.rs"]
mod common;
#[path = "../hostile/mod.rs"]
mod hostile;

mod bounded_inputs;
mod callers;
mod cli;
mod client_interceptor;
mod client_layer;
mod client_live_revocations;
mod client_revocations;
mod client_session;
mod client_support;
mod client_tls;
mod client_verifier;
mod concurrent_start;
mod crash;
mod cut_off_horizon;
mod cut_offs;
mod db_absent;
mod dev_mode;
mod failures;
mod gateways;
mod gateways_mtls;
mod grace_clock;
mod group_commit;
mod grpcurl;
mod hostile_requests;
mod hostile_tokens;
mod key_cli;
mod key_loader;
mod key_trust;
mod keys;
mod ledger_faults;
mod ledger_file;
mod legacy_opaque;
mod legacy_refresh;
mod lifecycle;
mod metrics;
mod operator;
mod outage_replay;
mod php_migration;
mod publishing;
mod purge;
mod pyjwt;
mod read_only;
mod resource_limits;
mod revocation_stream;
mod revoke_by_token;
mod seals;
mod serving;
mod shutdown;
mod startup;
mod table_prefix;
mod tls;
mod tls_trust;
mod verify_cache;
