//! A validated key set: what the server signs with and publishes.

use std::path::Path;

use jsonwebtoken::jwk::JwkSet;

use super::{KeyAlgorithm, KeySetError, KeySetFile, KeyState, SigningKey, VerifyingKeys};

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
            if keys.iter().any(|k| k.kid() == key.kid()) {
                return Err(KeySetError::DuplicateKid(key.kid().to_string()));
            }
            keys.push(key);
        }
        let active: Vec<usize> = (0..keys.len())
            .filter(|&i| keys[i].state() == KeyState::Active)
            .collect();
        match active[..] {
            [one] => Ok(Self { keys, active: one }),
            [] => Err(KeySetError::NoActiveKey),
            _ => Err(KeySetError::SeveralActiveKeys(active.len())),
        }
    }

    /// Reads and validates a key-set file, as every reader does
    /// ([`super::load_key_file`]).
    pub fn load(path: &Path) -> Result<Self, KeySetError> {
        super::load_key_file(path).map(|loaded| loaded.set)
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
                .filter_map(|k| k.public_jwk().cloned())
                .collect(),
        }
    }

    /// Everything the operator should hear about this set: each key's
    /// material accepted below what it should be, and why consumers cannot
    /// verify its tokens locally, if they cannot.
    pub fn warnings(&self) -> Vec<String> {
        self.keys()
            .iter()
            .filter_map(|key| key.warning().map(str::to_owned))
            .chain(self.local_verification_warning())
            .collect()
    }

    /// Why consumers cannot check this set's new tokens themselves, if
    /// they cannot: the active key is a shared secret, which is never
    /// published, so only Verify can check its tokens.
    pub fn local_verification_warning(&self) -> Option<String> {
        let active = self.active();
        if !active.alg().is_symmetric() {
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
                active.kid()
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
            .filter(|k| k.legacy().is_none() && k.alg().is_symmetric())
            .map(SigningKey::verifying);
        published
            .with_keys(secrets)
            .with_legacy(self.keys.iter().filter_map(SigningKey::legacy_key))
    }
}
#[cfg(test)]
mod tests {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

    use super::*;
    use crate::keys::{
        testing::{hs_entry, load},
        KeyFileEntry,
    };

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
    fn debug_output_holds_no_key_material() {
        let file = KeySetFile::generate(KeyAlgorithm::EdDSA).unwrap();
        let shown = format!("{file:?} {:?}", KeySet::from_file_contents(&file).unwrap());
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    }
}
