//! The key-set file: its JSON format, key generation, and writing it with
//! owner-only permissions.
//!
//! ```json
//! { "keys": [ { "kid": "eddsa-20261127-3f9a1c2e", "alg": "EdDSA",
//!               "state": "active", "created_at": "2026-11-27T09:00:00Z",
//!               "private_key_pem": "-----BEGIN PRIVATE KEY-----\n..." } ] }
//! ```
//!
//! Asymmetric keys hold a PKCS#8 PEM `private_key_pem`; HS256 keys hold a
//! base64url `secret`. Nothing in this format has a default value.

use std::{io::Write, path::Path, time::SystemTime};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::{rngs::OsRng, RngCore};
use rsa::pkcs8::{self, EncodePrivateKey, LineEnding};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use super::{format_error, KeyAlgorithm, KeySetError, KeyState};

/// The key-set file as written on disk, before validation.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySetFile {
    /// The keys, in any order.
    pub keys: Vec<KeyFileEntry>,
}

/// One key as written in the file. Its `Debug` shows no material.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFileEntry {
    /// The key's identifier, sent as the `kid` header.
    pub kid: String,
    /// The signature algorithm this key is bound to.
    pub alg: KeyAlgorithm,
    /// Where the key is in its life.
    pub state: KeyState,
    /// When the key was made and published (RFC 3339): a `next` key is
    /// promoted only once consumers' cached key sets include it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When the key stopped signing (RFC 3339): a `verify_only` key is
    /// dropped once every token it signed has expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<String>,
    /// A former system's HS256 secret: it verifies only tokens that carry no
    /// `kid`, and only until its `sunset`. Always `verify_only`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legacy: bool,
    /// When a legacy key stops accepting anything (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sunset: Option<String>,
    /// The `iss` a legacy key's tokens must carry, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// A legacy key accepts tokens without `iat` only when this is set (a
    /// duration such as `"15m"`, at most 24 h), and only with at most this
    /// long left before their `exp`: without `iat`, that is all that bounds
    /// a token's lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_remaining_without_iat: Option<String>,
    /// The claim of a legacy key's tokens that holds the subject (`sub`
    /// when unset): a string, or an integer taken in decimal (`user_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_claim: Option<String>,
    /// The audience a legacy key's access tokens must name in `aud`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// The audiences a legacy key's access tokens without `aud` stand for:
    /// Verify naming one of them accepts such a token, naming another
    /// refuses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_audience: Option<Vec<String>>,
    /// The scopes a legacy key's access tokens without `scope` carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_scopes: Option<Vec<String>>,
    /// What a legacy key's tokens may be used as: `["access"]` when unset;
    /// `"refresh"` lets Refresh exchange its imported refresh tokens once.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub uses: Option<Vec<LegacyUse>>,
    /// The audience of a session opened by exchanging a legacy refresh
    /// token (required with `"use": [..., "refresh"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_audience: Option<Vec<String>>,
    /// The scopes of such a session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_scopes: Option<Vec<String>>,
    /// Lets this key sign after a reload although the set in service never
    /// published it: an emergency swap, which a running server otherwise
    /// refuses, and logs as a security event when allowed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_unpublished: bool,
    /// PKCS#8 PEM private key, for EdDSA, ES256 and RS256.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose"
    )]
    pub private_key_pem: Option<SecretString>,
    /// base64url secret (no padding), for HS256.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose"
    )]
    pub secret: Option<SecretString>,
}

/// What a legacy key's tokens may be used as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegacyUse {
    /// Access tokens, accepted by Verify until the sunset.
    Access,
    /// Refresh tokens, exchanged once each by Refresh for an inkan session
    /// when they are in the imported ledger.
    Refresh,
}

/// Writing the file is the one place material is meant to leave memory.
fn expose<S: Serializer>(value: &Option<SecretString>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(secret) => serializer.serialize_some(secret.expose_secret()),
        None => serializer.serialize_none(),
    }
}

impl KeySetFile {
    /// Parses the JSON text of a key-set file. A refusal says where and
    /// what kind of problem, never the value found: a private key put in
    /// the wrong field must not reach a terminal or a log.
    pub fn parse(text: &str) -> Result<Self, KeySetError> {
        let mut json = serde_json::Deserializer::from_str(text);
        let file = serde_path_to_error::deserialize(&mut json)
            .map_err(|err| KeySetError::Format(format_error::describe(&err)))?;
        json.end()
            .map_err(|err| KeySetError::Format(format_error::syntax(&err)))?;
        Ok(file)
    }

