//! Keys parsed once, when a key set is loaded, and used for every signature
//! after that. jsonwebtoken's `encode` and `decode` build their signer or
//! verifier from the key's bytes on every call (and its signers are not
//! `Send`, so they cannot be kept across threads); inkan keeps its own,
//! made by the backend the crate features choose:
//!
//! - `aws_lc_rs` (the default): aws-lc-rs, measured faster for ES256 and
//!   RS256 (see BENCHMARKS.md);
//! - `rust_crypto`: the RustCrypto crates, pure Rust.
//!
//! Both produce what jsonwebtoken would: the same JWS bytes but for
//! randomised signatures, and the same answer to every verification.

use std::fmt;

use jsonwebtoken::{DecodingKey, EncodingKey};

use super::KeyAlgorithm;

#[cfg(not(any(feature = "aws_lc_rs", feature = "rust_crypto")))]
compile_error!("inkan-core needs a crypto backend: enable `aws_lc_rs` or `rust_crypto`");

/// The name of the backend this build checks and makes signatures with.
pub const CRYPTO_BACKEND: &str = backend::NAME;

/// Checks signatures under one key and one algorithm. Built once per key.
pub(crate) struct SignatureChecker(backend::Checker);

impl SignatureChecker {
    /// `None` when `key` is not a valid key for `alg`: every signature then
    /// fails to verify, as jsonwebtoken would have it.
    pub(crate) fn new(alg: KeyAlgorithm, key: &DecodingKey) -> Option<Self> {
        backend::Checker::new(alg, key).map(Self)
    }

    /// Whether `signature` is `alg`'s signature of `message` under the key.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.0.verify(message, signature)
    }
}

/// Makes signatures with one private key (or shared secret) and one
/// algorithm. Built once per key, when the key set is loaded; its `Debug`
/// never shows the key.
pub struct Signer {
    alg: KeyAlgorithm,
    inner: backend::Maker,
}

/// The key does not fit the algorithm, or the backend refused it.
#[derive(Debug, thiserror::Error)]
#[error("the key is not a valid {alg} private key for {backend}")]
pub struct SignerError {
    alg: KeyAlgorithm,
    backend: &'static str,
}

/// A signature could not be made (only a broken key or backend causes
/// this, never the message).
#[derive(Debug, thiserror::Error)]
#[error("signing failed")]
pub struct SignFailed;

impl Signer {
    /// Parses `key` (as jsonwebtoken's `EncodingKey` holds it: PKCS#8 for
    /// EdDSA and ES256, PKCS#1 for RS256, the raw secret for HS256) once.
    pub fn new(alg: KeyAlgorithm, key: &EncodingKey) -> Result<Self, SignerError> {
        backend::Maker::new(alg, key)
            .map(|inner| Self { alg, inner })
            .ok_or(SignerError {
                alg,
                backend: CRYPTO_BACKEND,
            })
    }

    /// The algorithm it signs with.
    pub fn alg(&self) -> KeyAlgorithm {
        self.alg
    }

    /// The signature of `message`, as raw bytes (JWS form for ECDSA: r || s).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignFailed> {
        self.inner.sign(message).ok_or(SignFailed)
    }

    /// A JWS in compact form: what `jsonwebtoken::encode` writes (base64url,
    /// unpadded, of the header's and the claims' JSON, joined by dots, then
    /// the signature's), with this key parsed once instead of per call.
    /// The header's `alg` must be this key's.
    pub fn sign_jws(
        &self,
        header: &jsonwebtoken::Header,
        claims: &impl serde::Serialize,
    ) -> Result<String, SignFailed> {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

        if header.alg != self.alg.jws() {
            return Err(SignFailed);
        }
        let mut token = String::with_capacity(512);
        append_part(&mut token, header)?;
        token.push('.');
        append_part(&mut token, claims)?;
        let signature = self.sign(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }
}

