//! The key set in service, and its published form, swapped as a whole.
//!
//! Everything derived from a key set (the verifying keys, the JWKS text) is
//! computed once when the set is put in service, not per request. Readers
//! take a snapshot (an `Arc`), so a reload never changes keys under a call in
//! flight, and subscribers learn of every change.

use std::sync::Arc;

use jsonwebtoken::jwk::JwkSet;
use tokio::sync::watch;

use inkan_core::token::{Expectations, VerifiedAccessToken, VerifyError};

use super::{KeySet, VerifyCache, VerifyingKeys};

/// A key set with everything derived from it.
#[derive(Debug)]
pub struct PublishedKeys {
    set: KeySet,
    verifying: VerifyingKeys,
    jwks: JwkSet,
    jwks_json: String,
    /// Tokens these keys verified; a new set starts with none of them.
    verified: VerifyCache,
}

impl PublishedKeys {
    /// Derives the verifying keys and the JWKS of `set`, with a cache of
    /// verified tokens of up to `cache_bytes` (0: none).
    pub fn new(set: KeySet, cache_bytes: u64) -> Self {
        let jwks = set.jwks();
        let jwks_json = serde_json::to_string(&jwks).unwrap_or_else(|_| r#"{"keys":[]}"#.into());
        Self {
            verifying: set.verifying_keys(),
            set,
            jwks,
            jwks_json,
            verified: VerifyCache::new(cache_bytes),
        }
    }

    /// Verifies an access token with these keys, answering from the cache
    /// of tokens they verified before when the same token comes again
    /// (revocation, expiry, audience and scopes are checked every time).
    pub fn verify(
        &self,
        token: &str,
        expect: &Expectations<'_>,
    ) -> Result<VerifiedAccessToken, VerifyError> {
        self.verified.verify(token, &self.verifying, expect)
    }

    /// The key set itself.
    pub fn set(&self) -> &KeySet {
        &self.set
    }

    /// The latest sunset of the legacy keys, if there are any: until then a
    /// former system's token may still be presented.
    pub fn legacy_sunset(&self) -> Option<i64> {
        self.set
            .keys()
            .iter()
            .filter_map(|key| key.legacy().map(|legacy| legacy.sunset))
            .max()
    }

    /// Every key this service accepts signatures from.
    pub fn verifying(&self) -> &VerifyingKeys {
        &self.verifying
    }

    /// The public keys.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// The public keys as RFC 7517 JSON text.
    pub fn jwks_json(&self) -> &str {
        &self.jwks_json
    }
}

/// The current key set, replaceable at run time.
#[derive(Debug, Clone)]
pub struct KeyStore {
    current: watch::Sender<Arc<PublishedKeys>>,
    /// The bound of each key set's cache of verified tokens, in bytes.
    cache_bytes: u64,
}

impl KeyStore {
    /// A store serving `set`, each key set in it keeping up to
    /// `cache_bytes` of verified tokens (0: none).
    pub fn new(set: KeySet, cache_bytes: u64) -> Self {
        let (current, _) = watch::channel(Arc::new(PublishedKeys::new(set, cache_bytes)));
        Self {
            current,
            cache_bytes,
        }
    }

    /// Derives what a new key set needs to be put in service, with this
    /// store's cache bound.
    pub fn prepare(&self, set: KeySet) -> PublishedKeys {
        PublishedKeys::new(set, self.cache_bytes)
    }

    /// A snapshot of the keys in service.
    pub fn current(&self) -> Arc<PublishedKeys> {
        self.current.borrow().clone()
    }

    /// Puts a new, already validated and tested set in service.
    pub fn replace_published(&self, keys: Arc<PublishedKeys>) {
        self.current.send_replace(keys);
    }

    /// A receiver that sees every replacement.
    pub fn subscribe(&self) -> watch::Receiver<Arc<PublishedKeys>> {
        self.current.subscribe()
    }
}
