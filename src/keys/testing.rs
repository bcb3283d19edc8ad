//! Key-file entries for the key modules' unit tests.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use secrecy::SecretString;

use super::{KeyAlgorithm, KeyFileEntry, KeySet, KeySetError, KeySetFile, KeyState};

/// An active HS256 key named `kid` holding `secret`, and nothing else.
pub(super) fn hs_entry(kid: &str, secret: &[u8]) -> KeyFileEntry {
    KeyFileEntry {
        secret: Some(SecretString::from(URL_SAFE_NO_PAD.encode(secret))),
        ..KeyFileEntry::bare(kid.into(), KeyAlgorithm::HS256, KeyState::Active)
    }
}

/// The key set of `keys`, validated.
pub(super) fn load(keys: Vec<KeyFileEntry>) -> Result<KeySet, KeySetError> {
    KeySet::from_file_contents(&KeySetFile { keys })
}
