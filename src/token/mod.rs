//! Tokens as the server makes them: signed JWT access tokens (RFC 9068)
//! and opaque refresh tokens.
//!
//! Neither knows about the ledger or the transport. Access tokens are
//! signed here and verified by the core crate's one verification path,
//! which the Verify RPC and consumers share (re-exported here); refresh
//! tokens are generated, parsed and hashed here, and the ledger decides
//! what a refresh token is worth.

mod claims;
mod refresh;
mod sign;

/// The cache of verified tokens belongs to the key set that verified them
/// (`keys`); named here too, where configuration looks for its bound.
pub use crate::keys::{VerifyCache, VERIFY_CACHE_BYTES};
pub use claims::{AccessTokenClaims, Grant};
pub use inkan_core::token::{
    recheck_verified, verify_access_token, verify_legacy_refresh_token, CustomClaims, Expectations,
    LegacyRefresh, LegacyRefreshError, RevocationCheck, VerifiedAccessToken, VerifyError,
    ACCESS_TOKEN_TYPE, LEGACY_MAX_LIFETIME_SECS, MAX_TOKEN_BYTES, REFRESH_TOKEN_PREFIX,
    RESERVED_CLAIMS,
};
pub use refresh::{RefreshToken, TokenHash};
pub use sign::{sign_access_token, SignError};
