//! The keys a verifier accepts, by kid. The server builds them from its key
//! set; a consumer builds them from the published JWKS. Both then run the
//! same verification code.

use std::{collections::HashMap, fmt, sync::Arc};

use jsonwebtoken::{
    jwk::{AlgorithmParameters, EllipticCurve, JwkSet},
    DecodingKey,
};

use super::{prepared::SignatureChecker, KeyAlgorithm};
use crate::ids::Kid;

/// What makes a key a legacy key: when it stops accepting, what issuer (and
/// audience) its tokens carry, which claim names their subject, what its
/// tokens may be used as, and whether it takes tokens that do not say when
/// they were issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Legacy {
    /// Unix seconds after which the key accepts nothing.
    pub sunset: i64,
    /// The `iss` its tokens must carry, when set.
    pub issuer: Option<String>,
    /// When set, tokens without `iat` are accepted with at most this many
    /// seconds left before their `exp`; when not, they are refused.
    pub max_remaining_without_iat: Option<i64>,
    /// The claim that holds the subject (`sub` when `None`): a string, or
    /// an integer, taken as its decimal form.
    pub subject_claim: Option<String>,
    /// The audience its access tokens must name in `aud`, when set.
    pub audience: Option<String>,
    /// The audiences an access token of it without `aud` stands for: the
    /// former system named none, but its tokens were meant for these
    /// services. Empty: such a token names no audience.
    pub access_audience: Vec<String>,
    /// The scopes an access token of it without `scope` carries.
    pub access_scopes: Vec<String>,
    /// Whether it verifies the former system's access tokens (Verify).
    pub access: bool,
    /// Whether it verifies the former system's refresh tokens, which
    /// Refresh exchanges once for an inkan session.
    pub refresh: bool,
}

impl Legacy {
    /// Terms that accept access tokens until `sunset`, with their subject
    /// in `sub`, any issuer and audience, and no token without `iat`.
    pub fn until(sunset: i64) -> Self {
        Self {
            sunset,
            issuer: None,
            max_remaining_without_iat: None,
            subject_claim: None,
            audience: None,
            access_audience: Vec::new(),
            access_scopes: Vec::new(),
            access: true,
            refresh: false,
        }
    }

    /// The claim that holds the subject.
    pub fn subject_claim(&self) -> &str {
        self.subject_claim.as_deref().unwrap_or("sub")
    }
}

/// One key that checks signatures, bound to one algorithm. The key is
/// parsed for checking once, here, not per token.
#[derive(Clone)]
pub struct VerifyingKey {
    kid: Kid,
    alg: KeyAlgorithm,
    decoding: DecodingKey,
    /// `None` when the material is no valid key for `alg`: nothing verifies.
    checker: Option<Arc<SignatureChecker>>,
}

impl VerifyingKey {
    /// A key bound to `alg`. Public keys normally come from a JWKS
    /// ([`VerifyingKeys::from_jwks_json`]); this is for the HS256 secrets a
    /// JWKS never carries.
    pub fn new(kid: Kid, alg: KeyAlgorithm, decoding: DecodingKey) -> Self {
        let checker = SignatureChecker::new(alg, &decoding).map(Arc::new);
        Self {
            kid,
            alg,
            decoding,
            checker,
        }
    }

    /// Whether `signature` is this key's signature of `message`.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.checker
            .as_ref()
            .is_some_and(|c| c.verify(message, signature))
    }

    /// The key's identifier.
    pub fn kid(&self) -> &Kid {
        &self.kid
    }

    /// The only algorithm this key verifies.
    pub fn alg(&self) -> KeyAlgorithm {
        self.alg
    }

    /// The material that checks signatures.
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// A former system's HS256 secret, tried only for tokens without a kid.
#[derive(Clone)]
pub struct LegacyKey {
    label: Kid,
    decoding: DecodingKey,
    checker: Option<Arc<SignatureChecker>>,
    terms: Legacy,
}

