//! Verifying access tokens. [`verify_access_token`] is the one
//! verification path: the Verify RPC, the start-up self-test and local
//! verifiers all call it.

use std::time::Duration;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde_json::{Map, Value};

use super::{
    RevocationCheck, VerifiedAccessToken, ACCESS_TOKEN_TYPE, MAX_TOKEN_BYTES, REFRESH_TOKEN_PREFIX,
    RESERVED_CLAIMS,
};
use crate::{
    ids::{ClientId, Kid, Scope, SessionId, Subject, TokenId},
    keys::VerifyingKeys,
    reason::Reason,
};

/// What a token must match besides its signature. Start from
/// [`Expectations::new`] and set what a call needs.
#[derive(Clone)]
pub struct Expectations<'a> {
    /// The exact `iss` value.
    pub issuer: &'a str,
    /// When set, `aud` must contain it.
    pub audience: Option<&'a str>,
    /// Every one of these must be in `scope`.
    pub required_scopes: &'a [Scope],
    /// Tolerated clock difference for `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// The current time, in Unix seconds.
    pub now: i64,
    /// Accept a token past its `exp` (still checking everything else): for
    /// revoking the session of a token that has already expired.
    pub allow_expired: bool,
    /// Who knows about revocations, when revocation is to be checked.
    pub revocations: Option<&'a dyn RevocationCheck>,
}

/// The leeway [`Expectations::new`] starts from: the contract's default,
/// which the server's `leeway` setting and `inkan-client`'s verifier also
/// start from, so that a consumer and the Verify RPC agree on a token near
/// its `exp`. Thirty seconds covers the drift of NTP-synchronised hosts
/// many times over while keeping an expired token usable only briefly.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

impl<'a> Expectations<'a> {
    /// Tokens of `issuer`, at `now` (Unix seconds): any audience, no
    /// required scope, the default 30 s leeway, no revocation check.
    pub fn new(issuer: &'a str, now: i64) -> Self {
        Self {
            issuer,
            audience: None,
            required_scopes: &[],
            leeway: DEFAULT_LEEWAY,
            now,
            allow_expired: false,
            revocations: None,
        }
    }
}

impl std::fmt::Debug for Expectations<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expectations")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("required_scopes", &self.required_scopes)
            .field("leeway", &self.leeway)
            .field("now", &self.now)
            .field("allow_expired", &self.allow_expired)
            .field("revocations", &self.revocations.is_some())
            .finish()
    }
}

/// Why an access token was refused. Messages are for a person and never
/// repeat the token or any unbounded part of it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VerifyError {
    /// Not a JWT inkan could read; says what is wrong with it.
    #[error("access token is malformed: {0}")]
    Malformed(&'static str),
    /// Past its `exp` (beyond the leeway).
    #[error("access token expired {ago} s ago; refresh it")]
    Expired {
        /// Seconds since `exp`.
        ago: i64,
    },
    /// `nbf` or `iat` in the future (beyond the leeway).
    #[error("access token is not valid for another {wait} s; check the clocks and retry")]
    NotYetValid {
        /// Seconds until it would be valid.
        wait: i64,
    },
    /// The named key does not verify the signature.
    #[error("access token signature does not verify with key {kid:?}; log in again")]
    SignatureInvalid {
        /// The key that was tried.
        kid: String,
    },
    /// No key of the set is the one the token names.
    #[error("{0}")]
    KeyUnknown(String),
    /// The header's `alg` is not the one the key is bound to.
    #[error("access token says alg {claimed} but key {kid:?} is bound to {bound}")]
    AlgorithmMismatch {
        /// What the header says.
        claimed: String,
        /// The key it names.
        kid: String,
        /// The key's own algorithm.
        bound: &'static str,
    },
    /// Not an access token; says what it looks like instead.
    #[error("{0}")]
    TypeInvalid(&'static str),
    /// `iss` is not the expected issuer.
    #[error("access token was issued by another issuer")]
    IssuerMismatch,
    /// The expected audience is not in `aud`.
    #[error("access token is not meant for audience {expected:?}")]
    AudienceMismatch {
        /// The audience that was expected.
        expected: String,
    },
    /// The session was revoked, or the subject's tokens were cut off.
    #[error("session has been revoked; log in again")]
    SessionRevoked,
    /// Required scopes are missing.
    #[error("access token lacks the required scopes: {}", missing.join(" "))]
    InsufficientScope {
        /// The scopes required but not granted.
        missing: Vec<String>,
    },
    /// No key verifies it, but a well-known placeholder secret does: it was
    /// forged, or issued while a secret was unset.
    #[error(
        "signed with the placeholder secret {placeholder:?}: forged, or issued while a secret \
         was unset; log in again"
    )]
    PlaceholderSigned {
        /// The placeholder that verifies its signature.
        placeholder: &'static str,
        /// Its `jti` (at most 64 printable characters) or, without one, the
        /// start of its SHA-256: what names it, once, in the security log.
        token_id: String,
    },
}

