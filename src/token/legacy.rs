//! Tokens of a former system: no `kid`, HS256 under a shared secret. They
//! are tried against the legacy keys only (never against inkan's own keys),
//! and a legacy key accepts nothing after its sunset.

use jsonwebtoken::{Algorithm, Header};

use super::{
    access::{check_claims, decode_claims, Profile},
    Expectations, VerifiedAccessToken, VerifyError,
};
use crate::keys::VerifyingKeys;

/// The longest-lived legacy token accepted: longer ones are refresh tokens
/// or worse.
pub const LEGACY_MAX_LIFETIME_SECS: i64 = 24 * 3600;

pub(super) fn verify_legacy(
    token: &str,
    header: &Header,
    keys: &VerifyingKeys,
    expect: &Expectations<'_>,
) -> Result<VerifiedAccessToken, VerifyError> {
    let live: Vec<_> = keys
        .legacy()
        .iter()
        .filter(|k| expect.now < k.terms().sunset)
        .collect();
    if live.is_empty() {
        return Err(VerifyError::KeyUnknown(
            "access token has no kid, and no legacy key accepts tokens without one; log in again"
                .into(),
        ));
    }
    if header.alg != Algorithm::HS256 {
        return Err(VerifyError::AlgorithmMismatch {
            claimed: format!("{:?}", header.alg),
            kid: "(none: legacy keys)".into(),
            bound: "HS256",
        });
    }
    // The one place more than one key is tried for a token: the legacy list,
    // in key-set order. A wrong signature under one key is not an answer yet.
    for key in live {
        let bad = || VerifyError::SignatureInvalid {
            kid: key.label().to_string(),
        };
        match decode_claims(token, Algorithm::HS256, key.decoding_key(), bad) {
            Ok(claims) => {
                // A former system's long-lived refresh JWT, signed with the
                // same secret, must not pass as an access token.
                // From issue if the token says when that was, otherwise from
                // now: either way no more than an access token's life.
                let Some(exp) = claims.get("exp").and_then(|v| v.as_i64()) else {
                    return Err(VerifyError::Malformed(
                        "its exp claim is missing or not an integer",
                    ));
                };
                let from = claims
                    .get("iat")
                    .and_then(|v| v.as_i64())
                    .unwrap_or(expect.now);
                let lifetime = exp.saturating_sub(from);
                if lifetime > LEGACY_MAX_LIFETIME_SECS {
                    return Err(VerifyError::TypeInvalid(
                        "token lives longer than any access token (24 h); it is not an access token",
                    ));
                }
                let profile = Profile::Legacy {
                    label: key.label().clone(),
                    issuer: key.terms().issuer.as_deref(),
                };
                return check_claims(claims, profile, expect);
            }
            Err(VerifyError::SignatureInvalid { .. }) => continue,
            Err(other) => return Err(other),
        }
    }
    Err(VerifyError::SignatureInvalid {
        kid: "(none: no legacy key verifies it)".into(),
    })
}
