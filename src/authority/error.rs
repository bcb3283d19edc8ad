//! Every way an authority call can fail, each with its contract reason.

use crate::{
    callers::Permission,
    ledger::{LedgerError, Refusal},
    reason::Reason,
    token::{LegacyRefreshError, SignError, VerifyError},
};

/// A refused or failed call. The `Display` text is the one sentence a caller
/// sees; causes inside `Storage` and `Signing` are only ever logged.
#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    /// A request field is missing, malformed or out of bounds; holds what is wrong.
    #[error("{0}")]
    InvalidRequest(String),
    /// The presented access token did not verify.
    #[error(transparent)]
    AccessToken(#[from] VerifyError),
    /// The token's session has been revoked.
    #[error("session has been revoked; log in again")]
    SessionRevoked,
    /// The ledger refused the refresh token.
    #[error(transparent)]
    RefreshToken(#[from] Refusal),
    /// The presented refresh token is not one inkan could have issued.
    #[error("{0}")]
    RefreshTokenMalformed(&'static str),
    /// A former system's refresh token was refused.
    #[error(transparent)]
    LegacyRefresh(#[from] LegacyRefreshError),
    /// The call came with neither an API key nor a client certificate.
    #[error("this call needs caller credentials (an x-api-key header or a client certificate)")]
    CallerUnauthenticated,
    /// The API key names no configured caller.
    #[error("the presented API key is not known")]
    CallerUnknown,
    /// The client certificate, with no API key beside it, names no configured caller.
    #[error("the client certificate names no configured caller")]
    CallerCertificateUnknown,
    /// The caller lacks the permission this call needs.
    #[error("this call needs the {} permission", .0.as_str())]
    CallerForbidden(Permission),
    /// The caller already holds as many watch streams as it may.
    #[error("this caller already holds {limit} watch streams, as many as it may; close one or retry later")]
    TooManyStreams {
        /// The most watch streams one caller may hold.
        limit: usize,
    },
    /// The ledger failed or could not be reached.
    #[error("token storage is unavailable; retry shortly")]
    Storage(#[source] LedgerError),
    /// The server is still waiting for its ledger at start-up: it cannot
    /// vouch for any token before the revocations are loaded.
    #[error("inkan is waiting for its database and is not serving yet; retry shortly")]
    NotServing,
    /// The call spent its whole budget waiting on the ledger.
    #[error("token storage did not answer in time; retry shortly")]
    DeadlineExceeded(std::time::Duration),
    /// Signing a token failed: a fault of the server.
    #[error("inkan could not sign a token; this is a fault of the server, not of the request")]
    Signing(#[source] SignError),
}

impl AuthorityError {
    /// The contract reason, or `None` for a fault of inkan itself (which has
    /// no reason a client could act on).
    pub fn reason(&self) -> Option<Reason> {
        Some(match self {
            AuthorityError::InvalidRequest(_) => Reason::InvalidRequest,
            AuthorityError::AccessToken(err) => err.reason(),
            AuthorityError::SessionRevoked => Reason::SessionRevoked,
            AuthorityError::RefreshToken(refusal) => refusal.reason(),
            AuthorityError::RefreshTokenMalformed(_) => Reason::RefreshTokenInvalid,
            AuthorityError::LegacyRefresh(err) => match err {
                LegacyRefreshError::Sunset { .. } | LegacyRefreshError::Expired => {
                    Reason::RefreshTokenExpired
                }
                LegacyRefreshError::Placeholder(err) => err.reason(),
                LegacyRefreshError::NotLegacy
                | LegacyRefreshError::SignatureInvalid
                | LegacyRefreshError::Claims(_) => Reason::RefreshTokenInvalid,
            },
            AuthorityError::CallerUnauthenticated
            | AuthorityError::CallerUnknown
            | AuthorityError::CallerCertificateUnknown => Reason::CallerUnauthenticated,
            AuthorityError::CallerForbidden(_) => Reason::CallerForbidden,
            AuthorityError::Storage(_)
            | AuthorityError::NotServing
            | AuthorityError::DeadlineExceeded(_) => Reason::StorageUnavailable,
            AuthorityError::TooManyStreams { .. } => Reason::TooManyStreams,
            AuthorityError::Signing(_) => return None,
        })
    }
}

impl From<LedgerError> for AuthorityError {
    fn from(err: LedgerError) -> Self {
        AuthorityError::Storage(err)
    }
}

impl From<crate::ids::InvalidId> for AuthorityError {
    fn from(err: crate::ids::InvalidId) -> Self {
        AuthorityError::InvalidRequest(err.to_string())
    }
}