impl VerifyError {
    /// The contract reason for this failure.
    pub fn reason(&self) -> Reason {
        match self {
            VerifyError::Malformed(_) => Reason::TokenMalformed,
            VerifyError::Expired { .. } => Reason::TokenExpired,
            VerifyError::NotYetValid { .. } => Reason::TokenNotYetValid,
            VerifyError::SignatureInvalid { .. } | VerifyError::PlaceholderSigned { .. } => {
                Reason::SignatureInvalid
            }
            VerifyError::KeyUnknown(_) => Reason::KeyUnknown,
            VerifyError::AlgorithmMismatch { .. } => Reason::AlgorithmMismatch,
            VerifyError::TypeInvalid(_) => Reason::TokenTypeInvalid,
            VerifyError::IssuerMismatch => Reason::IssuerMismatch,
            VerifyError::AudienceMismatch { .. } => Reason::AudienceMismatch,
            VerifyError::SessionRevoked => Reason::SessionRevoked,
            VerifyError::InsufficientScope { .. } => Reason::InsufficientScope,
        }
    }
}

/// Verifies an access token against `keys`: the key is the one its `kid`
/// names, the algorithm is the one that key is bound to, and then `typ`,
/// `iss`, `exp`, `nbf`, `iat`, revocation, `aud` and scopes, in that order.
pub fn verify_access_token(
    token: &str,
    keys: &VerifyingKeys,
    expect: &Expectations<'_>,
) -> Result<VerifiedAccessToken, VerifyError> {
    use VerifyError as E;

    if token.len() > MAX_TOKEN_BYTES {
        return Err(E::Malformed("it is larger than 8 KiB"));
    }
    if token.starts_with(REFRESH_TOKEN_PREFIX) {
        return Err(E::TypeInvalid(
            "this is a refresh token; send it to Refresh, and send access tokens to Verify",
        ));
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(E::Malformed("a JWT has three dot-separated parts"));
    }
    if !parts[..2]
        .iter()
        .all(|part| super::strict_json::is_unambiguous_object(part))
    {
        return Err(E::Malformed(
            "its header or payload is not one base64url JSON object with unique member names",
        ));
    }
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| E::Malformed("its header is not a JWS header inkan accepts"))?;
    if header.crit.is_some() {
        // inkan understands no JWS extension, so any `crit` is unknown to it.
        return Err(E::Malformed(
            "it has a \"crit\" header naming extensions inkan does not support",
        ));
    }
    let Some(kid) = header.kid.as_deref() else {
        // Only a former system's tokens lack a kid; only legacy keys may
        // verify them, and a token with a kid never reaches a legacy key.
        return super::legacy::verify_legacy(token, &header, keys, expect).map_err(|err| {
            // Only a token that is already refused is tried against the
            // placeholders: the good path pays nothing, and the answer stays
            // a refusal (one that names what the signer already knows).
            match err {
                E::SignatureInvalid { .. } | E::KeyUnknown(_) => {
                    super::placeholder::placeholder_signed(token).unwrap_or(err)
                }
                other => other,
            }
        });
    };
    let Some(key) = keys.get(kid) else {
        let shown = Kid::parse(kid)
            .map(|k| format!("kid {:?}", k.as_str()))
            .unwrap_or_else(|_| "an invalid kid".into());
        return Err(E::KeyUnknown(format!(
            "access token was signed with {shown}, which this key set does not have; known kids: {}",
            keys.kids().join(", ")
        )));
    };
    let mismatch = || E::AlgorithmMismatch {
        claimed: format!("{:?}", header.alg),
        kid: key.kid().to_string(),
        bound: key.alg().as_str(),
    };
    if header.alg != key.alg().jws() {
        return Err(mismatch());
    }
    let claims = decode_claims(
        token,
        |message, signature| key.verifies(message, signature),
        || E::SignatureInvalid {
            kid: key.kid().to_string(),
        },
    )?;

    let typ_ok = header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE) || t.eq_ignore_ascii_case("application/at+jwt")
    });
    if !typ_ok {
        return Err(E::TypeInvalid(
            "token is not an access token (its typ header is not at+jwt); log in again",
        ));
    }
    check_claims(
        claims,
        Profile::Inkan {
            key_id: key.kid().clone(),
            issuer: expect.issuer,
        },
        expect,
    )
}

