//! The gRPC transport: the token service, health and reflection. The only
//! module that knows tonic exists.

mod convert;
mod deadline;
mod observe;
mod quota;
mod status;
mod token_service;

pub use status::{code_of, failure, ERROR_DOMAIN};
pub use token_service::{TokenServiceImpl, API_KEY_HEADER};

/// Largest request the token service accepts by default (the
/// `max_request_bytes` setting).
pub use crate::config::MAX_REQUEST_BYTES;

/// Health service names: the whole server, and each capability on its own
/// so a probe can tell that Verify still works while the ledger is down.
pub mod health_names {
    /// The whole server (the empty service name).
    pub const SERVER: &str = "";
    /// The token service as gRPC names it.
    pub const TOKEN_SERVICE: &str = "inkan.v1.TokenService";
    /// Verify and GetJwks: need only the keys.
    pub const VERIFY: &str = "inkan.v1.TokenService/Verify";
    /// Issue, Refresh, Revoke, ListSessions: need the ledger.
    pub const LEDGER: &str = "inkan.v1.TokenService/Ledger";
    /// The process itself: SERVING from the moment its keys are loaded and
    /// self-tested until it shuts down, also while it waits for its
    /// database at start (when every name above is NOT_SERVING), since a
    /// restart would not bring the database. For liveness and start-up
    /// probes.
    pub const LIVENESS: &str = "liveness";
    /// Every name above.
    pub const ALL: [&str; 5] = [SERVER, TOKEN_SERVICE, VERIFY, LEDGER, LIVENESS];
}
