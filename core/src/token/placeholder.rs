//! Tokens signed with a placeholder secret: the outage inkan was born from
//! verified with `ACCESS_SECRET` while that setting was unset, so its code
//! signed with the literal string "ACCESS_SECRET". Such a token is either
//! forged (anyone can sign with a placeholder) or proof that a secret is
//! missing somewhere; either way it is refused, and named for what it is.
//!
//! The check runs only on a token that is already refused (no kid, and no
//! legacy key verifies it), so a good token never pays for it, and it only
//! changes the words of a refusal: it tells the signer which placeholder
//! they used, which they knew.

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::{VerifyError, MAX_TOKEN_BYTES};

/// Secrets that code and configuration templates default to, as written
/// (HMAC keys are case-sensitive): setting names used as their own value,
/// the words people type, jwt.io's example secret and the empty string.
pub const PLACEHOLDER_SECRETS: &[&str] = &[
    "ACCESS_SECRET",
    "REFRESH_SECRET",
    "SECRET_KEY",
    "JWT_SECRET",
    "JWT_SECRET_KEY",
    "ACCESS_TOKEN_SECRET",
    "REFRESH_TOKEN_SECRET",
    "TOKEN_SECRET",
    "APP_SECRET",
    "AUTH_SECRET",
    "SECRET",
    "secret",
    "secret_key",
    "secretkey",
    "jwt_secret",
    "jwt-secret",
    "access_secret",
    "refresh_secret",
    "mysecret",
    "supersecret",
    "changeme",
    "change-me",
    "changeit",
    "password",
    "your-256-bit-secret",
    "your-secret-key",
    "your_jwt_secret",
    "undefined",
    "null",
    "None",
    "",
];

/// The longest `jti` shown as a token's id; longer ones are named by digest.
const MAX_SHOWN_ID: usize = 64;

/// The placeholder a token without a `kid` is HS256-signed with, if any.
/// Costs one HMAC per placeholder: call it only for a token already refused.
pub fn placeholder_secret(token: &str) -> Option<&'static str> {
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.kid.is_some() || header.alg != Algorithm::HS256 {
        return None;
    }
    let (message, signature) = token.rsplit_once('.')?;
    PLACEHOLDER_SECRETS.iter().copied().find(|secret| {
        jsonwebtoken::crypto::verify(
            signature,
            message.as_bytes(),
            &DecodingKey::from_secret(secret.as_bytes()),
            Algorithm::HS256,
        )
        .unwrap_or(false)
    })
}

/// The refusal for a token signed with a placeholder, if it is one.
pub fn placeholder_signed(token: &str) -> Option<VerifyError> {
    let placeholder = placeholder_secret(token)?;
    Some(VerifyError::PlaceholderSigned {
        placeholder,
        token_id: token_id(token),
    })
}

/// What names a token in a log line: its `jti` when that is short and
/// printable, otherwise the first 16 hex digits of the SHA-256 of the token
/// (never the token itself).
fn token_id(token: &str) -> String {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let jti = token
        .split('.')
        .nth(1)
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Map<String, Value>>(&bytes).ok())
        .and_then(|claims| match claims.get("jti") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
        .filter(|jti| {
            !jti.is_empty()
                && jti.len() <= MAX_SHOWN_ID
                && jti.chars().all(|c| c.is_ascii_graphic())
        });
    match jti {
        Some(jti) => format!("jti:{jti}"),
        None => format!("sha256:{}", &digest_hex(token)[..16]),
    }
}

/// SHA-256 of `text`, in lowercase hex.
fn digest_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;

    fn signed(secret: &[u8], claims: Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    #[test]
    fn a_placeholder_is_named_and_the_token_by_its_jti() {
        let token = signed(b"ACCESS_SECRET", json!({"sub": "7", "jti": "legacy-1"}));
        assert_eq!(placeholder_secret(&token), Some("ACCESS_SECRET"));
        let err = placeholder_signed(&token).unwrap();
        assert_eq!(
            err.to_string(),
            "signed with the placeholder secret \"ACCESS_SECRET\": forged, or issued while a \
             secret was unset; log in again"
        );
        assert!(matches!(
            err,
            VerifyError::PlaceholderSigned { token_id, .. } if token_id == "jti:legacy-1"
        ));
        let empty = signed(b"", json!({"sub": "7"}));
        assert_eq!(placeholder_secret(&empty), Some(""));
        let Some(VerifyError::PlaceholderSigned { token_id, .. }) = placeholder_signed(&empty)
        else {
            panic!("the empty secret is a placeholder");
        };
        assert!(token_id.starts_with("sha256:") && token_id.len() == 23);
    }

    #[test]
    fn a_real_secret_or_a_token_with_a_kid_is_no_placeholder() {
        let real = signed(b"0Qm3v8cX1rT9wLz2KpY6sN4bH7jF5dA", json!({"sub": "7"}));
        assert_eq!(placeholder_secret(&real), None);
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        let with_kid = jsonwebtoken::encode(
            &header,
            &json!({"sub": "7"}),
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap();
        assert_eq!(placeholder_secret(&with_kid), None);
        assert_eq!(placeholder_secret("not.a.token"), None);
    }
}
