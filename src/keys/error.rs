//! Why a key set was refused. Every message names the key (by kid, never by
//! its material) and the problem, so an operator can fix the file without
//! guessing.

use std::path::PathBuf;

/// A key set that cannot be put into service.
#[derive(Debug, thiserror::Error)]
pub enum KeySetError {
    #[error("cannot read key set {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file or its directory may be written by others than its owner
    /// (the message says which, and the command that fixes it).
    #[error("{0}")]
    Unprotected(String),
    #[error("key set is not valid JSON of the documented format: {0}")]
    Format(String),
    #[error("key set holds no keys")]
    Empty,
    #[error("key set has no active key; exactly one key must have state \"active\"")]
    NoActiveKey,
    #[error("key set has {0} active keys; exactly one key must have state \"active\"")]
    SeveralActiveKeys(usize),
    #[error("key set has the kid {0:?} more than once")]
    DuplicateKid(String),
    #[error("key set has an invalid kid: {0}")]
    InvalidKid(String),
    #[error("key {kid:?} ({alg}) needs {needed} and must not have {unexpected}")]
    WrongMaterialField {
        kid: String,
        alg: &'static str,
        needed: &'static str,
        unexpected: &'static str,
    },
    #[error("key {kid:?}: its private key is not a valid {alg} key in PKCS#8 PEM")]
    MaterialMismatch { kid: String, alg: &'static str },
    #[error("key {kid:?}: RSA key has {bits} bits; at least 2048 are required")]
    RsaTooShort { kid: String, bits: usize },
    #[error("key {kid:?}: HS256 secret is not base64url (without padding)")]
    SecretEncoding { kid: String },
    #[error("key {kid:?}: HS256 secret has {len} bytes; at least 32 random bytes are required")]
    SecretTooShort { kid: String, len: usize },
    #[error("key {kid:?}: HS256 secret is a placeholder or a setting name, not a secret")]
    SecretPlaceholder { kid: String },
    #[error("key {kid:?}: {field} is not an RFC 3339 time (e.g. 2027-01-31T00:00:00Z)")]
    Timestamp { kid: String, field: &'static str },
    #[error("key {kid:?}: {problem}")]
    LegacyTerms { kid: String, problem: &'static str },
    #[error("{0}")]
    Rotation(String),
    #[error("key {kid:?}: its public key could not be derived")]
    PublicKey { kid: String },
}
