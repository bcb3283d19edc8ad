//! Tokens of a former system: no `kid`, HS256 under a shared secret. They
//! are tried against the legacy keys only (never against inkan's own keys),
//! and a legacy key accepts nothing after its sunset.
//!
//! The former system's refresh tokens and ID tokens may be JWTs signed with
//! the same secret, so a legacy token must also look like an access token:
//! no `typ` header or claim saying otherwise, and a lifetime no longer than
//! an access token's, which a token without `iat` cannot show unless its
//! key says how long such tokens may have left.

use jsonwebtoken::{Algorithm, Header};
use serde_json::{Map, Value};

use super::{
    verify::{check_claims, decode_claims, Profile},
    Expectations, VerifiedAccessToken, VerifyError,
};
use crate::keys::{Legacy, VerifyingKeys};

/// The longest-lived legacy token accepted: longer ones are refresh tokens
/// or worse.
pub const LEGACY_MAX_LIFETIME_SECS: i64 = 24 * 3600;

/// `typ` headers an access token may carry (compared ignoring case, as
/// media types are); no `typ` at all is accepted too.
const ACCESS_TOKEN_TYPS: &[&str] = &["JWT", "application/jwt", "at+jwt", "application/at+jwt"];

/// Claims issuers use to say what kind of token a JWT is (Cognito's
/// `token_use`, Keycloak's `typ`, and the usual spellings).
const TYPE_CLAIMS: &[&str] = &["token_use", "token_type", "typ", "type"];

/// What those claims say of an access token (ignoring case). Anything else
/// (`refresh`, `id`, `offline`, a number) is another kind of token.
const ACCESS_TOKEN_TYPES: &[&str] = &["access", "access_token", "at", "at+jwt", "bearer"];

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
                refuse_other_kinds(header, &claims)?;
                bound_lifetime(&claims, key.terms(), expect.now)?;
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

/// Refuses a token whose `typ` header or type claim says it is something
/// other than an access token: a refresh token signed with the same secret
/// must never pass as one.
fn refuse_other_kinds(header: &Header, claims: &Map<String, Value>) -> Result<(), VerifyError> {
    if let Some(typ) = header.typ.as_deref() {
        if !ACCESS_TOKEN_TYPS
            .iter()
            .any(|t| t.eq_ignore_ascii_case(typ))
        {
            return Err(VerifyError::TypeInvalid(
                "token's typ header says it is not an access token (only JWT or at+jwt are); log in again",
            ));
        }
    }
    for name in TYPE_CLAIMS {
        let Some(value) = claims.get(*name) else {
            continue;
        };
        let access = value
            .as_str()
            .is_some_and(|v| ACCESS_TOKEN_TYPES.iter().any(|a| a.eq_ignore_ascii_case(v)));
        if !access {
            return Err(VerifyError::TypeInvalid(
                "token's token_use, token_type, typ or type claim says it is not an access token; log in again",
            ));
        }
    }
    Ok(())
}

/// Refuses a token that lives, or may live, longer than an access token: a
/// former system's long-lived refresh JWT would otherwise pass. Lifetime is
/// counted from `iat`; a token without one is refused unless its key allows
/// such tokens with at most a set time left, since counting from now would
/// let any long-lived token pass in its last day.
fn bound_lifetime(
    claims: &Map<String, Value>,
    terms: &Legacy,
    now: i64,
) -> Result<(), VerifyError> {
    let Some(exp) = claims.get("exp").and_then(Value::as_i64) else {
        return Err(VerifyError::Malformed(
            "its exp claim is missing or not an integer",
        ));
    };
    match claims.get("iat") {
        Some(iat) => {
            let iat = iat
                .as_i64()
                .ok_or(VerifyError::Malformed("its iat claim is not an integer"))?;
            if exp.saturating_sub(iat) > LEGACY_MAX_LIFETIME_SECS {
                return Err(VerifyError::TypeInvalid(
                    "token lives longer than any access token (24 h); it is not an access token",
                ));
            }
        }
        None => match terms.max_remaining_without_iat {
            None => {
                return Err(VerifyError::TypeInvalid(
                    "token has no iat, so its lifetime cannot be bounded, and this legacy key \
                     accepts no such token (see max_remaining_without_iat); log in again",
                ))
            }
            Some(limit) if exp.saturating_sub(now) > limit => {
                return Err(VerifyError::TypeInvalid(
                    "token has no iat and more time left than this legacy key allows such tokens \
                     (max_remaining_without_iat); it is not an access token",
                ))
            }
            Some(_) => {}
        },
    }
    Ok(())
}
