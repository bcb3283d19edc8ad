//! What verification asks of whoever knows about revocations. The server
//! answers from its revocation cache (fed by the ledger), a consumer from
//! the `WatchRevocations` stream; verification itself only asks.

use crate::ids::{SessionId, Subject};

/// Knows which sessions have been revoked, and since when a subject's
/// tokens are refused. Called on every verification, so answers come from
/// memory.
pub trait RevocationCheck: Send + Sync {
    /// Whether the session has been revoked.
    fn is_revoked(&self, session: &SessionId) -> bool;

    /// The time (Unix seconds) before which every token of `subject` was
    /// issued is refused, if any: what revoking a whole subject leaves
    /// behind for tokens that name no session.
    fn subject_cut_off(&self, subject: &Subject) -> Option<i64> {
        let _ = subject;
        None
    }
}
