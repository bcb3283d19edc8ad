//! Signing access tokens: what only the server does. Verification is the
//! core crate's, shared with consumers.

use jsonwebtoken::Header;

use super::{AccessTokenClaims, ACCESS_TOKEN_TYPE};
use crate::keys::SigningKey;

/// Signing failed; only a broken key can cause this, never a request.
#[derive(Debug, thiserror::Error)]
#[error("signing with key {kid:?} failed")]
pub struct SignError {
    kid: String,
}

/// Signs `claims` with `key`, with the headers RFC 9068 asks for.
pub fn sign_access_token(
    claims: &AccessTokenClaims<'_>,
    key: &SigningKey,
) -> Result<String, SignError> {
    let mut header = Header::new(key.alg().jws());
    header.typ = Some(ACCESS_TOKEN_TYPE.into());
    header.kid = Some(key.kid().to_string());
    jsonwebtoken::encode(&header, claims, key.encoding_key()).map_err(|_| SignError {
        kid: key.kid().to_string(),
    })
}
