//! Tokens verified before, kept so that a service calling Verify with the
//! same token again and again does not pay for the signature each time.
//!
//! - Keyed on the token's exact text: only the very same bytes hit.
//! - Bounded by weight: about the bytes an entry holds (the token, which
//!   is the key, and what verifying it gave), [`VERIFY_CACHE_BYTES`] in
//!   all; the least useful entries are dropped first (quick_cache's
//!   S3-FIFO policy).
//! - Every hit is checked again for what can change between two calls
//!   (`recheck_verified`): the token's `exp` against the time now, the
//!   session's revocation and the subject's cut-off, and the audience and
//!   scopes this call asks for. So a hit never answers past `exp`, nor for a
//!   revoked session.
//! - One cache per key set in service ([`crate::keys::PublishedKeys`]): a
//!   reload starts empty, so a key removed from the set takes every token
//!   it signed out of the cache with it.
//! - Only inkan's own tokens are kept; a former system's (legacy) tokens are
//!   verified in full each time (their key has a sunset, and they may lack
//!   the `iat` a cut-off needs).
//! - Only successes are kept: a refused token costs its full check again,
//!   and cannot push anything out.

use std::sync::Arc;

use quick_cache::{sync::Cache, Weighter};

use super::{
    recheck_verified, verify_access_token, Expectations, VerifiedAccessToken, VerifyError,
};
use crate::keys::VerifyingKeys;

/// How much the cache of verified tokens may hold, in (estimated) bytes:
/// some five thousand typical tokens, a thousand of the largest.
pub const VERIFY_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// A verified token, with its weight computed once.
struct Entry {
    verified: VerifiedAccessToken,
    weight: u64,
}

#[derive(Clone)]
struct ByWeight;

impl Weighter<Box<str>, Arc<Entry>> for ByWeight {
    fn weight(&self, _: &Box<str>, entry: &Arc<Entry>) -> u64 {
        entry.weight
    }
}

/// The weight of an entry for `token`: the token itself (the key), what
/// was decoded from it (its claims are at most its payload, in fewer
/// bytes than their base64), and a margin for the maps' overhead.
fn weight_of(token: &str) -> u64 {
    let token = u64::try_from(token.len()).unwrap_or(u64::MAX / 4);
    let fixed = u64::try_from(std::mem::size_of::<Entry>()).unwrap_or(0) + 512;
    3 * token + fixed
}

/// Verified tokens, by their text. See the module's documentation.
pub struct VerifyCache {
    /// `None` when the cache is off (a bound of 0): every call is checked
    /// in full, with no lookup and no entry built only to be dropped.
    entries: Option<Cache<Box<str>, Arc<Entry>, ByWeight>>,
}

impl VerifyCache {
    /// A cache holding about `max_bytes`; 0 keeps nothing.
    pub fn new(max_bytes: u64) -> Self {
        let estimated_items = usize::try_from(max_bytes / weight_of(&"x".repeat(700)))
            .unwrap_or(usize::MAX)
            .max(1);
        Self {
            entries: (max_bytes > 0)
                .then(|| Cache::with_weighter(estimated_items, max_bytes, ByWeight)),
        }
    }

    /// Verifies `token` against `keys` and `expect`: from the cache when
    /// the same token passed before (checking again only what can change,
    /// revocation included), in full otherwise.
    pub fn verify(
        &self,
        token: &str,
        keys: &VerifyingKeys,
        expect: &Expectations<'_>,
    ) -> Result<VerifiedAccessToken, VerifyError> {
        let Some(entries) = &self.entries else {
            return verify_access_token(token, keys, expect);
        };
        if let Some(hit) = entries.get(token) {
            recheck_verified(&hit.verified, expect)?;
            return Ok(hit.verified.clone());
        }
        let verified = verify_access_token(token, keys, expect)?;
        if !verified.legacy {
            let entry = Entry {
                verified: verified.clone(),
                weight: weight_of(token),
            };
            entries.insert(token.into(), Arc::new(entry));
        }
        Ok(verified)
    }

