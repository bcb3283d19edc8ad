//! Tokens: signed JWT access tokens (RFC 9068) and opaque refresh tokens.
//!
//! Neither knows about the ledger or the transport. Access tokens are signed
//! and verified here, by one code path that both the Verify RPC and local
//! verifiers use; refresh tokens are generated, parsed and hashed here, and
//! the ledger decides what a refresh token is worth.

mod access;
mod claims;
mod legacy;
mod refresh;
mod strict_json;

pub use access::{sign_access_token, verify_access_token, Expectations, SignError, VerifyError};
pub use claims::{AccessTokenClaims, CustomClaims, Grant, VerifiedAccessToken, RESERVED_CLAIMS};
pub use refresh::{RefreshToken, TokenHash, REFRESH_TOKEN_PREFIX};

/// The `typ` header of an access token (RFC 9068 section 2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The largest token inkan will look at, in bytes. Larger ones are refused
/// before any decoding, so a hostile token costs no more than reading it.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
