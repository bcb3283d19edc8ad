//! A validated key set: what the server signs with and publishes.

use std::{fmt, path::Path, sync::Arc};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use inkan_core::keys::Signer;
use jsonwebtoken::{
    jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash},
    DecodingKey, EncodingKey,
};
use secrecy::ExposeSecret;
use sha2::Sha256;

use super::{
    legacy::LegacySessionGrant,
    strength::{check_rsa_size, check_secret_strength},
    KeyAlgorithm, KeyFileEntry, KeySetError, KeySetFile, KeyState, Legacy, LegacyKey, VerifyingKey,
    VerifyingKeys,
};
use crate::ids::Kid;

/// One key of a validated set. Its `Debug` names the key, never its material.
#[derive(Clone)]
pub struct SigningKey {
    kid: Kid,
    alg: KeyAlgorithm,
    state: KeyState,
    encoding: EncodingKey,
    /// The key parsed for signing, once, when the set is loaded.
    signer: Arc<Signer>,
    decoding: DecodingKey,
    public_jwk: Option<Jwk>,
    fingerprint: String,
    created_at: Option<i64>,
    retired_at: Option<i64>,
    legacy: Option<Legacy>,
    legacy_grant: Option<LegacySessionGrant>,
    allow_unpublished: bool,
}

/// The most `max_remaining_without_iat` may allow: the 24 h no legacy token
/// may outlive (`token::legacy`).
const MAX_REMAINING_WITHOUT_IAT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

fn unix_time(
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
        &self.encoding
    }

    /// The key ready to sign: parsed once, when the set was loaded.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// The public JWK, or `None` for a shared secret (never published).
    pub fn public_jwk(&self) -> Option<&Jwk> {
        self.public_jwk.as_ref()
    }

    /// A fingerprint to compare environments by: the RFC 7638 SHA-256
    /// thumbprint of the public key, or for a secret a slow PBKDF2 of it
    /// (so the fingerprint is no cheap test for guesses of the secret).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
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

    fn verifying(&self) -> VerifyingKey {
        VerifyingKey::new(self.kid.clone(), self.alg, self.decoding.clone())
    }

    fn from_entry(entry: &KeyFileEntry) -> Result<Self, KeySetError> {
        super::choose_jwt_provider();
        let kid = Kid::parse(&entry.kid).map_err(|e| KeySetError::InvalidKid(e.to_string()))?;
        let name = kid.as_str().to_owned();
        let mismatch = || KeySetError::MaterialMismatch {
            kid: name.clone(),
            alg: entry.alg.as_str(),
        };
        let wrong_field = |needed, unexpected| KeySetError::WrongMaterialField {
            kid: name.clone(),
            alg: entry.alg.as_str(),
            needed,
            unexpected,
        };

        let created_at = unix_time(&name, "created_at", entry.created_at.as_deref())?;
        let retired_at = unix_time(&name, "retired_at", entry.retired_at.as_deref())?;
        let mut legacy_grant = None;
        let legacy = if entry.legacy {
            if entry.alg != KeyAlgorithm::HS256 || entry.state != KeyState::VerifyOnly {
                return Err(KeySetError::LegacyTerms {
                    kid: name,
                    problem: "a legacy key must be HS256 and verify_only",
                });
            }
            let Some(sunset) = unix_time(&name, "sunset", entry.sunset.as_deref())? else {
                return Err(KeySetError::LegacyTerms {
                    kid: name,
                    problem:
                        "a legacy key needs a sunset (RFC 3339) after which it accepts nothing",
                });
            };
            let max_remaining_without_iat = entry
                .max_remaining_without_iat
                .as_deref()
                .map(|text| {
                    humantime::parse_duration(text)
                        .ok()
                        .filter(|d| !d.is_zero() && *d <= MAX_REMAINING_WITHOUT_IAT)
                        .and_then(|d| i64::try_from(d.as_secs()).ok())
                        .ok_or_else(|| KeySetError::LegacyTerms {
                            kid: name.clone(),
                            problem:
                                "max_remaining_without_iat must be a duration such as \"15m\", \
                                      more than 0 and at most 24h",
                        })
                })
                .transpose()?;
            let (terms, grant) = super::legacy::mapping(&name, entry)?;
            legacy_grant = grant;
            Some(Legacy {
                sunset,
                issuer: entry.issuer.clone(),
                max_remaining_without_iat,
                ..terms
            })
        } else {
            if entry.sunset.is_some()
                || entry.issuer.is_some()
                || entry.max_remaining_without_iat.is_some()
                || entry.subject_claim.is_some()
                || entry.audience.is_some()
                || entry.uses.is_some()
                || entry.session_audience.is_some()
                || entry.session_scopes.is_some()
            {
                return Err(KeySetError::LegacyTerms {
                    kid: name,
                    problem: "sunset, issuer, max_remaining_without_iat, subject_claim, audience, \
                              use, session_audience and session_scopes belong to legacy keys \
                              only (set \"legacy\": true)",
                });
            }
            None
        };

        let (encoding, decoding) = if entry.alg.is_symmetric() {
            let (None, Some(secret)) = (&entry.private_key_pem, &entry.secret) else {
                return Err(wrong_field("\"secret\"", "\"private_key_pem\""));
            };
            let encoded = secret.expose_secret().trim();
            let bytes = URL_SAFE_NO_PAD
                .decode(encoded)
                .map_err(|_| KeySetError::SecretEncoding { kid: name.clone() })?;
            check_secret_strength(&name, encoded, &bytes)?;
            (
                EncodingKey::from_secret(&bytes),
                DecodingKey::from_secret(&bytes),
            )
        } else {
            let (Some(pem), None) = (&entry.private_key_pem, &entry.secret) else {
                return Err(wrong_field("\"private_key_pem\"", "\"secret\""));
            };
            let pem = pem.expose_secret().as_bytes();
            let encoding = match entry.alg {
                KeyAlgorithm::EdDSA => EncodingKey::from_ed_pem(pem),
                KeyAlgorithm::ES256 => EncodingKey::from_ec_pem(pem),
                KeyAlgorithm::RS256 => {
                    check_rsa_size(&name, pem)?;
                    EncodingKey::from_rsa_pem(pem)
                }
                KeyAlgorithm::HS256 => return Err(mismatch()),
            }
            .map_err(|_| mismatch())?;
            let jwk = Jwk::from_encoding_key(&encoding, entry.alg.jws()).map_err(|_| mismatch())?;
            let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| mismatch())?;
            (encoding, decoding)
        };

        let signer = Arc::new(Signer::new(entry.alg, &encoding).map_err(|_| mismatch())?);
        let public_jwk = if entry.alg.is_symmetric() {
            None
        } else {
            let mut jwk =
                Jwk::from_encoding_key(&encoding, entry.alg.jws()).map_err(|_| mismatch())?;
            jwk.common.key_id = Some(name.clone());
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            Some(jwk)
        };
        let fingerprint = match &public_jwk {
            Some(jwk) => jwk
                .thumbprint(ThumbprintHash::SHA256)
                .map_err(|_| KeySetError::PublicKey { kid: name.clone() })?,
            None => secret_fingerprint(&encoding),
        };
        Ok(Self {
            kid,
            alg: entry.alg,
            state: entry.state,
            encoding,
            signer,
            decoding,
            public_jwk,
            fingerprint,
            created_at,
            retired_at,
            legacy,
            legacy_grant,
            allow_unpublished: entry.allow_unpublished,
        })
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Rounds of the shared-secret fingerprint: slow enough that a logged
/// fingerprint is no practical way to test guesses of a secret.
const FINGERPRINT_ROUNDS: u32 = 200_000;

