//! Key sets: the file that holds inkan's signing keys, its validation, and
//! the public view of it (JWKS) that every verifier works from.
//!
//! A key set never has a default. It is loaded from a file that names each
//! key's `kid`, algorithm and state, validated as a whole (exactly one active
//! key, algorithms that match their material, no weak secrets), and only then
//! put into service. Verification looks keys up by `kid` and takes the
//! algorithm from the key, never from a token.

mod error;
mod file;
mod format_error;
mod permissions;
pub mod rotation;
mod set;
mod store;
mod strength;
mod verifying;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use error::KeySetError;
pub use file::{KeyFileEntry, KeySetFile};
pub use permissions::{read_key_file, KeyFileBytes};
pub use set::{KeySet, Legacy, SigningKey};
pub use store::{KeyStore, PublishedKeys};
pub use verifying::{LegacyKey, VerifyingKey, VerifyingKeys};

/// The signature algorithms inkan signs and verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyAlgorithm {
    /// Ed25519 signatures: the recommended default.
    EdDSA,
    /// ECDSA on P-256 with SHA-256.
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

/// Where a key is in its life: published first, then signing, then only
/// verifying what it signed until those tokens have expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Published so consumers cache it, not yet signing.
    Next,
    /// Signs new tokens; exactly one per set.
    Active,
    /// Retired from signing; still accepted until its tokens expire.
    VerifyOnly,
}

impl KeyState {
    /// The state as written in the key-set file and in `GetJwks`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::VerifyOnly => "verify_only",
        }
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
