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
mod legacy;
mod load;
mod material;
mod permissions;
pub mod rotation;
mod set;
mod signing_key;
mod store;
mod strength;
#[cfg(test)]
mod testing;
mod verify_cache;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use error::KeySetError;
pub use file::{KeyFileEntry, KeySetFile, LegacyUse};
/// The verifying side of keys lives in the core crate, which consumers
/// share: one algorithm enum, one way to look keys up.
pub use inkan_core::keys::{KeyAlgorithm, Legacy, LegacyKey, VerifyingKey, VerifyingKeys};
pub use legacy::LegacySessionGrant;
pub use load::{
    key_file_digest, load_key_file, parse_key_file, read_key_set_file, LoadedKeyFile, ParsedKeyFile,
};
pub use permissions::{read_key_file, read_trusted_file, KeyFileBytes, TrustedFile, UntrustedFile};
pub use set::KeySet;
pub use signing_key::SigningKey;
pub use store::{KeyStore, PublishedKeys};
pub use verify_cache::{VerifyCache, VERIFY_CACHE_BYTES};

/// The algorithm of `inkan keys generate` and of dev mode's key: ES256,
/// because it is the one every common verifier accepts: Node's
/// `jsonwebtoken` with `jwks-rsa` refuses Ed25519 keys, and RS256
/// signatures are four times larger. CI checks this choice against the
/// libraries of the compatibility matrix (`.ci/stages/consumers.sh`).
pub const DEFAULT_ALGORITHM: KeyAlgorithm = KeyAlgorithm::ES256;

/// jsonwebtoken derives JWKs and thumbprints through its process-wide
/// crypto provider, which it cannot pick by itself when both backends are
/// compiled in (a build with both features): inkan then names aws-lc-rs,
/// as inkan-core does. Called before any key is parsed.
pub(crate) fn choose_jwt_provider() {
    #[cfg(all(feature = "aws_lc_rs", feature = "rust_crypto"))]
    {
        static CHOSEN: std::sync::Once = std::sync::Once::new();
        CHOSEN.call_once(|| {
            // Fails only if already installed, which is what is wanted.
            let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
        });
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