/// Appends the base64url form of `value`'s JSON to `out`.
fn append_part(out: &mut String, value: &impl serde::Serialize) -> Result<(), SignFailed> {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

    let json = serde_json::to_vec(value).map_err(|_| SignFailed)?;
    URL_SAFE_NO_PAD.encode_string(json, out);
    Ok(())
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "aws_lc_rs")]
mod backend {
    use aws_lc_rs::{
        hmac, rand,
        signature::{self, EcdsaKeyPair, Ed25519KeyPair, ParsedPublicKey, RsaKeyPair},
    };
    use jsonwebtoken::{DecodingKey, DecodingKeyKind, EncodingKey};

    use super::KeyAlgorithm;

    pub(super) const NAME: &str = "aws-lc-rs";

    pub(super) enum Checker {
        Public(ParsedPublicKey),
        // Boxed: aws-lc's HMAC key holds its whole hashing state.
        Secret(Box<hmac::Key>),
    }

    impl Checker {
        pub(super) fn new(alg: KeyAlgorithm, key: &DecodingKey) -> Option<Self> {
            let public = |params: &'static dyn signature::VerificationAlgorithm| {
                ParsedPublicKey::new(params, key.try_get_as_bytes().ok()?)
                    .ok()
                    .map(Checker::Public)
            };
            match alg {
                KeyAlgorithm::EdDSA => public(&signature::ED25519),
                KeyAlgorithm::ES256 => public(&signature::ECDSA_P256_SHA256_FIXED),
                KeyAlgorithm::RS256 => {
                    let params = &signature::RSA_PKCS1_2048_8192_SHA256;
                    match key.kind() {
                        DecodingKeyKind::SecretOrDer(der) => ParsedPublicKey::new(params, der),
                        DecodingKeyKind::RsaModulusExponent { n, e } => {
                            signature::RsaPublicKeyComponents { n, e }.to_parsed_public_key(params)
                        }
                    }
                    .ok()
                    .map(Checker::Public)
                }
                KeyAlgorithm::HS256 => Some(Checker::Secret(Box::new(hmac::Key::new(
                    hmac::HMAC_SHA256,
                    key.try_get_as_bytes().ok()?,
                )))),
            }
        }

        pub(super) fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
            match self {
                Checker::Public(key) => key.verify_sig(message, sig).is_ok(),
                Checker::Secret(key) => hmac::verify(key, message, sig).is_ok(),
            }
        }
    }

    pub(super) enum Maker {
        Ed(Ed25519KeyPair),
        Ec(EcdsaKeyPair),
        Rsa(RsaKeyPair),
        Secret(Box<hmac::Key>),
    }

    impl Maker {
        pub(super) fn new(alg: KeyAlgorithm, key: &EncodingKey) -> Option<Self> {
            let der = key.as_bytes();
            Some(match alg {
                KeyAlgorithm::EdDSA => Maker::Ed(Ed25519KeyPair::from_pkcs8(der).ok()?),
                KeyAlgorithm::ES256 => Maker::Ec(
                    EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                        .ok()?,
                ),
                KeyAlgorithm::RS256 => Maker::Rsa(RsaKeyPair::from_der(der).ok()?),
                KeyAlgorithm::HS256 => {
                    Maker::Secret(Box::new(hmac::Key::new(hmac::HMAC_SHA256, der)))
                }
            })
        }

        pub(super) fn sign(&self, message: &[u8]) -> Option<Vec<u8>> {
            match self {
                Maker::Ed(key) => Some(key.sign(message).as_ref().to_vec()),
                Maker::Ec(key) => key
                    .sign(&rand::SystemRandom::new(), message)
                    .ok()
                    .map(|s| s.as_ref().to_vec()),
                Maker::Rsa(key) => {
                    let mut out = vec![0; key.public_modulus_len()];
                    key.sign(
                        &signature::RSA_PKCS1_SHA256,
                        &rand::SystemRandom::new(),
                        message,
                        &mut out,
                    )
                    .ok()?;
                    Some(out)
                }
                Maker::Secret(key) => Some(hmac::sign(key, message).as_ref().to_vec()),
            }
        }
    }
}

