//! Opaque refresh tokens: `inkan_rt_` and 256 random bits in base64url.
//!
//! The prefix lets secret scanners spot a leaked token. The ledger keeps
//! only the SHA-256 of a token (a token has 256 bits of entropy, so a fast
//! hash is enough and lookups stay by exact key, whose timing says nothing
//! about how much of a guess matched).

use std::fmt;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Mac, SimpleHmac};
use rand::{rngs::OsRng, RngCore};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::REFRESH_TOKEN_PREFIX;

const RANDOM_BYTES: usize = 32;

/// A refresh token. Its `Debug` prints no part of it.
#[derive(Clone)]
pub struct RefreshToken(SecretString);

/// The SHA-256 of a refresh token, in lowercase hex: the ledger's key.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct TokenHash(String);

impl RefreshToken {
    /// A fresh token from the operating system's random source.
    pub fn generate() -> Self {
        let mut bytes = [0u8; RANDOM_BYTES];
        OsRng.fill_bytes(&mut bytes);
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8; RANDOM_BYTES]) -> Self {
        Self(SecretString::from(format!(
            "{REFRESH_TOKEN_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(bytes)
        )))
    }

    /// Accepts only the exact shape inkan issues, so garbage never costs a
    /// ledger lookup.
    pub fn parse(text: &str) -> Option<Self> {
        Self::random_part(text)?;
        Some(Self(SecretString::from(text)))
    }

    fn random_part(text: &str) -> Option<[u8; RANDOM_BYTES]> {
        let encoded = text.strip_prefix(REFRESH_TOKEN_PREFIX)?;
        let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
        let bytes: [u8; RANDOM_BYTES] = bytes.try_into().ok()?;
        // Reject non-canonical encodings, so one token has exactly one text.
        (URL_SAFE_NO_PAD.encode(bytes) == encoded).then_some(bytes)
    }

    /// The token text, for handing to its holder and nobody else.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The ledger's key for this token.
    pub fn hash(&self) -> TokenHash {
        let digest = Sha256::digest(self.expose().as_bytes());
        TokenHash(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Encrypts `successor` so that only a holder of `self` can recover it:
    /// the ledger stores this beside the spent token, so that a client's
    /// retry within the grace window receives the same successor instead of
    /// tripping reuse detection. The pad is an HMAC under this token's own
    /// 256 random bits, and each token is spent once, so no pad repeats.
    pub fn seal_successor(&self, successor: &RefreshToken) -> String {
        let pad = self.successor_pad();
        let plain = successor.random_bytes();
        let sealed: Vec<u8> = plain.iter().zip(pad.iter()).map(|(a, b)| a ^ b).collect();
        URL_SAFE_NO_PAD.encode(sealed)
    }

    /// Recovers a successor sealed by [`Self::seal_successor`], and accepts it
    /// only if it hashes to `expected` (so a damaged record yields nothing).
    pub fn open_successor(&self, sealed: &str, expected: &TokenHash) -> Option<RefreshToken> {
        let sealed = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        let sealed: [u8; RANDOM_BYTES] = sealed.try_into().ok()?;
        let pad = self.successor_pad();
        let mut plain = [0u8; RANDOM_BYTES];
        for (i, byte) in plain.iter_mut().enumerate() {
            *byte = sealed[i] ^ pad[i];
        }
        let successor = Self::from_bytes(&plain);
        (successor.hash() == *expected).then_some(successor)
    }

    fn random_bytes(&self) -> [u8; RANDOM_BYTES] {
        // Every RefreshToken is built from exactly this shape.
        Self::random_part(self.expose()).unwrap_or([0; RANDOM_BYTES])
    }

    fn successor_pad(&self) -> [u8; RANDOM_BYTES] {
        let mut mac = <SimpleHmac<Sha256> as Mac>::new_from_slice(&self.random_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(b"inkan refresh successor v1");
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(***)")
    }
}

impl TokenHash {
    /// Wraps a hash read back from the ledger.
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    /// The hash as lowercase hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_the_prefix_and_256_random_bits() {
        let token = RefreshToken::generate();
        assert!(token.expose().starts_with("inkan_rt_"));
        assert_eq!(token.expose().len(), "inkan_rt_".len() + 43);
        assert_ne!(token.expose(), RefreshToken::generate().expose());
    }

    #[test]
    fn only_the_issued_shape_parses() {
        let token = RefreshToken::generate();
        assert!(RefreshToken::parse(token.expose()).is_some());
        let body = &token.expose()["inkan_rt_".len()..];
        for bad in [
            String::new(),
            body.to_owned(),
            format!("inkan_rt_{}", &body[1..]),
            format!("inkan_rt_{body}="),
            format!("inkan_rt_{}+", &body[..42]),
            format!("Bearer {}", token.expose()),
        ] {
            assert!(RefreshToken::parse(&bad).is_none(), "{bad:?} parsed");
        }
    }

    #[test]
    fn the_hash_is_stable_and_does_not_contain_the_token() {
        let token = RefreshToken::generate();
        assert_eq!(token.hash(), token.hash());
        assert_eq!(token.hash().as_str().len(), 64);
        assert!(!token.hash().as_str().contains(&token.expose()[9..20]));
    }

    #[test]
    fn only_the_predecessor_opens_a_sealed_successor() {
        let (old, new, stranger) = (
            RefreshToken::generate(),
            RefreshToken::generate(),
            RefreshToken::generate(),
        );
        let sealed = old.seal_successor(&new);
        let opened = old.open_successor(&sealed, &new.hash()).unwrap();
        assert_eq!(opened.expose(), new.expose());
        assert!(stranger.open_successor(&sealed, &new.hash()).is_none());
    }

    #[test]
    fn debug_hides_the_token() {
        let token = RefreshToken::generate();
        assert_eq!(format!("{token:?}"), "RefreshToken(***)");
    }
}