/// Checks the signature with `verifies` (a key bound to the header's
/// algorithm, already matched) and returns the claims. `token` has three
/// dot-separated parts.
pub(super) fn decode_claims(
    token: &str,
    verifies: impl Fn(&[u8], &[u8]) -> bool,
    bad_signature: impl Fn() -> VerifyError,
) -> Result<Map<String, Value>, VerifyError> {
    let malformed = || VerifyError::Malformed("its payload is not a JSON object of claims");
    let (message, signature) = token.rsplit_once('.').ok_or_else(malformed)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| malformed())?;
    if !verifies(message.as_bytes(), &signature) {
        return Err(bad_signature());
    }
    let (_, payload) = message.split_once('.').ok_or_else(malformed)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| malformed())?;
    serde_json::from_slice(&payload).map_err(|_| malformed())
}

/// The earliest time a token can have been issued. Without `iat` (only a
/// former system's tokens lack it) that is its `exp` less the longest
/// lifetime a legacy token may have: a token accepted as an access token
/// lives no longer. So a subject's cut-off refuses such a token until
/// tokens issued after the cut-off could carry its `exp`, and no longer:
/// refusing every token without `iat` while any cut-off stands would also
/// lock out a token the former system issued after the revocation.
fn issued_no_earlier_than(iat: Option<i64>, exp: i64) -> i64 {
    iat.unwrap_or_else(|| exp.saturating_sub(super::LEGACY_MAX_LIFETIME_SECS))
}

/// Which rules a token's claims follow.
pub(super) enum Profile<'a> {
    /// An inkan token: every RFC 9068 claim inkan signs must be there.
    Inkan { key_id: Kid, issuer: &'a str },
    /// A former system's token: a subject (in the claim its key names) and
    /// `exp` at least; `iss` and `aud` only when the legacy key names them.
    Legacy {
        label: Kid,
        issuer: Option<&'a str>,
        subject_claim: &'a str,
        audience: Option<&'a str>,
    },
}