fn secret_fingerprint(key: &EncodingKey) -> String {
    let mut out = [0u8; 16];
    pbkdf2::pbkdf2_hmac::<Sha256>(
        key.as_bytes(),
        b"inkan key fingerprint",
        FINGERPRINT_ROUNDS,
        &mut out,
    );
    URL_SAFE_NO_PAD.encode(out)
}

/// A validated key set: exactly one active key, unique kids, every key's
/// material matching its algorithm.
#[derive(Clone, Debug)]
pub struct KeySet {
    keys: Vec<SigningKey>,
    active: usize,
}

impl KeySet {
    /// Validates a parsed key-set file.
    pub fn from_file_contents(file: &KeySetFile) -> Result<Self, KeySetError> {
        if file.keys.is_empty() {
            return Err(KeySetError::Empty);
        }
        let mut keys: Vec<SigningKey> = Vec::with_capacity(file.keys.len());
        for entry in &file.keys {
            let key = SigningKey::from_entry(entry)?;
            if keys.iter().any(|k| k.kid == key.kid) {
                return Err(KeySetError::DuplicateKid(key.kid.to_string()));
            }
            keys.push(key);
        }
        let active: Vec<usize> = (0..keys.len())
            .filter(|&i| keys[i].state == KeyState::Active)
            .collect();
        match active[..] {
            [one] => Ok(Self { keys, active: one }),
            [] => Err(KeySetError::NoActiveKey),
            _ => Err(KeySetError::SeveralActiveKeys(active.len())),
        }
    }