    /// How many tokens are held.
    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, Cache::len)
    }

    /// Whether no token is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The estimated bytes held, never above the bound it was made with.
    pub fn weight(&self) -> u64 {
        self.entries.as_ref().map_or(0, Cache::weight)
    }
}

impl std::fmt::Debug for VerifyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens.
        f.debug_struct("VerifyCache")
            .field("len", &self.len())
            .field("weight", &self.weight())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::HashSet, sync::Mutex};

    use serde_json::Map;

    use super::*;
    use crate::{
        ids::{SessionId, Subject},
        keys::{KeyAlgorithm, KeySet},
        reason::Reason,
        token::{sign_access_token, AccessTokenClaims, RevocationCheck},
    };

    const ISSUER: &str = "https://inkan.test";

    #[derive(Default)]
    struct Revoked(Mutex<HashSet<SessionId>>);

    impl RevocationCheck for Revoked {
        fn is_revoked(&self, session: &SessionId) -> bool {
            self.0.lock().unwrap().contains(session)
        }
    }

    /// A token of a new session, signed by `set`'s active key, and its sid.
    fn token(set: &KeySet, now: i64, exp: i64) -> (String, SessionId) {
        let session = SessionId::generate();
        let aud = vec!["orders".to_owned()];
        let claims = AccessTokenClaims {
            iss: ISSUER,
            sub: "user-42",
            aud: &aud,
            exp,
            iat: now,
            nbf: now,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: session.to_string(),
            client_id: "web",
            scope: "orders:read".into(),
            custom: &Map::new(),
        };
        (sign_access_token(&claims, set.active()).unwrap(), session)
    }

    fn expect<'a>(now: i64, revoked: &'a Revoked) -> Expectations<'a> {
        let mut expect = Expectations::new(ISSUER, now);
        expect.revocations = Some(revoked);
        expect
    }

    #[test]
    fn a_revoked_sessions_token_is_refused_though_it_was_cached() {
        let set = KeySet::ephemeral(KeyAlgorithm::EdDSA).unwrap();
        let keys = set.verifying_keys();
        let cache = VerifyCache::new(VERIFY_CACHE_BYTES);
        let revoked = Revoked::default();
        let now = inkan_core::clock::now();
        let (token, session) = token(&set, now, now + 900);

        let first = cache.verify(&token, &keys, &expect(now, &revoked)).unwrap();
        assert_eq!(cache.len(), 1, "the token was kept");
        let again = cache.verify(&token, &keys, &expect(now, &revoked)).unwrap();
        assert_eq!(again, first, "a hit answers what the full check did");

        revoked.0.lock().unwrap().insert(session);
        let refused = cache
            .verify(&token, &keys, &expect(now, &revoked))
            .unwrap_err();
        assert_eq!(refused.reason(), Reason::SessionRevoked);
        assert_eq!(cache.len(), 1, "refused from the cache, not re-verified");
    }

    #[test]
    fn a_cache_of_zero_bytes_keeps_nothing_and_still_verifies() {
        let set = KeySet::ephemeral(KeyAlgorithm::EdDSA).unwrap();
        let keys = set.verifying_keys();
        let cache = VerifyCache::new(0);
        let revoked = Revoked::default();
        let now = inkan_core::clock::now();
        let (token, session) = token(&set, now, now + 900);
        for _ in 0..3 {
            cache.verify(&token, &keys, &expect(now, &revoked)).unwrap();
            assert_eq!(cache.len(), 0, "nothing is kept");
        }
        revoked.0.lock().unwrap().insert(session);
        let refused = cache
            .verify(&token, &keys, &expect(now, &revoked))
            .unwrap_err();
        assert_eq!(refused.reason(), Reason::SessionRevoked);
    }

    #[test]
    fn a_cached_token_is_refused_once_past_its_exp() {
        let set = KeySet::ephemeral(KeyAlgorithm::ES256).unwrap();
        let keys = set.verifying_keys();
        let cache = VerifyCache::new(VERIFY_CACHE_BYTES);
        let revoked = Revoked::default();
        let now = inkan_core::clock::now();
        let exp = now + 60;
        let (token, _) = token(&set, now, exp);
        cache.verify(&token, &keys, &expect(now, &revoked)).unwrap();
        assert_eq!(cache.len(), 1);

        // Within the leeway after exp the full check accepts it, and so does
        // the cache; at the leeway's end both refuse it.
        let leeway = i64::try_from(Expectations::new(ISSUER, now).leeway.as_secs()).unwrap();
        cache
            .verify(&token, &keys, &expect(exp + leeway - 1, &revoked))
            .unwrap();
        let late = expect(exp + leeway, &revoked);
        let refused = cache.verify(&token, &keys, &late).unwrap_err();
        assert_eq!(refused.reason(), Reason::TokenExpired);
        assert_eq!(
            refused,
            verify_access_token(&token, &keys, &late).unwrap_err(),
            "the same answer as the full check"
        );
    }

    #[test]
    fn audience_and_scopes_are_those_of_each_call() {
        let set = KeySet::ephemeral(KeyAlgorithm::EdDSA).unwrap();
        let keys = set.verifying_keys();
        let cache = VerifyCache::new(VERIFY_CACHE_BYTES);
        let revoked = Revoked::default();
        let now = inkan_core::clock::now();
        let (token, _) = token(&set, now, now + 900);
        cache.verify(&token, &keys, &expect(now, &revoked)).unwrap();

        let mut other = expect(now, &revoked);
        other.audience = Some("billing");
        let refused = cache.verify(&token, &keys, &other).unwrap_err();
        assert_eq!(refused.reason(), Reason::AudienceMismatch);
        let write = [crate::ids::Scope::parse("orders:write").unwrap()];
        let mut other = expect(now, &revoked);
        other.required_scopes = &write;
        let refused = cache.verify(&token, &keys, &other).unwrap_err();
        assert_eq!(refused.reason(), Reason::InsufficientScope);
        assert_eq!(
            refused,
            verify_access_token(&token, &keys, &other).unwrap_err()
        );
    }

    #[test]
    fn the_cache_stays_within_its_bound() {
        let set = KeySet::ephemeral(KeyAlgorithm::EdDSA).unwrap();
        let keys = set.verifying_keys();
        let bound = 64 * 1024;
        let cache = VerifyCache::new(bound);
        let revoked = Revoked::default();
        let now = inkan_core::clock::now();
        let tokens = 500;
        for _ in 0..tokens {
            let (token, _) = token(&set, now, now + 900);
            cache.verify(&token, &keys, &expect(now, &revoked)).unwrap();
            assert!(cache.weight() <= bound, "{} > {bound}", cache.weight());
        }
        assert!(cache.len() > 1, "it does keep tokens");
        assert!(
            cache.len() < tokens / 4,
            "{} of {tokens} tokens kept in {bound} bytes",
            cache.len()
        );
    }

    #[test]
    fn a_subjects_cut_off_refuses_its_cached_tokens() {
        struct CutOff(i64);
        impl RevocationCheck for CutOff {
            fn is_revoked(&self, _: &SessionId) -> bool {
                false
            }
            fn subject_cut_off(&self, subject: &Subject) -> Option<i64> {
                (subject.as_str() == "user-42").then_some(self.0)
            }
        }
        let set = KeySet::ephemeral(KeyAlgorithm::EdDSA).unwrap();
        let keys = set.verifying_keys();
        let cache = VerifyCache::new(VERIFY_CACHE_BYTES);
        let now = inkan_core::clock::now();
        let (token, _) = token(&set, now, now + 900);
        let before = CutOff(now);
        let mut expect = Expectations::new(ISSUER, now);
        expect.revocations = Some(&before);
        cache.verify(&token, &keys, &expect).unwrap();
        let later = CutOff(now + 1);
        expect.revocations = Some(&later);
        let refused = cache.verify(&token, &keys, &expect).unwrap_err();
        assert_eq!(refused.reason(), Reason::SessionRevoked);
    }
}