/// Checks the claims of a token whose signature verified, in the order a
/// refusal is reported: issuer, times, subject, inkan's ids, revocation,
/// audience, scopes. Returns what the token says, its reserved claims
/// taken out of `claims`.
pub(super) fn check_claims(
    mut claims: Map<String, Value>,
    profile: Profile<'_>,
    expect: &Expectations<'_>,
) -> Result<VerifiedAccessToken, VerifyError> {
    let strict = matches!(profile, Profile::Inkan { .. });
    check_issuer(&claims, &profile)?;
    let times = check_times(&claims, strict, expect)?;
    let subject = match &profile {
        Profile::Inkan { .. } => text(&claims, "sub")
            .and_then(|s| Subject::parse(&s).ok())
            .ok_or(VerifyError::Malformed(
                "its sub claim is missing or invalid",
            ))?,
        Profile::Legacy { subject_claim, .. } => super::legacy::subject(&claims, subject_claim)?,
    };
    // A former system's `jti`, `sid` and `client_id` are in its own formats
    // (RFC 7519 lets them be any string) and name nothing of inkan's: they
    // are neither parsed nor kept, so `"jti": "legacy-1"` is no reason to
    // refuse a legacy token, and never names an inkan session.
    let ids = if strict {
        inkan_ids(&claims)?
    } else {
        InkanIds::default()
    };
    check_revocation(
        ids.session_id.as_ref(),
        &subject,
        issued_no_earlier_than(times.issued_at, times.expires_at),
        expect,
    )?;
    let audience = check_audience_claim(&claims, &profile, strict, expect)?;
    let scopes = scopes_of(&claims)?;
    check_scopes(&scopes, expect)?;

    claims.retain(|name, _| !RESERVED_CLAIMS.contains(&name.as_str()));
    let (key_id, legacy) = match profile {
        Profile::Inkan { key_id, .. } => (key_id, false),
        Profile::Legacy { label, .. } => (label, true),
    };
    Ok(VerifiedAccessToken {
        subject,
        session_id: ids.session_id,
        token_id: ids.token_id,
        client_id: ids.client_id,
        scopes,
        audience,
        key_id,
        legacy,
        issued_at: times.issued_at.unwrap_or(times.expires_at),
        expires_at: times.expires_at,
        claims,
    })
}

/// A string claim, if it is one.
fn text(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// The `iss` the token's profile requires, if any: inkan's own issuer, or
/// the one a legacy key names.
fn check_issuer(claims: &Map<String, Value>, profile: &Profile<'_>) -> Result<(), VerifyError> {
    let issuer = match profile {
        Profile::Inkan { issuer, .. } => Some(*issuer),
        Profile::Legacy { issuer, .. } => *issuer,
    };
    match issuer {
        Some(issuer) if text(claims, "iss").as_deref() != Some(issuer) => {
            Err(VerifyError::IssuerMismatch)
        }
        _ => Ok(()),
    }
}

/// A token's times, checked for form and against now.
struct Times {
    expires_at: i64,
    /// `iat`: required of inkan's tokens, optional for a former system's.
    issued_at: Option<i64>,
}

/// Reads `exp`, `iat` and `nbf` (each an integer when present; `exp`
/// always, `iat` when `strict`), then refuses a token past its expiry or
/// not yet valid, with the leeway.
fn check_times(
    claims: &Map<String, Value>,
    strict: bool,
    expect: &Expectations<'_>,
) -> Result<Times, VerifyError> {
    use VerifyError as E;
    let leeway = i64::try_from(expect.leeway.as_secs()).unwrap_or(i64::MAX);
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(E::Malformed("its exp claim is missing or not an integer"))?;
    let iat = match claims.get("iat") {
        None if !strict => None,
        v => Some(
            v.and_then(Value::as_i64)
                .ok_or(E::Malformed("its iat claim is missing or not an integer"))?,
        ),
    };
    let nbf = match claims.get("nbf") {
        None => None,
        Some(v) => Some(
            v.as_i64()
                .ok_or(E::Malformed("its nbf claim is not an integer"))?,
        ),
    };
    check_expiry(exp, expect)?;
    for not_before in nbf.into_iter().chain(iat) {
        if not_before > expect.now.saturating_add(leeway) {
            return Err(E::NotYetValid {
                wait: not_before.saturating_sub(expect.now),
            });
        }
    }
    Ok(Times {
        expires_at: exp,
        issued_at: iat,
    })
}

/// What names inkan's session, token and client in one of its tokens.
#[derive(Default)]
struct InkanIds {
    token_id: Option<TokenId>,
    session_id: Option<SessionId>,
    client_id: Option<ClientId>,
}

/// `jti`, `sid` and `client_id`, each required and valid in inkan's own
/// tokens.
fn inkan_ids(claims: &Map<String, Value>) -> Result<InkanIds, VerifyError> {
    fn required<T>(
        claims: &Map<String, Value>,
        name: &str,
        parse: impl Fn(&str) -> Option<T>,
        problem: &'static str,
    ) -> Result<Option<T>, VerifyError> {
        claims
            .get(name)
            .and_then(Value::as_str)
            .and_then(parse)
            .map(Some)
            .ok_or(VerifyError::Malformed(problem))
    }
    Ok(InkanIds {
        token_id: required(
            claims,
            "jti",
            |s| TokenId::parse(s).ok(),
            "its jti claim is missing or invalid",
        )?,
        session_id: required(
            claims,
            "sid",
            |s| SessionId::parse(s).ok(),
            "its sid claim is missing or invalid",
        )?,
        client_id: required(
            claims,
            "client_id",
            |s| ClientId::parse(s).ok(),
            "its client_id claim is missing or invalid",
        )?,
    })
}

/// The token's `aud` (a string or a non-empty array of strings; required
/// of inkan's tokens), checked against the audience a legacy key requires
/// and then the caller's.
fn check_audience_claim(
    claims: &Map<String, Value>,
    profile: &Profile<'_>,
    strict: bool,
    expect: &Expectations<'_>,
) -> Result<Vec<String>, VerifyError> {
    use VerifyError as E;
    let audience: Vec<String> = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) if !many.is_empty() => many
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or(E::Malformed(
                "its aud claim is not a string or an array of strings",
            ))?,
        None if !strict => Vec::new(),
        _ => return Err(E::Malformed("its aud claim is missing or empty")),
    };
    if let Profile::Legacy {
        audience: Some(required),
        ..
    } = profile
    {
        if !audience.iter().any(|a| a == *required) {
            return Err(E::AudienceMismatch {
                expected: required.chars().take(255).collect(),
            });
        }
    }
    check_audience(&audience, expect)?;
    Ok(audience)
}

