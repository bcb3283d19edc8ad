//! The one way the key-set file is read: at start-up, on every reload and
//! by every command that reads it. The same bytes are accepted or refused
//! alike everywhere, because every reader takes the same steps in the same
//! order:
//!
//! 1. trust: refuse a file (or directory) others than its owner may write,
//!    warn of one others may read ([`read_key_file`]);
//! 2. text: refuse bytes that are not UTF-8, naming the file and never
//!    quoting the bytes (they may be key material);
//! 3. format: parse the JSON of the documented format ([`KeySetFile::parse`]);
//! 4. validation: exactly one active key, material matching its algorithm,
//!    no weak secret ([`KeySet::from_file_contents`]).
//!
//! A command that rewrites the file (rotation) stops after step 3, as it
//! validates the set it is about to write; the reload watcher pauses after
//! step 1 to skip content it has already looked at.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::{read_key_file, KeyFileBytes, KeySet, KeySetError, KeySetFile};

/// A key-set file read from a trusted file and parsed, not yet validated:
/// what a command that rewrites the file works on.
#[derive(Debug)]
pub struct ParsedKeyFile {
    /// The file as written.
    pub file: KeySetFile,
    /// Problems that do not stop it being used (readable by others).
    pub warnings: Vec<String>,
    /// The digest of the bytes it was parsed from ([`key_file_digest`]).
    pub digest: Vec<u8>,
}

/// A key-set file read, parsed and validated: a set ready to be put in
/// service, and what the operator should hear about it.
#[derive(Debug)]
pub struct LoadedKeyFile {
    /// The validated key set.
    pub set: KeySet,
    /// Problems that do not stop it being used, one sentence each: the
    /// file readable by others, a set no consumer can verify locally.
    pub warnings: Vec<String>,
    /// The digest of the bytes it came from ([`key_file_digest`]), so a
    /// reload watcher starts from exactly what was loaded.
    pub digest: Vec<u8>,
}

/// Reads, parses and validates the key-set file at `path`.
pub fn load_key_file(path: &Path) -> Result<LoadedKeyFile, KeySetError> {
    read_key_set_file(path)?.validate()
}

/// Reads and parses the key-set file at `path`, without validating the set
/// it holds.
pub fn read_key_set_file(path: &Path) -> Result<ParsedKeyFile, KeySetError> {
    parse_key_file(path, read_key_file(path)?)
}

/// Parses what [`read_key_file`] read from `path`: strict UTF-8, then the
/// documented JSON format. For a reader that looks at the bytes first (the
/// reload watcher compares their digest with what it has seen).
pub fn parse_key_file(path: &Path, read: KeyFileBytes) -> Result<ParsedKeyFile, KeySetError> {
    let KeyFileBytes { bytes, warnings } = read;
    let text = std::str::from_utf8(&bytes).map_err(|err| KeySetError::NotUtf8 {
        path: path.to_owned(),
        offset: err.valid_up_to(),
    })?;
    Ok(ParsedKeyFile {
        file: KeySetFile::parse(text)?,
        warnings,
        digest: key_file_digest(&bytes),
    })
}

impl ParsedKeyFile {
    /// Validates the set the file holds, adding what the operator should
    /// hear about it (a weak secret, a set no consumer can verify locally).
    pub fn validate(self) -> Result<LoadedKeyFile, KeySetError> {
        let set = KeySet::from_file_contents(&self.file)?;
        let mut warnings = self.warnings;
        warnings.extend(set.warnings());
        Ok(LoadedKeyFile {
            set,
            warnings,
            digest: self.digest,
        })
    }
}

/// The digest key-set file contents are compared by (SHA-256 of the bytes).
pub fn key_file_digest(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::keys::KeyAlgorithm;

    /// A directory holding `keys.json` with `bytes`, owner-only.
    fn key_file(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        (dir, path)
    }

    #[test]
    fn a_valid_file_loads_with_the_digest_of_its_bytes() {
        let json = KeySetFile::generate(KeyAlgorithm::EdDSA).unwrap().to_json();
        let (_dir, path) = key_file(json.as_bytes());
        let loaded = load_key_file(&path).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(loaded.digest, key_file_digest(json.as_bytes()));
        assert_eq!(loaded.set.keys().len(), 1);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_by_file_and_offset_never_quoted() {
        let json = KeySetFile::generate(KeyAlgorithm::HS256).unwrap().to_json();
        // An invalid byte inside the secret's string: a lossy reading
        // would have turned it into U+FFFD and gone on.
        let at = json.find("\"secret\": \"").unwrap() + 11;
        let mut bytes = json.into_bytes();
        bytes[at] = 0xff;
        let (_dir, path) = key_file(&bytes);
        let err = load_key_file(&path).unwrap_err();
        assert!(matches!(err, KeySetError::NotUtf8 { offset, .. } if offset == at));
        let shown = format!("{err} {err:?}");
        assert!(shown.contains(&path.display().to_string()), "{shown}");
        let secret_start = String::from_utf8_lossy(&bytes[at + 1..at + 12]).into_owned();
        assert!(!shown.contains(&secret_start), "{shown}");
    }

    #[test]
    fn the_warnings_are_the_files_and_the_sets() {
        let json = KeySetFile::generate(KeyAlgorithm::HS256).unwrap().to_json();
        let (_dir, path) = key_file(json.as_bytes());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let loaded = load_key_file(&path).unwrap();
        assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
        assert!(loaded.warnings[0].contains("readable by others"));
        assert!(loaded.warnings[1].contains("only through Verify"));
        let parsed = read_key_set_file(&path).unwrap();
        assert_eq!(parsed.warnings, loaded.warnings[..1]);
    }
}
