//! The public keys a verifier accepts, by kid: built from inkan's
//! published JWKS (what a consumer fetches, and what the server itself
//! verifies through), plus HS256 secrets the JWKS never carries (an
//! operator's explicit choice, or a former system's legacy keys).
//!
//! A JWKS is taken whole or not at all: one that does not parse, or that
//! holds private or symmetric material, is refused, so a consumer keeps the
//! key set it had rather than trusting a document that is plainly wrong.

mod jwks;
mod prepared;
mod verifying;

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a [`LegacyKey`] is made from, so a consumer needs no jsonwebtoken
/// of its own (at a version that might not match) to build one.
pub use jsonwebtoken::DecodingKey;
pub use jwks::{JwksError, MAX_JWKS_BYTES};
pub use prepared::{SignFailed, Signer, SignerError, CRYPTO_BACKEND};
pub use verifying::{Legacy, LegacyKey, VerifyingKey, VerifyingKeys};

/// The signature algorithms inkan signs and verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyAlgorithm {
    /// Ed25519 signatures (not accepted by every common verifier: Node
    /// `jwks-rsa` refuses its keys).
    EdDSA,
    /// ECDSA on P-256 with SHA-256: `inkan keys generate`'s default, the
    /// one every common verifier accepts.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, keys of at least 2048 bits.
    RS256,
    /// HMAC with SHA-256: a shared secret, never published. Only for a
    /// deliberate choice or a legacy system's tokens.
    HS256,
}

impl KeyAlgorithm {
    /// The algorithm as jsonwebtoken names it.
    pub fn jws(self) -> jsonwebtoken::Algorithm {
        match self {
            KeyAlgorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
            KeyAlgorithm::ES256 => jsonwebtoken::Algorithm::ES256,
            KeyAlgorithm::RS256 => jsonwebtoken::Algorithm::RS256,
            KeyAlgorithm::HS256 => jsonwebtoken::Algorithm::HS256,
        }
    }

    /// The JWS `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::EdDSA => "EdDSA",
            KeyAlgorithm::ES256 => "ES256",
            KeyAlgorithm::RS256 => "RS256",
            KeyAlgorithm::HS256 => "HS256",
        }
    }

    /// Whether the key is a shared secret, which must never be published.
    pub fn is_symmetric(self) -> bool {
        self == KeyAlgorithm::HS256
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for KeyAlgorithm {
    type Err = String;

    /// Parses an algorithm's name in any case (`eddsa`, `ES256`), as typed
    /// on a command line. The key-set file is stricter: it takes the JWS
    /// names exactly, as its serde form.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            KeyAlgorithm::EdDSA,
            KeyAlgorithm::ES256,
            KeyAlgorithm::RS256,
            KeyAlgorithm::HS256,
        ]
        .into_iter()
        .find(|alg| alg.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| format!("unsupported algorithm {s:?}; use EdDSA, ES256, RS256 or HS256"))
    }
}