/// The token's scopes: its `scope` claim split on spaces (none when
/// absent).
fn scopes_of(claims: &Map<String, Value>) -> Result<Vec<String>, VerifyError> {
    match claims.get("scope") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()),
        Some(_) => Err(VerifyError::Malformed("its scope claim is not a string")),
    }
}

/// Checks a token that passed [`verify_access_token`] before against a new
/// call's expectations: what can change between two calls with the same
/// token (the time, revocations) and what a call asks (audience, scopes),
/// in the order and with the answers `verify_access_token` gives. What
/// cannot change (signature, type, issuer, the claims' forms, `nbf` and
/// `iat` once passed) is not checked again.
///
/// Only for inkan's own tokens: a former system's token may lack `iat`,
/// which a subject's cut-off needs ([`VerifiedAccessToken::issued_at`]
/// stands in for it there), and its legacy key has a sunset.
pub fn recheck_verified(
    verified: &VerifiedAccessToken,
    expect: &Expectations<'_>,
) -> Result<(), VerifyError> {
    debug_assert!(!verified.legacy, "legacy tokens are verified in full");
    check_expiry(verified.expires_at, expect)?;
    check_revocation(
        verified.session_id.as_ref(),
        &verified.subject,
        verified.issued_at,
        expect,
    )?;
    check_audience(&verified.audience, expect)?;
    check_scopes(&verified.scopes, expect)
}

fn check_expiry(exp: i64, expect: &Expectations<'_>) -> Result<(), VerifyError> {
    let leeway = i64::try_from(expect.leeway.as_secs()).unwrap_or(i64::MAX);
    if !expect.allow_expired && expect.now.saturating_sub(leeway) >= exp {
        return Err(VerifyError::Expired {
            ago: expect.now.saturating_sub(exp),
        });
    }
    Ok(())
}

