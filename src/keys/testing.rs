//! Key-file entries for the key modules' unit tests.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use secrecy::SecretString;

use super::{KeyAlgorithm, KeyFileEntry, KeySet, KeySetError, KeySetFile, KeyState};

/// An active HS256 key named `kid` holding `secret`, and nothing else.
pub(super) fn hs_entry(kid: &str, secret: &[u8]) -> KeyFileEntry {
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

/// The key set of `keys`, validated.
pub(super) fn load(keys: Vec<KeyFileEntry>) -> Result<KeySet, KeySetError> {
    KeySet::from_file_contents(&KeySetFile { keys })
}
