//! One key of a validated set, built from its entry in the key-set file:
//! its kid, its times, its legacy terms and its material, each checked by
//! the step that owns it, in the file's order of fields.

use std::fmt;

use inkan_core::keys::Signer;
use jsonwebtoken::{jwk::Jwk, EncodingKey};

use super::{
    legacy::{self, LegacySessionGrant},
    material::Material,
    KeyAlgorithm, KeyFileEntry, KeySetError, KeyState, Legacy, LegacyKey, VerifyingKey,
};
use crate::ids::Kid;

/// One key of a validated set. Its `Debug` names the key, never its material.
#[derive(Clone)]
pub struct SigningKey {
    kid: Kid,
    alg: KeyAlgorithm,
    state: KeyState,
    /// The material, checked and parsed once when the set is loaded.
    material: Material,
    created_at: Option<i64>,
    retired_at: Option<i64>,
    legacy: Option<Legacy>,
    legacy_grant: Option<LegacySessionGrant>,
    allow_unpublished: bool,
}

impl SigningKey {
    /// The key's identifier.
    pub fn kid(&self) -> &Kid {
        &self.kid
    }

    /// The algorithm this key is bound to.
    pub fn alg(&self) -> KeyAlgorithm {
        self.alg
    }

    /// Where the key is in its life.
    pub fn state(&self) -> KeyState {
        self.state
    }

    /// The material that signs tokens.
    pub fn encoding_key(&self) -> &EncodingKey {
        &self.material.encoding
    }

    /// The key ready to sign: parsed once, when the set was loaded.
    pub fn signer(&self) -> &Signer {
        &self.material.signer
    }

    /// The public JWK, or `None` for a shared secret (never published).
    pub fn public_jwk(&self) -> Option<&Jwk> {
        self.material.public_jwk.as_ref()
    }

    /// A fingerprint to compare environments by: the RFC 7638 SHA-256
    /// thumbprint of the public key, or for a secret a slow PBKDF2 of it
    /// (so the fingerprint is no cheap test for guesses of the secret).
    pub fn fingerprint(&self) -> &str {
        &self.material.fingerprint
    }

    /// When the key was made, in Unix seconds, if the file says.
    pub fn created_at(&self) -> Option<i64> {
        self.created_at
    }

    /// When the key stopped signing, in Unix seconds, if it has.
    pub fn retired_at(&self) -> Option<i64> {
        self.retired_at
    }

    /// The legacy terms, if this is a former system's key.
    pub fn legacy(&self) -> Option<&Legacy> {
        self.legacy.as_ref()
    }

    /// For a legacy key marked for refresh: the audience and scopes of the
    /// sessions its refresh tokens are exchanged for.
    pub fn legacy_session_grant(&self) -> Option<&LegacySessionGrant> {
        self.legacy_grant.as_ref()
    }

    /// Whether the key file lets this key sign after a reload without
    /// having been published first (`"allow_unpublished": true`).
    pub fn allow_unpublished(&self) -> bool {
        self.allow_unpublished
    }

    /// The key as a verifier looks it up by kid.
    pub(super) fn verifying(&self) -> VerifyingKey {
        VerifyingKey::new(self.kid.clone(), self.alg, self.material.decoding.clone())
    }

    /// The key as a verifier tries it for tokens without a kid, if it is a
    /// legacy key.
    pub(super) fn legacy_key(&self) -> Option<LegacyKey> {
        let terms = self.legacy.clone()?;
        Some(LegacyKey::new(
            self.kid.clone(),
            self.material.decoding.clone(),
            terms,
        ))
    }

    /// Checks one entry of the key-set file and builds the key: its kid,
    /// its times, its legacy terms, then its material.
    pub(super) fn from_entry(entry: &KeyFileEntry) -> Result<Self, KeySetError> {
        super::choose_jwt_provider();
        let kid = Kid::parse(&entry.kid).map_err(|e| KeySetError::InvalidKid(e.to_string()))?;
        let name = kid.as_str();
        let created_at = unix_time(name, "created_at", entry.created_at.as_deref())?;
        let retired_at = unix_time(name, "retired_at", entry.retired_at.as_deref())?;
        let (legacy, legacy_grant) = legacy::terms(name, entry)?;
        let material = Material::from_entry(name, entry)?;
        Ok(Self {
            kid,
            alg: entry.alg,
            state: entry.state,
            material,
            created_at,
            retired_at,
            legacy,
            legacy_grant,
            allow_unpublished: entry.allow_unpublished,
        })
    }

    /// What the operator should hear about this key's material, if
    /// anything: it is accepted, but not as strong as it should be.
    pub fn warning(&self) -> Option<&str> {
        self.material.warning.as_deref()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .field("fingerprint", &self.material.fingerprint)
            .finish_non_exhaustive()
    }
}

/// An RFC 3339 time of key `kid`'s `field`, in Unix seconds, if given.
pub(super) fn unix_time(
    kid: &str,
    field: &'static str,
    value: Option<&str>,
) -> Result<Option<i64>, KeySetError> {
    value
        .map(|text| {
            humantime::parse_rfc3339_weak(text)
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .and_then(|d| i64::try_from(d.as_secs()).ok())
                .ok_or_else(|| KeySetError::Timestamp {
                    kid: kid.into(),
                    field,
                })
        })
        .transpose()
}