fn check_revocation(
    session: Option<&SessionId>,
    subject: &Subject,
    issued_no_earlier_than: i64,
    expect: &Expectations<'_>,
) -> Result<(), VerifyError> {
    let Some(revocations) = expect.revocations else {
        return Ok(());
    };
    // A revoked session's tokens are refused for that reason first: it is
    // the one that tells the client to log in again.
    if session.is_some_and(|session| revocations.is_revoked(session)) {
        return Err(VerifyError::SessionRevoked);
    }
    // Revoking a whole subject also refuses its tokens issued before then,
    // including those that name no session (a former system's).
    if revocations
        .subject_cut_off(subject)
        .is_some_and(|cut_off| issued_no_earlier_than < cut_off)
    {
        return Err(VerifyError::SessionRevoked);
    }
    Ok(())
}

fn check_audience(audience: &[String], expect: &Expectations<'_>) -> Result<(), VerifyError> {
    if let Some(expected) = expect.audience {
        if !audience.iter().any(|a| a == expected) {
            return Err(VerifyError::AudienceMismatch {
                expected: expected.chars().take(255).collect(),
            });
        }
    }
    Ok(())
}

fn check_scopes(scopes: &[String], expect: &Expectations<'_>) -> Result<(), VerifyError> {
    let missing: Vec<String> = expect
        .required_scopes
        .iter()
        .filter(|wanted| !scopes.iter().any(|s| s == wanted.as_str()))
        .map(|s| s.as_str().to_owned())
        .collect();
    if !missing.is_empty() {
        return Err(VerifyError::InsufficientScope { missing });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A subject cut off at 1000; no session revoked.
    struct CutOff;

    impl RevocationCheck for CutOff {
        fn is_revoked(&self, _: &SessionId) -> bool {
            false
        }

        fn subject_cut_off(&self, subject: &Subject) -> Option<i64> {
            (subject.as_str() == "user-42").then_some(1_000)
        }
    }

    fn legacy_claims(iat: Option<i64>, exp: i64) -> Map<String, Value> {
        let mut claims = serde_json::json!({"sub": "user-42", "exp": exp});
        if let Some(iat) = iat {
            claims["iat"] = iat.into();
        }
        match claims {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn check(claims: Map<String, Value>, now: i64) -> Result<VerifiedAccessToken, VerifyError> {
        let mut expect = Expectations::new("https://inkan.test", now);
        expect.revocations = Some(&CutOff);
        let profile = Profile::Legacy {
            label: Kid::parse("monolith").map_err(|_| VerifyError::Malformed("kid"))?,
            issuer: None,
            subject_claim: "sub",
            audience: None,
        };
        check_claims(claims, profile, &expect)
    }

    #[test]
    fn a_token_issued_before_its_subjects_cut_off_is_refused() {
        let refused = check(legacy_claims(Some(999), 1_600), 1_100).unwrap_err();
        assert_eq!(refused, VerifyError::SessionRevoked);
        assert_eq!(refused.reason(), Reason::SessionRevoked);
        assert!(check(legacy_claims(Some(1_000), 1_600), 1_100).is_ok());
        let mut other = legacy_claims(Some(999), 1_600);
        other["sub"] = "user-7".into();
        assert!(check(other, 1_100).is_ok(), "other subjects are untouched");
    }

    #[test]
    fn without_iat_a_token_counts_as_issued_a_legacy_lifetime_before_its_exp() {
        let day = super::super::LEGACY_MAX_LIFETIME_SECS;
        // Could have been issued before the cut-off: refused.
        let refused = check(legacy_claims(None, 1_000 + day - 1), 1_100).unwrap_err();
        assert_eq!(refused, VerifyError::SessionRevoked);
        // Expires a full legacy lifetime after the cut-off: issued after it.
        assert!(check(legacy_claims(None, 1_000 + day), 1_100).is_ok());
    }
}
