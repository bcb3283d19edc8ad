//! What a setting is when nobody set it, and why that value. Only the
//! settings that may have a default are here: a key set, a database and an
//! issuer have none outside dev mode. The limits' defaults sit with
//! [`Limits`](super::Limits), next to the memory budget they are sized by.

use std::time::Duration;

/// The gRPC port: the port gRPC examples and tooling reach for first.
pub(super) const GRPC_PORT: u16 = 50051;

/// The HTTP port (JWKS, discovery): the usual unprivileged HTTP port, so
/// the server needs no capability to bind it.
pub(super) const HTTP_PORT: u16 = 8080;

/// The metrics port: Prometheus' own default, always on loopback unless
/// set, so metrics never reach the public JWKS port.
pub(super) const METRICS_PORT: u16 = 9090;

/// How long an access token lives: short enough that a stolen one is soon
/// useless, since consumers verifying locally learn of a revocation only
/// through the revocation stream.
pub(super) const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// How long a refresh token lasts unused: two weeks, so a user who comes
/// back within a fortnight stays logged in.
pub(super) const REFRESH_TOKEN_IDLE_TTL: Duration = Duration::from_secs(14 * 86_400);

/// The absolute end of a session, counted from login: a used session
/// still asks for a fresh login about once a quarter.
pub(super) const SESSION_LIFETIME: Duration = Duration::from_secs(90 * 86_400);

/// Tolerated clock difference when checking token times: inkan-core's,
/// so the Verify RPC and consumers verifying locally agree.
pub(super) const LEEWAY: Duration = inkan_core::token::DEFAULT_LEEWAY;

/// How long after a refresh a retry of it gets the same successor: long
/// enough for a client whose answer was lost to retry, short enough that a
/// thief replaying a copied token is caught as reuse.
pub(super) const REUSE_GRACE: Duration = Duration::from_secs(5);

/// How long the rows of ended sessions and tokens stay in the ledger for
/// an investigation: a day, well past the access tokens they signed.
pub(super) const PURGE_RETENTION: Duration = Duration::from_secs(86_400);

/// After SIGTERM, how long to go on serving while health says NOT_SERVING:
/// time for load balancers to notice and stop sending.
pub(super) const DRAIN_PERIOD: Duration = Duration::from_secs(5);

/// Dev mode has no load balancer to drain: it stops at once.
pub(super) const DEV_DRAIN_PERIOD: Duration = Duration::ZERO;

/// After the drain period, how long calls in flight may take to finish:
/// after the manifest's 10 s preStop sleep and [`DRAIN_PERIOD`], still
/// inside the 45 s grace period `k8s/deployment.yaml` gives the pod, so it
/// is not killed mid-drain.
pub(super) const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(20);

/// How long an HTTP client may take to send a request's head (and a new
/// connection to send anything): generous for a real client, short enough
/// that slow-sending connections cannot pile up.
pub(super) const HTTP_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the key-set file is checked for changes: a stat every two
/// seconds costs nothing, and a rotated key is in service almost at once.
pub(super) const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// Where dev mode keeps its ledger: [`DEV_DATABASE_FILE`], in the working
/// directory.
pub const DEV_DATABASE_URL: &str = "sqlite://inkan-dev.db?mode=rwc";

/// The file [`DEV_DATABASE_URL`] names, relative to the working directory.
pub const DEV_DATABASE_FILE: &str = "inkan-dev.db";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_database_url_names_the_dev_database_file() {
        assert!(DEV_DATABASE_URL.starts_with(&format!("sqlite://{DEV_DATABASE_FILE}?")));
    }
}
