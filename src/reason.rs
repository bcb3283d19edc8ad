//! The failure vocabulary of the contract: every refused call names one
//! [`Reason`], and every reason implies the one [`Action`] a client must take.
//!
//! These names are binding (clients and scripts match on them), so they live
//! in one place and are spelled exactly as in docs/contract.md.

use std::fmt;

/// Why a call was refused, as sent in `google.rpc.ErrorInfo.reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    TokenMalformed,
    TokenExpired,
    TokenNotYetValid,
    SignatureInvalid,
    KeyUnknown,
    AlgorithmMismatch,
    TokenTypeInvalid,
    IssuerMismatch,
    AudienceMismatch,
    SessionRevoked,
    InsufficientScope,
    RefreshTokenInvalid,
    RefreshTokenExpired,
    RefreshTokenReused,
    CallerUnauthenticated,
    CallerForbidden,
    InvalidRequest,
    StorageUnavailable,
}

/// What the client must do next, as sent in `ErrorInfo.metadata["action"]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Use the refresh token once, then retry with the new access token.
    Refresh,
    /// The session is over: send the person back to log in.
    Reauthenticate,
    /// Transient: retry the same call later.
    Retry,
    /// Nothing to retry: fix the request or the caller's permissions.
    None,
}

impl Reason {
    /// The contract name, e.g. `TOKEN_EXPIRED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TokenMalformed => "TOKEN_MALFORMED",
            Reason::TokenExpired => "TOKEN_EXPIRED",
            Reason::TokenNotYetValid => "TOKEN_NOT_YET_VALID",
            Reason::SignatureInvalid => "SIGNATURE_INVALID",
            Reason::KeyUnknown => "KEY_UNKNOWN",
            Reason::AlgorithmMismatch => "ALGORITHM_MISMATCH",
            Reason::TokenTypeInvalid => "TOKEN_TYPE_INVALID",
            Reason::IssuerMismatch => "ISSUER_MISMATCH",
            Reason::AudienceMismatch => "AUDIENCE_MISMATCH",
            Reason::SessionRevoked => "SESSION_REVOKED",
            Reason::InsufficientScope => "INSUFFICIENT_SCOPE",
            Reason::RefreshTokenInvalid => "REFRESH_TOKEN_INVALID",
            Reason::RefreshTokenExpired => "REFRESH_TOKEN_EXPIRED",
            Reason::RefreshTokenReused => "REFRESH_TOKEN_REUSED",
            Reason::CallerUnauthenticated => "CALLER_UNAUTHENTICATED",
            Reason::CallerForbidden => "CALLER_FORBIDDEN",
            Reason::InvalidRequest => "INVALID_REQUEST",
            Reason::StorageUnavailable => "STORAGE_UNAVAILABLE",
        }
    }

    /// The action the contract binds to this reason.
    pub fn action(self) -> Action {
        match self {
            Reason::TokenExpired => Action::Refresh,
            Reason::TokenNotYetValid | Reason::StorageUnavailable => Action::Retry,
            Reason::TokenMalformed
            | Reason::SignatureInvalid
            | Reason::KeyUnknown
            | Reason::AlgorithmMismatch
            | Reason::TokenTypeInvalid
            | Reason::IssuerMismatch
            | Reason::AudienceMismatch
            | Reason::SessionRevoked
            | Reason::RefreshTokenInvalid
            | Reason::RefreshTokenExpired
            | Reason::RefreshTokenReused => Action::Reauthenticate,
            Reason::InsufficientScope
            | Reason::CallerUnauthenticated
            | Reason::CallerForbidden
            | Reason::InvalidRequest => Action::None,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Action {
    /// The contract name, e.g. `reauthenticate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Refresh => "refresh",
            Action::Reauthenticate => "reauthenticate",
            Action::Retry => "retry",
            Action::None => "none",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_expired_access_token_asks_for_a_refresh() {
        let all = [
            Reason::TokenMalformed,
            Reason::TokenExpired,
            Reason::TokenNotYetValid,
            Reason::SignatureInvalid,
            Reason::KeyUnknown,
            Reason::AlgorithmMismatch,
            Reason::TokenTypeInvalid,
            Reason::IssuerMismatch,
            Reason::AudienceMismatch,
            Reason::SessionRevoked,
            Reason::InsufficientScope,
            Reason::RefreshTokenInvalid,
            Reason::RefreshTokenExpired,
            Reason::RefreshTokenReused,
            Reason::CallerUnauthenticated,
            Reason::CallerForbidden,
            Reason::InvalidRequest,
            Reason::StorageUnavailable,
        ];
        let refreshing: Vec<_> = all
            .iter()
            .filter(|r| r.action() == Action::Refresh)
            .collect();
        assert_eq!(refreshing, [&Reason::TokenExpired]);
        // A failed refresh must never send the client round the loop again.
        assert_eq!(Reason::RefreshTokenExpired.action(), Action::Reauthenticate);
        assert_eq!(Reason::RefreshTokenReused.action(), Action::Reauthenticate);
    }
}