#[cfg(all(feature = "rust_crypto", not(feature = "aws_lc_rs")))]
mod backend {
    use hmac::{Hmac, Mac};
    use jsonwebtoken::{DecodingKey, DecodingKeyKind, EncodingKey};
    use p256::ecdsa::signature::{Signer as _, Verifier as _};
    use p256::pkcs8::DecodePrivateKey;
    use rsa::{
        pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey},
        pkcs1v15,
        signature::{RandomizedSigner as _, SignatureEncoding as _},
        BigUint, RsaPrivateKey, RsaPublicKey,
    };
    use sha2::Sha256;

    use super::KeyAlgorithm;

    pub(super) const NAME: &str = "RustCrypto";

    pub(super) enum Checker {
        Ed(ed25519_dalek::VerifyingKey),
        Ec(p256::ecdsa::VerifyingKey),
        Rsa(pkcs1v15::VerifyingKey<Sha256>),
        Secret(Hmac<Sha256>),
    }

    impl Checker {
        pub(super) fn new(alg: KeyAlgorithm, key: &DecodingKey) -> Option<Self> {
            Some(match alg {
                KeyAlgorithm::EdDSA => {
                    let bytes = key.try_get_as_bytes().ok()?.get(..32)?;
                    Checker::Ed(
                        ed25519_dalek::VerifyingKey::from_bytes(bytes.try_into().ok()?).ok()?,
                    )
                }
                KeyAlgorithm::ES256 => Checker::Ec(
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(key.try_get_as_bytes().ok()?)
                        .ok()?,
                ),
                KeyAlgorithm::RS256 => {
                    let public = match key.kind() {
                        DecodingKeyKind::SecretOrDer(der) => {
                            RsaPublicKey::from_pkcs1_der(der).ok()?
                        }
                        DecodingKeyKind::RsaModulusExponent { n, e } => {
                            RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e))
                                .ok()?
                        }
                    };
                    Checker::Rsa(pkcs1v15::VerifyingKey::new(public))
                }
                KeyAlgorithm::HS256 => Checker::Secret(
                    Hmac::<Sha256>::new_from_slice(key.try_get_as_bytes().ok()?).ok()?,
                ),
            })
        }

        pub(super) fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
            match self {
                Checker::Ed(key) => ed25519_dalek::Signature::from_slice(sig)
                    .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
                Checker::Ec(key) => p256::ecdsa::Signature::from_slice(sig)
                    .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
                Checker::Rsa(key) => pkcs1v15::Signature::try_from(sig)
                    .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
                Checker::Secret(mac) => {
                    let mut mac = mac.clone();
                    mac.update(message);
                    mac.verify_slice(sig).is_ok()
                }
            }
        }
    }

    pub(super) enum Maker {
        Ed(ed25519_dalek::SigningKey),
        Ec(p256::ecdsa::SigningKey),
        Rsa(pkcs1v15::SigningKey<Sha256>),
        Secret(Hmac<Sha256>),
    }

    impl Maker {
        pub(super) fn new(alg: KeyAlgorithm, key: &EncodingKey) -> Option<Self> {
            let der = key.as_bytes();
            Some(match alg {
                KeyAlgorithm::EdDSA => {
                    Maker::Ed(ed25519_dalek::SigningKey::from_pkcs8_der(der).ok()?)
                }
                KeyAlgorithm::ES256 => {
                    Maker::Ec(p256::ecdsa::SigningKey::from_pkcs8_der(der).ok()?)
                }
                KeyAlgorithm::RS256 => Maker::Rsa(pkcs1v15::SigningKey::new(
                    RsaPrivateKey::from_pkcs1_der(der).ok()?,
                )),
                KeyAlgorithm::HS256 => Maker::Secret(Hmac::<Sha256>::new_from_slice(der).ok()?),
            })
        }

        pub(super) fn sign(&self, message: &[u8]) -> Option<Vec<u8>> {
            match self {
                Maker::Ed(key) => Some(key.sign(message).to_bytes().to_vec()),
                Maker::Ec(key) => {
                    let sig: p256::ecdsa::Signature = key.try_sign(message).ok()?;
                    Some(sig.to_vec())
                }
                Maker::Rsa(key) => Some(
                    key.try_sign_with_rng(&mut rand::thread_rng(), message)
                        .ok()?
                        .to_vec(),
                ),
                Maker::Secret(mac) => {
                    let mut mac = mac.clone();
                    mac.update(message);
                    Some(mac.finalize().into_bytes().to_vec())
                }
            }
        }
    }
}
