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
    Expectations, VerifiedAccessToken, VerifyError, MAX_TOKEN_BYTES,
};
use crate::{
    ids::{Kid, Subject},
    keys::{Legacy, VerifyingKeys},
};

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
        .filter(|k| k.terms().access && expect.now < k.terms().sunset)
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
        match decode_claims(token, |m, sig| key.verifies(m, sig), bad) {
            Ok(mut claims) => {
                refuse_other_kinds(header, &claims)?;
                bound_lifetime(&claims, key.terms(), expect.now)?;
                stand_in(&mut claims, key.terms());
                let profile = Profile::Legacy {
                    label: key.label().clone(),
                    issuer: key.terms().issuer.as_deref(),
                    subject_claim: key.terms().subject_claim(),
                    audience: key.terms().audience.as_deref(),
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

/// Gives a token that names no audience (or no scopes) the ones its key
/// says the former system's tokens stood for, so that Verify with one of
/// those audiences accepts it and with any other refuses it, as it would an
/// inkan token. A token's own `aud` and `scope` are kept as they are.
fn stand_in(claims: &mut Map<String, Value>, terms: &Legacy) {
    if !terms.access_audience.is_empty() && !claims.contains_key("aud") {
        let audience = terms.access_audience.iter().cloned().map(Value::String);
        claims.insert("aud".into(), Value::Array(audience.collect()));
    }
    if !terms.access_scopes.is_empty() && !claims.contains_key("scope") {
        claims.insert("scope".into(), Value::String(terms.access_scopes.join(" ")));
    }
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

/// The subject a legacy token names in `claim` (its key's mapping): a
/// string, or an integer (a former system's numeric user id) in decimal.
pub(super) fn subject(claims: &Map<String, Value>, claim: &str) -> Result<Subject, VerifyError> {
    let text = match claims.get(claim) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    };
    text.and_then(|s| Subject::parse(&s).ok())
        .ok_or(VerifyError::Malformed(
            "its subject claim (sub, or the one its legacy key names) is missing or invalid",
        ))
}

/// A former system's refresh token whose signature a legacy key marked for
/// refresh verifies. Whether it may be exchanged is the ledger's to say:
/// only a token in the imported ledger, and unspent, is.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyRefresh {
    /// The legacy key that verified it.
    pub label: Kid,
    /// Its subject, through the key's claim mapping.
    pub subject: Subject,
    /// Its `exp`, if it has one.
    pub expires_at: Option<i64>,
    /// Its `iat`, if it has one.
    pub issued_at: Option<i64>,
}

/// Why a former system's refresh token cannot be exchanged, before the
/// ledger is asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LegacyRefreshError {
    /// Not a former system's refresh token: it has a kid, is not HS256, or
    /// no legacy key takes refresh tokens.
    #[error("refresh token is not one inkan issued, and no legacy key takes it; log in again")]
    NotLegacy,
    /// No legacy key marked for refresh verifies it.
    #[error("refresh token's signature does not verify with any legacy key; log in again")]
    SignatureInvalid,
    /// Signed with a placeholder secret ([`VerifyError::PlaceholderSigned`]).
    #[error(transparent)]
    Placeholder(VerifyError),
    /// The legacy key that verifies it is past its sunset.
    #[error("the former system's refresh tokens are no longer exchanged (legacy key {label} reached its sunset); log in again")]
    Sunset {
        /// The legacy key.
        label: Kid,
    },
    /// Past its `exp`.
    #[error("refresh token has expired; log in again")]
    Expired,
    /// A claim is missing or wrong; says which, never its value.
    #[error("refresh token is not valid: {0}; log in again")]
    Claims(&'static str),
}

/// Verifies a former system's refresh JWT with the legacy keys marked for
/// refresh, in key-set order: its signature, its key's sunset, its `iss`
/// when the key names one, its `exp` when it has one (with `leeway`
/// seconds), and its subject through the key's claim mapping.
pub fn verify_legacy_refresh_token(
    token: &str,
    keys: &VerifyingKeys,
    now: i64,
    leeway: i64,
) -> Result<LegacyRefresh, LegacyRefreshError> {
    use LegacyRefreshError as E;
    let placeholder = |fallback: LegacyRefreshError| {
        super::placeholder::placeholder_signed(token)
            .map(E::Placeholder)
            .unwrap_or(fallback)
    };
    if token.len() > MAX_TOKEN_BYTES {
        return Err(E::NotLegacy);
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3
        || !parts[..2]
            .iter()
            .all(|part| super::strict_json::is_unambiguous_object(part))
    {
        return Err(E::NotLegacy);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| E::NotLegacy)?;
    if header.kid.is_some() || header.alg != Algorithm::HS256 || header.crit.is_some() {
        return Err(E::NotLegacy);
    }
    let candidates: Vec<_> = keys.legacy().iter().filter(|k| k.terms().refresh).collect();
    if candidates.is_empty() {
        return Err(placeholder(E::NotLegacy));
    }
    for key in candidates {
        let bad = || VerifyError::SignatureInvalid {
            kid: key.label().to_string(),
        };
        let claims = match decode_claims(token, |m, sig| key.verifies(m, sig), bad) {
            Ok(claims) => claims,
            Err(VerifyError::SignatureInvalid { .. }) => continue,
            Err(_) => return Err(E::Claims("its payload is not a JSON object of claims")),
        };
        let terms = key.terms();
        // After the sunset nothing of the former system's is honoured,
        // however good its signature.
        if now >= terms.sunset {
            return Err(E::Sunset {
                label: key.label().clone(),
            });
        }
        if let Some(issuer) = &terms.issuer {
            if claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str()) {
                return Err(E::Claims("its iss is not the legacy key's issuer"));
            }
        }
        let expires_at = match claims.get("exp") {
            None => None,
            Some(exp) => Some(
                exp.as_i64()
                    .ok_or(E::Claims("its exp claim is not an integer"))?,
            ),
        };
        if expires_at.is_some_and(|exp| now.saturating_sub(leeway) >= exp) {
            return Err(E::Expired);
        }
        let issued_at = match claims.get("iat") {
            None => None,
            Some(iat) => Some(
                iat.as_i64()
                    .ok_or(E::Claims("its iat claim is not an integer"))?,
            ),
        };
        let subject = subject(&claims, terms.subject_claim())
            .map_err(|_| E::Claims("its subject claim is missing or invalid"))?;
        return Ok(LegacyRefresh {
            label: key.label().clone(),
            subject,
            expires_at,
            issued_at,
        });
    }
    Err(placeholder(E::SignatureInvalid))
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, EncodingKey};
    use serde_json::json;

    use super::*;
    use crate::keys::LegacyKey;

    const SECRET: &[u8] = b"k3Jd9QmX0vL2pR7sT5wY8zB1nC4fH6gA";
    const NOW: i64 = 1_800_000_000;

    fn keys(terms: Legacy) -> VerifyingKeys {
        VerifyingKeys::default().with_legacy([LegacyKey::new(
            Kid::parse("monolith").unwrap(),
            DecodingKey::from_secret(SECRET),
            terms,
        )])
    }

    fn sign(secret: &[u8], claims: Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    fn refresh_terms() -> Legacy {
        Legacy {
            refresh: true,
            subject_claim: Some("user_id".into()),
            ..Legacy::until(NOW + 3600)
        }
    }

    #[test]
    fn the_subject_comes_from_the_mapped_claim_an_integer_in_decimal() {
        let terms = Legacy {
            subject_claim: Some("user_id".into()),
            audience: Some("api".into()),
            ..Legacy::until(NOW + 3600)
        };
        let keys = keys(terms);
        let expect = Expectations::new("https://inkan.test", NOW);
        let token = sign(
            SECRET,
            json!({"user_id": 42, "aud": "api", "iat": NOW, "exp": NOW + 60}),
        );
        let verified = super::super::verify_access_token(&token, &keys, &expect).unwrap();
        assert_eq!(verified.subject.as_str(), "42");
        assert!(verified.legacy);
        let no_aud = sign(SECRET, json!({"user_id": 42, "iat": NOW, "exp": NOW + 60}));
        assert!(matches!(
            super::super::verify_access_token(&no_aud, &keys, &expect),
            Err(VerifyError::AudienceMismatch { .. })
        ));
        let sub_only = sign(
            SECRET,
            json!({"sub": "42", "aud": "api", "iat": NOW, "exp": NOW + 60}),
        );
        assert!(matches!(
            super::super::verify_access_token(&sub_only, &keys, &expect),
            Err(VerifyError::Malformed(_))
        ));
    }

    #[test]
    fn a_token_without_aud_stands_for_its_keys_access_audience() {
        let mapped = keys(Legacy {
            subject_claim: Some("user_id".into()),
            access_audience: vec!["orders".into(), "billing".into()],
            access_scopes: vec!["orders:read".into()],
            ..Legacy::until(NOW + 3600)
        });
        let verify = |token: &str, audience: Option<&str>| {
            let mut expect = Expectations::new("https://inkan.test", NOW);
            expect.audience = audience;
            super::super::verify_access_token(token, &mapped, &expect)
        };
        let php = sign(SECRET, json!({"user_id": 42, "iat": NOW, "exp": NOW + 60}));
        for audience in [None, Some("orders"), Some("billing")] {
            let verified = verify(&php, audience).unwrap();
            assert_eq!(verified.audience, ["orders", "billing"]);
            assert_eq!(verified.scopes, ["orders:read"]);
            assert_eq!(verified.claims.keys().collect::<Vec<_>>(), ["user_id"]);
        }
        assert!(matches!(
            verify(&php, Some("payroll")),
            Err(VerifyError::AudienceMismatch { .. })
        ));
        // A token that names its audience and scopes keeps them.
        let own = sign(
            SECRET,
            json!({"user_id": 42, "aud": "payroll", "scope": "pay", "iat": NOW, "exp": NOW + 60}),
        );
        let verified = verify(&own, Some("payroll")).unwrap();
        assert_eq!(verified.scopes, ["pay"]);
        assert!(matches!(
            verify(&own, Some("orders")),
            Err(VerifyError::AudienceMismatch { .. })
        ));
        // Without access_audience, a token without aud names none.
        let plain = keys(Legacy {
            subject_claim: Some("user_id".into()),
            ..Legacy::until(NOW + 3600)
        });
        let mut expect = Expectations::new("https://inkan.test", NOW);
        expect.audience = Some("orders");
        assert!(matches!(
            super::super::verify_access_token(&php, &plain, &expect),
            Err(VerifyError::AudienceMismatch { .. })
        ));
    }

    #[test]
    fn a_key_for_refresh_only_verifies_no_access_token() {
        let keys = keys(Legacy {
            access: false,
            ..refresh_terms()
        });
        let token = sign(SECRET, json!({"user_id": 7, "iat": NOW, "exp": NOW + 60}));
        let expect = Expectations::new("https://inkan.test", NOW);
        assert!(matches!(
            super::super::verify_access_token(&token, &keys, &expect),
            Err(VerifyError::KeyUnknown(_))
        ));
    }

    #[test]
    fn a_refresh_token_is_verified_by_a_key_marked_for_refresh_until_its_sunset() {
        let token = sign(
            SECRET,
            json!({"user_id": 7, "iat": NOW - 10, "exp": NOW + 30 * 86_400, "type": "refresh"}),
        );
        let ok = verify_legacy_refresh_token(&token, &keys(refresh_terms()), NOW, 30).unwrap();
        assert_eq!(ok.subject.as_str(), "7");
        assert_eq!(ok.label.as_str(), "monolith");
        assert_eq!(ok.issued_at, Some(NOW - 10));
        // Not marked for refresh: no key takes it.
        let access_only = keys(Legacy::until(NOW + 3600));
        assert_eq!(
            verify_legacy_refresh_token(&token, &access_only, NOW, 30),
            Err(LegacyRefreshError::NotLegacy)
        );
        // After the sunset.
        assert!(matches!(
            verify_legacy_refresh_token(&token, &keys(refresh_terms()), NOW + 3600, 30),
            Err(LegacyRefreshError::Sunset { .. })
        ));
        // Expired.
        let old = sign(SECRET, json!({"user_id": 7, "exp": NOW - 60}));
        assert_eq!(
            verify_legacy_refresh_token(&old, &keys(refresh_terms()), NOW, 30),
            Err(LegacyRefreshError::Expired)
        );
        // Another secret; a placeholder.
        let other = sign(b"another-secret-another-secret-00", json!({"user_id": 7}));
        assert_eq!(
            verify_legacy_refresh_token(&other, &keys(refresh_terms()), NOW, 30),
            Err(LegacyRefreshError::SignatureInvalid)
        );
        let forged = sign(b"REFRESH_SECRET", json!({"user_id": 7}));
        assert!(matches!(
            verify_legacy_refresh_token(&forged, &keys(refresh_terms()), NOW, 30),
            Err(LegacyRefreshError::Placeholder(
                VerifyError::PlaceholderSigned {
                    placeholder: "REFRESH_SECRET",
                    ..
                }
            ))
        ));
    }

    #[test]
    fn a_placeholder_signed_access_token_is_a_signature_failure_with_or_without_legacy_keys() {
        let forged = sign(
            b"ACCESS_SECRET",
            json!({"sub": "7", "iat": NOW, "exp": NOW + 60}),
        );
        let expect = Expectations::new("https://inkan.test", NOW);
        for keys in [VerifyingKeys::default(), keys(Legacy::until(NOW + 3600))] {
            let err = super::super::verify_access_token(&forged, &keys, &expect).unwrap_err();
            assert_eq!(err.reason(), crate::Reason::SignatureInvalid);
            assert!(err.to_string().contains("\"ACCESS_SECRET\""), "{err}");
        }
    }
}
