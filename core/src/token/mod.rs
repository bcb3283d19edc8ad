//! Verifying access tokens (RFC 9068 JWTs), by one code path: the server's
//! Verify RPC, its start-up self-test, `inkan token inspect` and every
//! consumer call [`verify_access_token`].

mod legacy;
mod placeholder;
mod revocation;
mod strict_json;
mod verified;
mod verify;

pub use legacy::{
    verify_legacy_refresh_token, LegacyRefresh, LegacyRefreshError, LEGACY_MAX_LIFETIME_SECS,
};
pub use placeholder::{placeholder_secret, placeholder_signed, PLACEHOLDER_SECRETS};
pub use revocation::RevocationCheck;
pub use verified::{CustomClaims, VerifiedAccessToken, RESERVED_CLAIMS};
pub use verify::{
    recheck_verified, verify_access_token, Expectations, VerifyError, DEFAULT_LEEWAY,
};

/// The `typ` header of an access token (RFC 9068 section 2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// What every inkan refresh token starts with, so a refresh token sent
/// where an access token belongs is named for what it is.
pub const REFRESH_TOKEN_PREFIX: &str = "inkan_rt_";

/// The largest token inkan will look at, in bytes. Larger ones are refused
/// before any decoding, so a hostile token costs no more than reading it.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
