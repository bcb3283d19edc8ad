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

/// Fewest distinct byte values 32 random bytes may show: random bytes show
/// about 30; anything near a dozen was typed, not drawn.
const MIN_DISTINCT_BYTES: usize = 16;

fn is_placeholder_text(text: &str, kid: &str) -> bool {
    let text = text.trim().to_ascii_lowercase();
    let repeats = |word: &str| {
        !word.is_empty()
            && text.len().is_multiple_of(word.len())
            && text
                .as_bytes()
                .chunks(word.len())
                .all(|c| c == word.as_bytes())
    };
    let is_setting_name = text.starts_with("inkan_") || text == kid.to_ascii_lowercase();
    // A short period means a typed pattern: "abcabcabc…", "aaaa…".
    let periodic = (1..=8).any(|period| {
        text.len() >= 2 * period
            && text
                .as_bytes()
                .iter()
                .skip(period)
                .zip(text.as_bytes())
                .all(|(a, b)| a == b)
    });
    is_setting_name || periodic || PLACEHOLDERS.iter().any(|w| repeats(w))
}

/// Refuses an HS256 secret that is short, patterned, a placeholder or a
/// setting name. `encoded` is the text as written in the file and `secret`
/// the bytes it decodes to: a person who types `changeme…` into the file
/// (without encoding it) must be caught as surely as one who encodes it.
pub(super) fn check_secret_strength(
    kid: &str,
    encoded: &str,
    secret: &[u8],
) -> Result<(), KeySetError> {
    if secret.len() < 32 {
        return Err(KeySetError::SecretTooShort {
            kid: kid.into(),
            len: secret.len(),
        });
    }
    let placeholder = KeySetError::SecretPlaceholder { kid: kid.into() };
    let distinct = secret
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .len();
    if distinct < MIN_DISTINCT_BYTES || is_placeholder_text(encoded, kid) {
        return Err(placeholder);
    }
    if let Ok(text) = std::str::from_utf8(secret) {
        if is_placeholder_text(text, kid) {
            return Err(placeholder);
        }
    }
    Ok(())
}
