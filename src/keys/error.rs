//! Why a key set was refused. Every message names the key (by kid, never by
//! its material) and the problem, so an operator can fix the file without
//! guessing.

use std::path::PathBuf;

/// A key set that cannot be put into service.
#[derive(Debug, thiserror::Error)]
pub enum KeySetError {
    /// The file (or a directory on its way) could not be read.
    #[error("cannot read key set {path}: {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not UTF-8 text. Its bytes are never quoted: they may be
    /// key material.
    #[error("key set {path} is not UTF-8 text: byte {offset} is not valid UTF-8; write it as UTF-8 JSON")]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// Where its first byte that is not UTF-8 is.
        offset: usize,
    },
    /// The file or its directory may be written by others than its owner
    /// (the message says which, and the command that fixes it).
    #[error("{0}")]
    Unprotected(String),
    /// The text is not the documented JSON; says where, never the value.
    #[error("key set is not valid JSON of the documented format: {0}")]
    Format(String),
    /// The file lists no key.
    #[error("key set holds no keys")]
    Empty,
    /// No key is `active`.
    #[error("key set has no active key; exactly one key must have state \"active\"")]
    NoActiveKey,
    /// More than one key is `active` (how many).
    #[error("key set has {0} active keys; exactly one key must have state \"active\"")]
    SeveralActiveKeys(usize),
    /// Two keys share this kid.
    #[error("key set has the kid {0:?} more than once")]
    DuplicateKid(String),
    /// A kid is not one (why).
    #[error("key set has an invalid kid: {0}")]
    InvalidKid(String),
    /// A key holds its material in the other algorithm family's field.
    #[error("key {kid:?} ({alg}) needs {needed} and must not have {unexpected}")]
    WrongMaterialField {
        /// The key.
        kid: String,
        /// Its algorithm.
        alg: &'static str,
        /// The field its material belongs in.
        needed: &'static str,
        /// The field it must not have.
        unexpected: &'static str,
    },
    /// A key's private key is not a key of its algorithm.
    #[error("key {kid:?}: its private key is not a valid {alg} key in PKCS#8 PEM")]
    MaterialMismatch {
        /// The key.
        kid: String,
        /// Its algorithm.
        alg: &'static str,
    },
    /// An RSA key is too short to trust.
    #[error("key {kid:?}: RSA key has {bits} bits; at least 2048 are required")]
    RsaTooShort {
        /// The key.
        kid: String,
        /// Its modulus's length.
        bits: usize,
    },
    /// An HS256 secret is not base64url.
    #[error("key {kid:?}: HS256 secret is not base64url (without padding)")]
    SecretEncoding {
        /// The key.
        kid: String,
    },
    /// An HS256 secret carries too little entropy to trust.
    #[error("key {kid:?}: the HS256 secret ({alphabet}) carries about {bits} bits of entropy; at least 128 are required (32 random bytes, or 64 random hex digits, carry 256)")]
    SecretWeak {
        /// The key.
        kid: String,
        /// The alphabet the secret keeps to (hex, base64, …).
        alphabet: &'static str,
        /// The estimated entropy, in bits.
        bits: u32,
    },
    /// An HS256 secret is no secret: a placeholder, a setting name, a
    /// repetition or a sequence.
    #[error("key {kid:?}: the HS256 secret is {what}, not a secret")]
    SecretPlaceholder {
        /// The key.
        kid: String,
        /// What it is instead.
        what: &'static str,
    },
    /// A key's time field is not an RFC 3339 time.
    #[error("key {kid:?}: {field} is not an RFC 3339 time (e.g. 2027-01-31T00:00:00Z)")]
    Timestamp {
        /// The key.
        kid: String,
        /// The field.
        field: &'static str,
    },
    /// A key's legacy terms do not hold together.
    #[error("key {kid:?}: {problem}")]
    LegacyTerms {
        /// The key.
        kid: String,
        /// What is wrong, and how to fix it.
        problem: &'static str,
    },
    /// A rotation step the file is not ready for (why, and what to do).
    #[error("{0}")]
    Rotation(String),
    /// A key's public half could not be derived.
    #[error("key {kid:?}: its public key could not be derived")]
    PublicKey {
        /// The key.
        kid: String,
    },
}
