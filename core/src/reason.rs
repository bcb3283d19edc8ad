//! The failure vocabulary of the contract: every refused call names one
//! [`Reason`], and every reason implies the one [`Action`] a client must take.
//!
//! These names are binding (clients and scripts match on them), so they live
//! in one place and are spelled exactly as in docs/contract.md.

use std::fmt;

/// Why a call was refused, as sent in `google.rpc.ErrorInfo.reason`.
///
/// New reasons may be added, so a client matching on it keeps a fallback
/// arm (and can always act on [`Reason::action`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// Not a JWT inkan could read.
    TokenMalformed,
    /// Past its `exp`: refresh once.
    TokenExpired,
    /// Its `nbf` or `iat` is in the future: a clock is off.
    TokenNotYetValid,
    /// The key it names does not verify it.
    SignatureInvalid,
    /// It names a key the key set does not have.
    KeyUnknown,
    /// Its `alg` is not the one its key is bound to.
    AlgorithmMismatch,
    /// Not an access token (a refresh token, an ID token, ...).
    TokenTypeInvalid,
    /// Issued by another issuer.
    IssuerMismatch,
    /// Not meant for the expected audience.
    AudienceMismatch,
    /// Its session was revoked.
    SessionRevoked,
    /// A required scope is missing.
    InsufficientScope,
    /// Not a refresh token inkan knows.
    RefreshTokenInvalid,
    /// The refresh token or its session ran out.
    RefreshTokenExpired,
    /// A spent refresh token came back; the session is now revoked.
    RefreshTokenReused,
    /// The caller did not prove who it is.
    CallerUnauthenticated,
    /// The caller lacks the permission the call needs.
    CallerForbidden,
    /// A field is empty, too large or reserved.
    InvalidRequest,
    /// The ledger's database failed; says nothing about the token.
    StorageUnavailable,
    /// The caller already holds as many watch streams as it may; close one,
    /// or retry later.
    TooManyStreams,
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
            Reason::TooManyStreams => "TOO_MANY_STREAMS",
        }
    }

    /// The action the contract binds to this reason.
    pub fn action(self) -> Action {
        match self {
            Reason::TokenExpired => Action::Refresh,
            Reason::TokenNotYetValid | Reason::StorageUnavailable | Reason::TooManyStreams => {
                Action::Retry
            }
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

impl Reason {
    /// The gRPC status code the contract binds to this reason, as its
    /// number (tonic: `Code::from_i32`), so this crate needs no gRPC.
    pub fn grpc_code(self) -> i32 {
        /// Canonical gRPC status codes.
        const INVALID_ARGUMENT: i32 = 3;
        const PERMISSION_DENIED: i32 = 7;
        const RESOURCE_EXHAUSTED: i32 = 8;
        const UNAVAILABLE: i32 = 14;
        const UNAUTHENTICATED: i32 = 16;
        match self {
            Reason::TokenMalformed
            | Reason::TokenExpired
            | Reason::TokenNotYetValid
            | Reason::SignatureInvalid
            | Reason::KeyUnknown
            | Reason::AlgorithmMismatch
            | Reason::TokenTypeInvalid
            | Reason::IssuerMismatch
            | Reason::AudienceMismatch
            | Reason::SessionRevoked
            | Reason::RefreshTokenInvalid
            | Reason::RefreshTokenExpired
            | Reason::RefreshTokenReused
            | Reason::CallerUnauthenticated => UNAUTHENTICATED,
            Reason::InsufficientScope | Reason::CallerForbidden => PERMISSION_DENIED,
            Reason::InvalidRequest => INVALID_ARGUMENT,
            Reason::StorageUnavailable => UNAVAILABLE,
            Reason::TooManyStreams => RESOURCE_EXHAUSTED,
        }
    }

    /// Every reason, in the contract's order.
    pub const ALL: [Reason; 19] = [
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
        Reason::TooManyStreams,
    ];
}

/// A name that is not one of the contract's reasons.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an inkan failure reason")]
pub struct UnknownReason;

impl std::str::FromStr for Reason {
    type Err = UnknownReason;

    /// The reason a status's `ErrorInfo.reason` names, e.g. `TOKEN_EXPIRED`.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Reason::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .ok_or(UnknownReason)
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
        let all = Reason::ALL;
        let refreshing: Vec<_> = all
            .iter()
            .filter(|r| r.action() == Action::Refresh)
            .collect();
        assert_eq!(refreshing, [&Reason::TokenExpired]);
        // A failed refresh must never send the client round the loop again.
        assert_eq!(Reason::RefreshTokenExpired.action(), Action::Reauthenticate);
        assert_eq!(Reason::RefreshTokenReused.action(), Action::Reauthenticate);
    }

    #[test]
    fn every_reason_reads_back_from_its_name() {
        for reason in Reason::ALL {
            assert_eq!(reason.as_str().parse::<Reason>(), Ok(reason));
        }
        assert_eq!("token_expired".parse::<Reason>(), Err(UnknownReason));
    }
}
