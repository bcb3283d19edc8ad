//! Taking a JWKS document in: the check that comes before trusting one.
//! jsonwebtoken parses whatever a JWK may hold; a verifier must not accept a
//! document that carries private or symmetric material (someone published
//! what they should not have, or the document is not what it claims), so
//! such a document is refused whole.

use jsonwebtoken::jwk::JwkSet;
use serde_json::Value;

use super::VerifyingKeys;

/// JWK members that hold private material (RFC 7518 section 6).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The largest JWKS document taken in, in bytes.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

/// Why a JWKS document was refused. Messages name the problem and the key's
/// position, never a value from the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// Not a JSON object with a `keys` array of objects.
    #[error("the JWKS is not a JSON object with a \"keys\" array of keys")]
    Malformed,
    /// Larger than [`MAX_JWKS_BYTES`].
    #[error("the JWKS is larger than 64 KiB")]
    TooLarge,
    /// A key carries private material.
    #[error("key {0} of the JWKS holds private key material; a published key set never does")]
    PrivateKey(usize),
    /// A key is a shared secret (`kty: oct`).
    #[error("key {0} of the JWKS is a symmetric (oct) key; shared secrets are never published")]
    SymmetricKey(usize),
}

impl VerifyingKeys {
    /// Keys from a published JWKS document, refused whole if it is
    /// malformed or holds any private or symmetric key. Entries inkan would
    /// never publish (another algorithm, no kid) are skipped, so a foreign
    /// entry can never widen what is accepted.
    pub fn from_jwks_json(text: &str) -> Result<Self, JwksError> {
        if text.len() > MAX_JWKS_BYTES {
            return Err(JwksError::TooLarge);
        }
        let document: Value = serde_json::from_str(text).map_err(|_| JwksError::Malformed)?;
        let keys = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JwksError::Malformed)?;
        for (index, key) in keys.iter().enumerate() {
            let key = key.as_object().ok_or(JwksError::Malformed)?;
            if key.get("kty").and_then(Value::as_str) == Some("oct") {
                return Err(JwksError::SymmetricKey(index));
            }
            if PRIVATE_MEMBERS.iter().any(|m| key.contains_key(*m)) {
                return Err(JwksError::PrivateKey(index));
            }
        }
        let jwks: JwkSet = serde_json::from_value(document).map_err(|_| JwksError::Malformed)?;
        Ok(Self::from_jwks(&jwks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str = r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1","alg":"EdDSA","use":"sig"}"#;

    #[test]
    fn a_published_key_set_is_taken() {
        let keys = VerifyingKeys::from_jwks_json(&format!(r#"{{"keys":[{ED25519}]}}"#)).unwrap();
        assert_eq!(keys.kids(), ["k1"]);
        assert!(VerifyingKeys::from_jwks_json(r#"{"keys":[]}"#)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn private_symmetric_and_malformed_documents_are_refused_whole() {
        let private = ED25519.replace(
            r#""use":"sig""#,
            r#""use":"sig","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A""#,
        );
        let cases = [
            (
                format!(r#"{{"keys":[{ED25519},{private}]}}"#),
                JwksError::PrivateKey(1),
            ),
            (
                r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"hs","alg":"HS256"}]}"#.to_owned(),
                JwksError::SymmetricKey(0),
            ),
            ("not json".to_owned(), JwksError::Malformed),
            (r#"{"keys":"none"}"#.to_owned(), JwksError::Malformed),
            (r#"{"keys":[1]}"#.to_owned(), JwksError::Malformed),
            (r#"[]"#.to_owned(), JwksError::Malformed),
            (" ".repeat(MAX_JWKS_BYTES + 1), JwksError::TooLarge),
        ];
        for (document, expected) in cases {
            assert_eq!(
                VerifyingKeys::from_jwks_json(&document).unwrap_err(),
                expected
            );
        }
    }
}
