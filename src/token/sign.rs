//! Signing access tokens: what only the server does. Verification is the
//! core crate's, shared with consumers.
//!
//! The JWS is put together by inkan-core's [`Signer::sign_jws`] rather than
//! by `jsonwebtoken::encode`, which parses the private key again on every
//! call: the key is parsed once, when the key set is loaded
//! ([`SigningKey::signer`]). The bytes are those `encode` writes.
//!
//! [`Signer::sign_jws`]: inkan_core::keys::Signer::sign_jws

use jsonwebtoken::Header;

use super::{AccessTokenClaims, ACCESS_TOKEN_TYPE};
use crate::keys::SigningKey;

/// Signing failed; only a broken key can cause this, never a request.
#[derive(Debug, thiserror::Error)]
#[error("signing with key {kid:?} failed")]
pub struct SignError {
    kid: String,
}

/// Signs `claims` with `key`, with the headers RFC 9068 asks for.
pub fn sign_access_token(
    claims: &AccessTokenClaims<'_>,
    key: &SigningKey,
) -> Result<String, SignError> {
    let mut header = Header::new(key.alg().jws());
    header.typ = Some(ACCESS_TOKEN_TYPE.into());
    header.kid = Some(key.kid().to_string());
    key.signer()
        .sign_jws(&header, claims)
        .map_err(|_| SignError {
            kid: key.kid().to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyAlgorithm, KeySet};

    /// What inkan writes is, byte for byte, what `jsonwebtoken::encode`
    /// writes for the deterministic algorithms (the same header and claims
    /// for ES256, whose signatures are randomised), and jsonwebtoken
    /// verifies it for every algorithm.
    #[test]
    fn tokens_are_the_jws_jsonwebtoken_writes() {
        let claims =
            serde_json::json!({"sub": "user-1", "exp": 2_000_000_000_i64, "n": [1, "two"]});
        for alg in [
            KeyAlgorithm::EdDSA,
            KeyAlgorithm::ES256,
            KeyAlgorithm::RS256,
            KeyAlgorithm::HS256,
        ] {
            let set = KeySet::ephemeral(alg).unwrap();
            let key = set.active();
            let mut header = Header::new(alg.jws());
            header.typ = Some(ACCESS_TOKEN_TYPE.into());
            header.kid = Some(key.kid().to_string());
            let ours = key.signer().sign_jws(&header, &claims).unwrap();
            let theirs = jsonwebtoken::encode(&header, &claims, key.encoding_key()).unwrap();
            if alg == KeyAlgorithm::ES256 {
                let signed = |t: &str| t.rsplit_once('.').unwrap().0.to_owned();
                assert_eq!(
                    signed(&ours),
                    signed(&theirs),
                    "{alg}: same header and claims"
                );
            } else {
                assert_eq!(
                    ours, theirs,
                    "{alg}: deterministic signatures match exactly"
                );
            }
            let mut validation = jsonwebtoken::Validation::new(alg.jws());
            validation.validate_aud = false;
            let keys = set.verifying_keys();
            let decoding = keys.get(key.kid().as_str()).unwrap().decoding_key();
            let decoded =
                jsonwebtoken::decode::<serde_json::Value>(&ours, decoding, &validation).unwrap();
            assert_eq!(decoded.claims, claims, "{alg}: jsonwebtoken verifies it");
        }
    }
}