    /// Reads and validates a key-set file.
    pub fn load(path: &Path) -> Result<Self, KeySetError> {
        Self::from_file_contents(&KeySetFile::read(path)?)
    }

    /// A set of one freshly generated key that lives only in memory: for dev
    /// mode and tests, never for anything that must survive a restart.
    pub fn ephemeral(alg: KeyAlgorithm) -> Result<Self, KeySetError> {
        Self::from_file_contents(&KeySetFile::generate(alg)?)
    }

    /// The one key that signs new tokens.
    pub fn active(&self) -> &SigningKey {
        &self.keys[self.active]
    }

    /// Every key, in file order.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// The public keys (every state; never a secret), as RFC 7517 publishes
    /// them.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self
                .keys
                .iter()
                .filter_map(|k| k.public_jwk.clone())
                .collect(),
        }
    }

    /// Why consumers cannot check this set's new tokens themselves, if
    /// they cannot: the active key is a shared secret, which is never
    /// published, so only Verify can check its tokens.
    pub fn local_verification_warning(&self) -> Option<String> {
        let active = self.active();
        if !active.alg.is_symmetric() {
            return None;
        }
        Some(if self.jwks().keys.is_empty() {
            "the key set holds only HS256 keys, which are never published: the JWKS is empty, so no \
             consumer can verify tokens locally, only through Verify"
                .to_owned()
        } else {
            format!(
                "the active key {} is HS256, which is never published: no consumer can verify the tokens \
                 it signs locally, only through Verify",
                active.kid
            )
        })
    }

    /// The keys this set accepts signatures from: the asymmetric ones
    /// built from the set's own JWKS, exactly as a consumer builds them
    /// (so the server's Verify and every consumer run one path), the HS256
    /// secrets the JWKS never carries, and the legacy keys apart (tried
    /// only for tokens without a kid).
    pub fn verifying_keys(&self) -> VerifyingKeys {
        // The set's own JWKS always parses back; were it ever not to, no
        // asymmetric key would verify and the start-up self-test, which
        // signs and verifies through these keys, would refuse to serve.
        let published = serde_json::to_string(&self.jwks())
            .ok()
            .and_then(|json| VerifyingKeys::from_jwks_json(&json).ok())
            .unwrap_or_default();
        let secrets = self
            .keys
            .iter()
            .filter(|k| k.legacy.is_none() && k.alg.is_symmetric())
            .map(SigningKey::verifying);
        published
            .with_keys(secrets)
            .with_legacy(self.keys.iter().filter_map(|k| {
                let terms = k.legacy.clone()?;
                Some(LegacyKey::new(k.kid.clone(), k.decoding.clone(), terms))
            }))
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::keys::LegacyUse;

    fn hs_entry(kid: &str, secret: &[u8]) -> KeyFileEntry {
        KeyFileEntry {
            kid: kid.into(),
            alg: KeyAlgorithm::HS256,
            state: KeyState::Active,
            created_at: None,
            retired_at: None,
            legacy: false,
            sunset: None,
            issuer: None,
            max_remaining_without_iat: None,
            subject_claim: None,
            audience: None,
            uses: None,
            session_audience: None,
            session_scopes: None,
            allow_unpublished: false,
            private_key_pem: None,
            secret: Some(SecretString::from(URL_SAFE_NO_PAD.encode(secret))),
        }
    }

    fn load(keys: Vec<KeyFileEntry>) -> Result<KeySet, KeySetError> {
        KeySet::from_file_contents(&KeySetFile { keys })
    }

    #[test]
    fn every_asymmetric_algorithm_generates_a_usable_published_key() {
        for alg in [
            KeyAlgorithm::EdDSA,
            KeyAlgorithm::ES256,
            KeyAlgorithm::RS256,
        ] {
            let set = KeySet::ephemeral(alg).unwrap();
            let jwks = set.jwks();
            assert_eq!(jwks.keys.len(), 1, "{alg}");
            let jwk = &jwks.keys[0];
            assert_eq!(
                jwk.common.key_id.as_deref(),
                Some(set.active().kid().as_str())
            );
            let json = serde_json::to_string(jwk).unwrap();
            assert!(
                !json.contains("\"d\""),
                "{alg} JWK leaks a private part: {json}"
            );
        }
    }

    #[test]
    fn a_shared_secret_is_never_published() {
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        let set = load(vec![hs_entry("hs", &secret)]).unwrap();
        assert!(set.jwks().keys.is_empty());
        let shown = format!("{set:?} {:?}", hs_entry("hs", &secret));
        assert!(!shown.contains(&URL_SAFE_NO_PAD.encode(secret)), "{shown}");
    }

    #[test]
    fn a_set_that_signs_with_a_secret_says_it_cannot_be_verified_locally() {
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        let only = load(vec![hs_entry("hs", &secret)]).unwrap();
        let warning = only.local_verification_warning().unwrap();
        assert!(
            warning.contains("JWKS is empty") && warning.contains("only through Verify"),
            "{warning}"
        );
        let mut published =
            KeyFileEntry::generate(KeyAlgorithm::EdDSA, KeyState::VerifyOnly).unwrap();
        published.kid = "ed".into();
        let mixed = load(vec![hs_entry("hs", &secret), published]).unwrap();
        assert!(mixed
            .local_verification_warning()
            .unwrap()
            .contains("active key hs is HS256"));
        let ed = KeySet::ephemeral(KeyAlgorithm::EdDSA).unwrap();
        assert_eq!(ed.local_verification_warning(), None);
    }

    #[test]
    fn weak_and_placeholder_secrets_are_refused() {
        let short = load(vec![hs_entry("hs", b"0123456789")]).unwrap_err();
        assert_eq!(
            short.to_string(),
            "key \"hs\": HS256 secret has 10 bytes; at least 32 random bytes are required"
        );
        for weak in [
            "changemechangemechangemechangeme".as_bytes(),
            b"SECRETSECRETSECRETSECRETSECRETSECRET",
            b"ACCESS_SECRETACCESS_SECRETACCESS_SECRET",
            &[b'x'; 40],
        ] {
            let err = load(vec![hs_entry("hs", weak)]).unwrap_err();
            assert!(
                matches!(err, KeySetError::SecretPlaceholder { .. }),
                "{err}"
            );
        }
    }

    #[test]
    fn a_placeholder_typed_straight_into_the_file_is_refused() {
        // Typed, not encoded: these decode to 33 patterned bytes.
        for typed in ["a".repeat(44), "changeme".repeat(6), "abcdefgh".repeat(6)] {
            let mut entry = hs_entry("hs", b"");
            entry.secret = Some(SecretString::from(typed.clone()));
            let err = load(vec![entry]).unwrap_err();
            assert!(
                matches!(err, KeySetError::SecretPlaceholder { .. }),
                "{typed}: {err}"
            );
        }
    }

    #[test]
    fn a_set_needs_exactly_one_active_key() {
        let mut a = KeyFileEntry::generate(KeyAlgorithm::EdDSA, KeyState::VerifyOnly).unwrap();
        let err = load(vec![a]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "key set has no active key; exactly one key must have state \"active\""
        );
        a = KeyFileEntry::generate(KeyAlgorithm::EdDSA, KeyState::Active).unwrap();
        let b = KeyFileEntry::generate(KeyAlgorithm::EdDSA, KeyState::Active).unwrap();
        assert!(matches!(
            load(vec![a, b]).unwrap_err(),
            KeySetError::SeveralActiveKeys(2)
        ));
    }

    #[test]
    fn an_algorithm_must_match_its_material() {
        let mut entry = KeyFileEntry::generate(KeyAlgorithm::EdDSA, KeyState::Active).unwrap();
        entry.alg = KeyAlgorithm::ES256;
        let err = load(vec![entry]).unwrap_err();
        assert!(
            matches!(err, KeySetError::MaterialMismatch { alg: "ES256", .. }),
            "{err}"
        );
    }

    #[test]
    fn short_rsa_keys_are_refused() {
        use rsa::pkcs8::{EncodePrivateKey, LineEnding};
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
        let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        let entry = KeyFileEntry {
            kid: "old-rsa".into(),
            alg: KeyAlgorithm::RS256,
            state: KeyState::Active,
            created_at: None,
            retired_at: None,
            legacy: false,
            sunset: None,
            issuer: None,
            max_remaining_without_iat: None,
            subject_claim: None,
            audience: None,
            uses: None,
            session_audience: None,
            session_scopes: None,
            allow_unpublished: false,
            private_key_pem: Some(SecretString::from(pem.as_str())),
            secret: None,
        };
        let err = load(vec![entry]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "key \"old-rsa\": RSA key has 1024 bits; at least 2048 are required"
        );
    }

    #[test]
    fn only_a_legacy_key_may_take_tokens_without_iat_and_for_at_most_a_day() {
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        let legacy = |bound: &str| {
            let mut entry = hs_entry("old", &secret);
            entry.state = KeyState::VerifyOnly;
            entry.legacy = true;
            entry.sunset = Some("2099-01-01T00:00:00Z".into());
            entry.max_remaining_without_iat = Some(bound.into());
            let active = KeyFileEntry::generate(KeyAlgorithm::EdDSA, KeyState::Active).unwrap();
            load(vec![active, entry])
        };
        let set = legacy("15m").unwrap();
        let terms = set.keys()[1].legacy().unwrap();
        assert_eq!(terms.max_remaining_without_iat, Some(900));
        assert!(legacy("24h").is_ok());
        for bad in ["0s", "25h", "a while"] {
            let err = legacy(bad).unwrap_err();
            assert!(
                err.to_string().contains("max_remaining_without_iat"),
                "{bad}: {err}"
            );
        }
        let mut current = hs_entry("hs", &secret);
        current.max_remaining_without_iat = Some("15m".into());
        assert!(matches!(
            load(vec![current]).unwrap_err(),
            KeySetError::LegacyTerms { .. }
        ));
    }

    #[test]
    fn a_legacy_keys_mapping_and_uses_are_checked() {
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        let legacy = |edit: &dyn Fn(&mut KeyFileEntry)| {
            let mut entry = hs_entry("old", &secret);
            entry.state = KeyState::VerifyOnly;
            entry.legacy = true;
            entry.sunset = Some("2099-01-01T00:00:00Z".into());
            edit(&mut entry);
            let active = KeyFileEntry::generate(KeyAlgorithm::EdDSA, KeyState::Active).unwrap();
            load(vec![active, entry])
        };
        // Without a mapping: access tokens, subject in sub.
        let plain = legacy(&|_| {}).unwrap();
        let terms = plain.keys()[1].legacy().unwrap();
        assert!(terms.access && !terms.refresh);
        assert_eq!(terms.subject_claim(), "sub");
        assert_eq!(plain.keys()[1].legacy_session_grant(), None);

        let refresh = legacy(&|e| {
            e.subject_claim = Some("user_id".into());
            e.uses = Some(vec![LegacyUse::Access, LegacyUse::Refresh]);
            e.session_audience = Some(vec!["orders".into()]);
            e.session_scopes = Some(vec!["orders:read".into()]);
        })
        .unwrap();
        let key = &refresh.keys()[1];
        assert!(key.legacy().unwrap().refresh);
        assert_eq!(key.legacy().unwrap().subject_claim(), "user_id");
        assert_eq!(
            key.legacy_session_grant().unwrap().audience,
            vec!["orders".to_owned()]
        );
        // The same key as it goes through every verifier.
        let verifying = refresh.verifying_keys();
        assert!(verifying.legacy()[0].terms().refresh);

        for (edit, expected) in [
            (
                &(|e: &mut KeyFileEntry| e.uses = Some(vec![LegacyUse::Refresh]))
                    as &dyn Fn(&mut KeyFileEntry),
                "session_audience",
            ),
            (
                &|e: &mut KeyFileEntry| e.uses = Some(vec![]),
                "use must name",
            ),
            (
                &|e: &mut KeyFileEntry| e.session_scopes = Some(vec!["a".into()]),
                "belong to a legacy key used for refresh",
            ),
            (
                &|e: &mut KeyFileEntry| e.subject_claim = Some(String::new()),
                "subject_claim",
            ),
        ] {
            let err = legacy(edit).unwrap_err().to_string();
            assert!(err.contains(expected), "{expected}: {err}");
        }
        let mut current = hs_entry("hs", &secret);
        current.subject_claim = Some("user_id".into());
        assert!(matches!(
            load(vec![current]).unwrap_err(),
            KeySetError::LegacyTerms { .. }
        ));
    }

    #[test]
    fn a_misspelt_legacy_field_is_refused() {
        let file = r#"{ "keys": [ { "kid": "old", "alg": "HS256", "state": "verify_only",
            "legacy": true, "sunset": "2099-01-01T00:00:00Z", "subject_clam": "user_id",
            "secret": "x" } ] }"#;
        let err = KeySetFile::parse(file).unwrap_err().to_string();
        assert!(err.contains("subject_clam"), "{err}");
        let uses = r#"{ "keys": [ { "kid": "old", "alg": "HS256", "state": "verify_only",
            "legacy": true, "sunset": "2099-01-01T00:00:00Z", "use": ["acces"],
            "secret": "x" } ] }"#;
        assert!(KeySetFile::parse(uses).is_err());
    }

    #[test]
    fn debug_output_holds_no_key_material() {
        let file = KeySetFile::generate(KeyAlgorithm::EdDSA).unwrap();
        let shown = format!("{file:?} {:?}", KeySet::from_file_contents(&file).unwrap());
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    }
}
