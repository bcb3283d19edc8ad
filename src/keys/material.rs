//! A key's material as the key-set file gives it, checked and parsed once:
//! the keys that sign and verify, the public JWK it is published as, and
//! the fingerprint operators compare environments by. An HS256 key holds a
//! base64url `secret`; every other algorithm a PKCS#8 PEM
//! `private_key_pem`; a key with the wrong field, or material that is not
//! its algorithm's, is refused without a word of the material.

use std::sync::Arc;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use inkan_core::keys::Signer;
use jsonwebtoken::{
    jwk::{Jwk, PublicKeyUse, ThumbprintHash},
    DecodingKey, EncodingKey,
};
use secrecy::ExposeSecret;
use sha2::Sha256;

use super::{
    strength::{check_rsa_size, check_secret_strength},
    KeyAlgorithm, KeyFileEntry, KeySetError,
};

/// Everything a key's material gives, derived once when the set is loaded.
#[derive(Clone)]
pub(super) struct Material {
    pub(super) encoding: EncodingKey,
    pub(super) decoding: DecodingKey,
    pub(super) signer: Arc<Signer>,
    /// `None` for a shared secret, which is never published.
    pub(super) public_jwk: Option<Jwk>,
    pub(super) fingerprint: String,
    /// A secret accepted below the bits RFC 7518 asks for, said once.
    pub(super) warning: Option<String>,
}

impl Material {
    /// Checks and parses the material of `entry`, the key named `kid`.
    pub(super) fn from_entry(kid: &str, entry: &KeyFileEntry) -> Result<Self, KeySetError> {
        let (encoding, decoding, warning) = if entry.alg.is_symmetric() {
            from_secret(kid, entry)?
        } else {
            let (encoding, decoding) = from_pem(kid, entry)?;
            (encoding, decoding, None)
        };
        let signer =
            Arc::new(Signer::new(entry.alg, &encoding).map_err(|_| mismatch(kid, entry.alg))?);
        let public_jwk = public_jwk(kid, entry.alg, &encoding)?;
        let fingerprint = match &public_jwk {
            Some(jwk) => jwk
                .thumbprint(ThumbprintHash::SHA256)
                .map_err(|_| KeySetError::PublicKey { kid: kid.into() })?,
            None => secret_fingerprint(&encoding),
        };
        Ok(Self {
            encoding,
            decoding,
            signer,
            public_jwk,
            fingerprint,
            warning,
        })
    }
}

fn mismatch(kid: &str, alg: KeyAlgorithm) -> KeySetError {
    KeySetError::MaterialMismatch {
        kid: kid.into(),
        alg: alg.as_str(),
    }
}

fn wrong_field(
    kid: &str,
    alg: KeyAlgorithm,
    needed: &'static str,
    unexpected: &'static str,
) -> KeySetError {
    KeySetError::WrongMaterialField {
        kid: kid.into(),
        alg: alg.as_str(),
        needed,
        unexpected,
    }
}

/// An HS256 key's `secret`: base64url, strong enough, and nothing else;
/// with a warning when it is weaker than RFC 7518 asks.
fn from_secret(
    kid: &str,
    entry: &KeyFileEntry,
) -> Result<(EncodingKey, DecodingKey, Option<String>), KeySetError> {
    let (None, Some(secret)) = (&entry.private_key_pem, &entry.secret) else {
        return Err(wrong_field(
            kid,
            entry.alg,
            "\"secret\"",
            "\"private_key_pem\"",
        ));
    };
    let encoded = secret.expose_secret().trim();
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| KeySetError::SecretEncoding { kid: kid.into() })?;
    let warning = check_secret_strength(kid, encoded, &bytes)?;
    Ok((
        EncodingKey::from_secret(&bytes),
        DecodingKey::from_secret(&bytes),
        warning,
    ))
}

/// An asymmetric key's `private_key_pem`: a key of its algorithm (an RSA
/// key long enough), and nothing else; verified through the public JWK
/// derived from it, as consumers verify.
fn from_pem(kid: &str, entry: &KeyFileEntry) -> Result<(EncodingKey, DecodingKey), KeySetError> {
    let (Some(pem), None) = (&entry.private_key_pem, &entry.secret) else {
        return Err(wrong_field(
            kid,
            entry.alg,
            "\"private_key_pem\"",
            "\"secret\"",
        ));
    };
    let mismatch = || mismatch(kid, entry.alg);
    let pem = pem.expose_secret().as_bytes();
    let encoding = match entry.alg {
        KeyAlgorithm::EdDSA => EncodingKey::from_ed_pem(pem),
        KeyAlgorithm::ES256 => EncodingKey::from_ec_pem(pem),
        KeyAlgorithm::RS256 => {
            check_rsa_size(kid, pem)?;
            EncodingKey::from_rsa_pem(pem)
        }
        KeyAlgorithm::HS256 => return Err(mismatch()),
    }
    .map_err(|_| mismatch())?;
    let jwk = Jwk::from_encoding_key(&encoding, entry.alg.jws()).map_err(|_| mismatch())?;
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| mismatch())?;
    Ok((encoding, decoding))
}

/// The JWK a key is published as, naming it and its use; `None` for a
/// shared secret.
fn public_jwk(
    kid: &str,
    alg: KeyAlgorithm,
    encoding: &EncodingKey,
) -> Result<Option<Jwk>, KeySetError> {
    if alg.is_symmetric() {
        return Ok(None);
    }
    let mut jwk = Jwk::from_encoding_key(encoding, alg.jws()).map_err(|_| mismatch(kid, alg))?;
    jwk.common.key_id = Some(kid.to_owned());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Ok(Some(jwk))
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

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::keys::{
        testing::{hs_entry, load},
        KeyState,
    };

    #[test]
    fn weak_and_placeholder_secrets_are_refused() {
        let short = load(vec![hs_entry("hs", b"k3J9x2Q7")]).unwrap_err();
        assert_eq!(
            short.to_string(),
            "key \"hs\": the HS256 secret (base64) carries about 48 bits of entropy; at least 128 \
             are required (32 random bytes, or 64 random hex digits, carry 256)"
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
            private_key_pem: Some(SecretString::from(pem.as_str())),
            ..KeyFileEntry::bare("old-rsa".into(), KeyAlgorithm::RS256, KeyState::Active)
        };
        let err = load(vec![entry]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "key \"old-rsa\": RSA key has 1024 bits; at least 2048 are required"
        );
    }
}
