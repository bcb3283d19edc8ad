//! Refusing weak material: RSA keys under 2048 bits, and HS256 secrets that
//! are short, repetitive, a placeholder, or the name of their own setting
//! (the outage inkan was born from signed with the literal string
//! "ACCESS_SECRET").

use rsa::{pkcs8::DecodePrivateKey, traits::PublicKeyParts};

use super::KeySetError;

/// Strings that people put where a secret belongs. A secret made only of
/// repetitions of one of these (in any case) is refused.
const PLACEHOLDERS: &[&str] = &[
    "secret",
    "changeme",
    "change-me",
    "change_me",
    "password",
    "placeholder",
    "default",
    "example",
    "test",
    "jwt",
    "jwt_secret",
    "jwt-secret",
    "access_secret",
    "refresh_secret",
    "secret_key",
    "your-secret",
    "your_secret",
    "yoursecret",
    "mysecret",
    "my-secret",
    "todo",
    "xxx",
    "0",
    "1",
    "a",
];

pub(super) fn check_rsa_size(kid: &str, pem: &[u8]) -> Result<(), KeySetError> {
    let text = std::str::from_utf8(pem).map_err(|_| KeySetError::MaterialMismatch {
        kid: kid.into(),
        alg: "RS256",
    })?;
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(text)
        .or_else(|_| rsa::pkcs1::DecodeRsaPrivateKey::from_pkcs1_pem(text))
        .map_err(|_| KeySetError::MaterialMismatch {
            kid: kid.into(),
            alg: "RS256",
        })?;
    let bits = key.size() * 8;
    if bits < 2048 {
        return Err(KeySetError::RsaTooShort {
            kid: kid.into(),
            bits,
        });
    }
    Ok(())
}

pub(super) fn check_secret_strength(kid: &str, secret: &[u8]) -> Result<(), KeySetError> {
    if secret.len() < 32 {
        return Err(KeySetError::SecretTooShort {
            kid: kid.into(),
            len: secret.len(),
        });
    }
    let placeholder = KeySetError::SecretPlaceholder { kid: kid.into() };
    if secret.iter().all(|b| *b == secret[0]) {
        return Err(placeholder);
    }
    if let Ok(text) = std::str::from_utf8(secret) {
        let text = text.trim().to_ascii_lowercase();
        let repeats = |word: &str| {
            !word.is_empty()
                && text.len() % word.len() == 0
                && text
                    .as_bytes()
                    .chunks(word.len())
                    .all(|c| c == word.as_bytes())
        };
        let is_setting_name = text.starts_with("inkan_") || text == kid.to_ascii_lowercase();
        if is_setting_name || PLACEHOLDERS.iter().any(|w| repeats(w)) {
            return Err(placeholder);
        }
    }
    Ok(())
}