impl LegacyKey {
    /// A former system's HS256 secret, named `label`, accepted on `terms`.
    pub fn new(label: Kid, decoding: DecodingKey, terms: Legacy) -> Self {
        let checker = SignatureChecker::new(KeyAlgorithm::HS256, &decoding).map(Arc::new);
        Self {
            label,
            decoding,
            checker,
            terms,
        }
    }

    /// Whether `signature` is this secret's HS256 signature of `message`.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.checker
            .as_ref()
            .is_some_and(|c| c.verify(message, signature))
    }

    /// The key's name in the key set (never sent in a token).
    pub fn label(&self) -> &Kid {
        &self.label
    }

    /// The material that checks signatures (HS256 only).
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    /// When it stops accepting, and the issuer its tokens must carry.
    pub fn terms(&self) -> &Legacy {
        &self.terms
    }
}

impl fmt::Debug for LegacyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacyKey")
            .field("label", &self.label)
            .field("terms", &self.terms)
            .finish_non_exhaustive()
    }
}

/// Keys indexed by kid. There is no "try every key": a token names its key.
/// Only tokens without a kid are tried against the legacy keys, in order.
#[derive(Clone, Debug, Default)]
pub struct VerifyingKeys {
    by_kid: HashMap<String, VerifyingKey>,
    legacy: Vec<LegacyKey>,
}

impl VerifyingKeys {
    /// A set of `keys`, by kid (a later key with the same kid wins).
    pub fn new(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        Self {
            by_kid: keys
                .into_iter()
                .map(|k| (k.kid.as_str().to_owned(), k))
                .collect(),
            legacy: Vec::new(),
        }
    }

    /// The set with `keys` added (HS256 secrets the JWKS does not carry).
    pub fn with_keys(mut self, keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        self.by_kid
            .extend(keys.into_iter().map(|k| (k.kid.as_str().to_owned(), k)));
        self
    }

    /// The set with a former system's keys, tried in this order for tokens
    /// without a kid.
    pub fn with_legacy(mut self, legacy: impl IntoIterator<Item = LegacyKey>) -> Self {
        self.legacy = legacy.into_iter().collect();
        self
    }

    /// The legacy keys, in key-set order.
    pub fn legacy(&self) -> &[LegacyKey] {
        &self.legacy
    }

    /// Keys from a published JWKS. A JWK is taken only if it has a valid kid
    /// and an algorithm inkan uses that agrees with its key type; others are
    /// skipped, so a foreign entry can never widen what is accepted.
    pub fn from_jwks(jwks: &JwkSet) -> Self {
        let keys = jwks.keys.iter().filter_map(|jwk| {
            let kid = Kid::parse(jwk.common.key_id.as_deref()?).ok()?;
            let alg = match (
                &jwk.algorithm,
                jwk.common.key_algorithm?.to_string().as_str(),
            ) {
                (AlgorithmParameters::OctetKeyPair(p), "EdDSA")
                    if p.curve == EllipticCurve::Ed25519 =>
                {
                    KeyAlgorithm::EdDSA
                }
                (AlgorithmParameters::EllipticCurve(p), "ES256")
                    if p.curve == EllipticCurve::P256 =>
                {
                    KeyAlgorithm::ES256
                }
                (AlgorithmParameters::RSA(_), "RS256") => KeyAlgorithm::RS256,
                _ => return None,
            };
            let decoding = DecodingKey::from_jwk(jwk).ok()?;
            Some(VerifyingKey::new(kid, alg, decoding))
        });
        Self::new(keys)
    }

    /// The key with this kid, if the set has it.
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.by_kid.get(kid)
    }

    /// The kids this set knows, sorted, for messages that help an operator.
    pub fn kids(&self) -> Vec<&str> {
        let mut kids: Vec<&str> = self.by_kid.keys().map(String::as_str).collect();
        kids.sort_unstable();
        kids
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.by_kid.len()
    }

    /// Whether the set holds no key at all.
    pub fn is_empty(&self) -> bool {
        self.by_kid.is_empty()
    }
}