    /// Reads and parses a key-set file, as every reader does
    /// ([`super::read_key_set_file`]: trusted, UTF-8, then parsed).
    pub fn read(path: &Path) -> Result<Self, KeySetError> {
        super::read_key_set_file(path).map(|read| read.file)
    }

    /// A new key set with one freshly generated active key.
    pub fn generate(alg: KeyAlgorithm) -> Result<Self, KeySetError> {
        Ok(Self {
            keys: vec![KeyFileEntry::generate(alg, KeyState::Active)?],
        })
    }

    /// The file's JSON text. It holds private material: write it only to a
    /// file with owner-only permissions.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a key set always serialises") + "\n"
    }

    /// Writes the file with mode 0600, replacing it atomically (write to a
    /// sibling, then rename), so a watcher never sees half a key set.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
        let dir = dir.unwrap_or_else(|| Path::new("."));
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let mut tag = [0u8; 8];
        OsRng.fill_bytes(&mut tag);
        let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        // A fresh name, created new (never following a planted link), with
        // owner-only permissions set explicitly whatever the umask.
        let tmp = dir.join(format!(
            ".{}.{tag}.tmp",
            name.unwrap_or_else(|| "keys".into())
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        #[cfg(unix)]
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        let written = file
            .write_all(self.to_json().as_bytes())
            .and_then(|()| file.sync_all())
            .and_then(|()| std::fs::rename(&tmp, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written?;
        // Make the rename itself durable.
        std::fs::File::open(dir).and_then(|d| d.sync_all())
    }
}

impl KeyFileEntry {
    /// A fresh key for `alg` in `state`, with a kid that says what it is and
    /// when it was made.
    pub fn generate(alg: KeyAlgorithm, state: KeyState) -> Result<Self, KeySetError> {
        let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let mut tag = [0u8; 4];
        OsRng.fill_bytes(&mut tag);
        let kid = format!(
            "{}-{}-{}",
            alg.as_str().to_ascii_lowercase(),
            now[..10].replace('-', ""),
            tag.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let pem = |encoded: pkcs8::Result<pkcs8::der::zeroize::Zeroizing<String>>| {
            let pem = encoded.map_err(|_| KeySetError::PublicKey { kid: kid.clone() })?;
            Ok::<_, KeySetError>((Some(SecretString::from(pem.as_str())), None))
        };
        let (private_key_pem, secret) = match alg {
            KeyAlgorithm::EdDSA => {
                // PKCS#8 v1 (the private key alone), as `openssl genpkey`
                // writes it and jsonwebtoken reads it.
                let key = ed25519_dalek::SigningKey::generate(&mut OsRng);
                let bytes = ed25519_dalek::pkcs8::KeypairBytes {
                    secret_key: key.to_bytes(),
                    public_key: None,
                };
                pem(bytes.to_pkcs8_pem(LineEnding::LF))?
            }
            KeyAlgorithm::ES256 => {
                pem(p256::SecretKey::random(&mut OsRng).to_pkcs8_pem(LineEnding::LF))?
            }
            KeyAlgorithm::RS256 => {
                let key = rsa::RsaPrivateKey::new(&mut OsRng, 3072)
                    .map_err(|_| KeySetError::PublicKey { kid: kid.clone() })?;
                pem(key.to_pkcs8_pem(LineEnding::LF))?
            }
            KeyAlgorithm::HS256 => {
                let mut bytes = [0u8; 32];
                OsRng.fill_bytes(&mut bytes);
                (
                    None,
                    Some(SecretString::from(URL_SAFE_NO_PAD.encode(bytes))),
                )
            }
        };
        Ok(Self {
            created_at: Some(now),
            private_key_pem,
            secret,
            ..Self::bare(kid, alg, state)
        })
    }

    /// An entry for `kid` with no material and no optional field: what
    /// [`KeyFileEntry::generate`] and tests fill in.
    pub fn bare(kid: String, alg: KeyAlgorithm, state: KeyState) -> Self {
        Self {
            kid,
            alg,
            state,
            created_at: None,
            retired_at: None,
            legacy: false,
            sunset: None,
            issuer: None,
            max_remaining_without_iat: None,
            subject_claim: None,
            audience: None,
            access_audience: None,
            access_scopes: None,
            uses: None,
            session_audience: None,
            session_scopes: None,
            allow_unpublished: false,
            private_key_pem: None,
            secret: None,
        }
    }
}
