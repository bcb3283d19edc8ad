//! Tokens verified before, kept so that a service calling Verify with the
//! same token again and again does not pay for the signature each time.
//!
//! - Keyed on the token's exact text: only the very same bytes hit.
//! - Bounded by weight: the bytes an entry holds, [`VERIFY_CACHE_BYTES`]
//!   in all; the least useful entries are dropped first (quick_cache's
//!   S3-FIFO policy). An entry weighs what it keeps in memory, not the
//!   length of its token: the key (the token's text), and what verifying
//!   it decoded, allocation by allocation (every string, every list, the
//!   custom claims' whole JSON tree, with the allocator's rounding), plus
//!   the entry's fixed parts and the cache's own bookkeeping. A token's
//!   text is no measure of that: `[0,0,0]` is two bytes of JSON an element
//!   and 32 bytes decoded, and a one-letter scope is a 24-byte `String`
//!   and an allocation of its own.
//! - Every hit is checked again for what can change between two calls
//!   (`recheck_verified`): the token's `exp` against the time now, the
//!   session's revocation and the subject's cut-off, and the audience and
//!   scopes this call asks for. So a hit never answers past `exp`, nor for a
//!   revoked session.
//! - One cache per key set in service ([`super::PublishedKeys`]): a
//!   reload starts empty, so a key removed from the set takes every token
//!   it signed out of the cache with it.
//! - Only inkan's own tokens are kept; a former system's (legacy) tokens are
//!   verified in full each time (their key has a sunset, and they may lack
//!   the `iat` a cut-off needs).
//! - Only successes are kept: a refused token costs its full check again,
//!   and cannot push anything out.

use std::{mem::size_of, sync::Arc};

use quick_cache::{sync::Cache, Weighter};
use serde_json::{Map, Value};

use inkan_core::token::{
    recheck_verified, verify_access_token, Expectations, VerifiedAccessToken, VerifyError,
};

use super::VerifyingKeys;

/// How much the cache of verified tokens may hold, in bytes (as weighed,
/// see the module's documentation): eight thousand typical tokens or more
/// (a 500-byte token with a few claims weighs about 1 KiB).
pub const VERIFY_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// The weight of a typical entry, rounded up (a token of some 700 bytes, a
/// handful of scopes and audiences, few custom claims), to size the
/// cache's tables.
const TYPICAL_WEIGHT: u64 = 2 * 1024;

/// What the cache itself keeps per entry besides the key and the value:
/// its slot (key, value, links and state) and its index, with room to
/// spare (the ghosts of entries it dropped are a hash each).
const CACHE_SLOT_BYTES: usize = 2 * size_of::<(Box<str>, Arc<Entry>)>() + 32;

/// A verified token, with its weight computed once.
struct Entry {
    verified: VerifiedAccessToken,
    weight: u64,
}

impl Entry {
    /// The entry for `verified`, kept under `token`, weighed as held.
    fn new(token: &str, verified: VerifiedAccessToken) -> Self {
        let mut entry = Self {
            verified,
            weight: 0,
        };
        entry.weight = u64::try_from(entry_bytes(token, &entry.verified)).unwrap_or(u64::MAX);
        entry
    }
}

#[derive(Clone)]
struct ByWeight;

impl Weighter<Box<str>, Arc<Entry>> for ByWeight {
    fn weight(&self, _: &Box<str>, entry: &Arc<Entry>) -> u64 {
        entry.weight
    }
}

/// The bytes the allocator takes for a request of `bytes`: glibc's malloc
/// keeps an 8-byte header, rounds to 16 and hands out at least 32 (other
/// allocators round comparably). Nothing for nothing: an empty `String`
/// or `Vec` allocates nothing.
fn allocation(bytes: usize) -> usize {
    if bytes == 0 {
        0
    } else {
        bytes.saturating_add(8).next_multiple_of(16).max(32)
    }
}

/// The heap a `String` holds (its own 24 bytes are its container's).
fn string_heap(s: &String) -> usize {
    allocation(s.capacity())
}

/// The heap a list of strings holds: its buffer and each string's.
fn strings_heap(list: &Vec<String>) -> usize {
    list.iter().fold(
        allocation(list.capacity().saturating_mul(size_of::<String>())),
        |sum, s| sum.saturating_add(string_heap(s)),
    )
}

/// Bytes of one node of a JSON object's B-tree: eleven keys and values,
/// the links of an internal node, its lengths and parent.
const MAP_NODE_BYTES: usize =
    11 * (size_of::<String>() + size_of::<Value>()) + 12 * size_of::<usize>() + 16;

/// The heap a JSON value holds beneath itself, its whole tree (its own
/// bytes are its container's). serde_json caps nesting at 128 levels, so
/// the recursion is bounded.
fn value_heap(value: &Value) -> usize {
    match value {
        // A number holds no heap (without serde_json's
        // `arbitrary_precision`, which inkan does not use).
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        Value::String(s) => string_heap(s),
        Value::Array(items) => items.iter().fold(
            allocation(items.capacity().saturating_mul(size_of::<Value>())),
            |sum, item| sum.saturating_add(value_heap(item)),
        ),
        Value::Object(map) => map_heap(map),
    }
}

/// The heap a JSON object holds: its B-tree's nodes (every node but the
/// root holds five entries or more, so at most `1 + len / 5` of them), and
/// each key and value beneath.
fn map_heap(map: &Map<String, Value>) -> usize {
    if map.is_empty() {
        return 0;
    }
    let nodes = 1 + map.len() / 5;
    map.iter().fold(
        nodes.saturating_mul(allocation(MAP_NODE_BYTES)),
        |sum, (key, value)| {
            sum.saturating_add(string_heap(key))
                .saturating_add(value_heap(value))
        },
    )
}

/// The bytes an entry for `token` holding `verified` keeps in memory: the
/// key, the entry (behind its `Arc`), every allocation of what was decoded,
/// and the cache's slot.
fn entry_bytes(token: &str, verified: &VerifiedAccessToken) -> usize {
    let VerifiedAccessToken {
        subject,
        session_id: _,
        token_id: _,
        client_id,
        scopes,
        audience,
        key_id,
        legacy: _,
        issued_at: _,
        expires_at: _,
        claims,
    } = verified;
    // The identifiers were checked and copied into exactly sized strings.
    let text = |s: &str| allocation(s.len());
    [
        allocation(token.len()),
        // An `Arc`'s allocation: two counts and the entry.
        allocation(2 * size_of::<usize>() + size_of::<Entry>()),
        CACHE_SLOT_BYTES,
        text(subject.as_str()),
        client_id.as_ref().map_or(0, |c| text(c.as_str())),
        text(key_id.as_str()),
        strings_heap(scopes),
        strings_heap(audience),
        map_heap(claims),
    ]
    .into_iter()
    .fold(0, usize::saturating_add)
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
        let estimated_items = usize::try_from(max_bytes / TYPICAL_WEIGHT)
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
            // The clone is what is kept, so it is what is weighed.
            let entry = Entry::new(token, verified.clone());
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

    /// A token of a new session whose claims decode to far more than their
    /// text: `items` one-letter audiences and scopes, and a custom claim
    /// that lists `items` zeros (each two bytes of JSON, 32 decoded).
    fn heavy_token(set: &KeySet, now: i64, items: usize) -> String {
        let aud: Vec<String> = (0..items)
            .map(|i| char::from(b'a' + (i % 26) as u8).to_string())
            .collect();
        let mut custom = Map::new();
        custom.insert("n".into(), Value::Array(vec![Value::from(0); items]));
        let claims = AccessTokenClaims {
            iss: ISSUER,
            sub: "user-42",
            aud: &aud,
            exp: now + 900,
            iat: now,
            nbf: now,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: SessionId::generate().to_string(),
            client_id: "web",
            scope: vec!["s"; items].join(" "),
            custom: &custom,
        };
        sign_access_token(&claims, set.active()).unwrap()
    }

    /// What a heavy token's entry holds at the least, allocator aside:
    /// the key, and a `String` of one byte per audience and scope and a
    /// JSON value per zero.
    fn decoded_at_least(token: &str, items: usize) -> u64 {
        let per_item = 2 * (size_of::<String>() + 1) + size_of::<Value>();
        u64::try_from(token.len() + items * per_item).unwrap()
    }

    #[test]
    fn an_entry_weighs_its_decoded_claims_not_its_text() {
        let set = KeySet::ephemeral(KeyAlgorithm::EdDSA).unwrap();
        let keys = set.verifying_keys();
        let cache = VerifyCache::new(VERIFY_CACHE_BYTES);
        let revoked = Revoked::default();
        let now = inkan_core::clock::now();
        let items = 300;
        let token = heavy_token(&set, now, items);
        let verified = cache.verify(&token, &keys, &expect(now, &revoked)).unwrap();
        assert_eq!(verified.audience.len(), items);
        assert_eq!(verified.scopes.len(), items);
        assert_eq!(cache.len(), 1, "the token was kept");
        let held = decoded_at_least(&token, items);
        assert!(
            held > 5 * u64::try_from(token.len()).unwrap(),
            "the claims decode to much more than the text"
        );
        assert!(
            cache.weight() >= held,
            "weighed {} for at least {held} bytes held ({} bytes of token)",
            cache.weight(),
            token.len()
        );
    }

    #[test]
    fn the_bound_holds_the_decoded_bytes_of_heavy_tokens() {
        let set = KeySet::ephemeral(KeyAlgorithm::EdDSA).unwrap();
        let keys = set.verifying_keys();
        let bound = 1024 * 1024;
        let cache = VerifyCache::new(bound);
        let revoked = Revoked::default();
        let now = inkan_core::clock::now();
        let items = 300;
        let mut held = 0;
        for _ in 0..200 {
            let token = heavy_token(&set, now, items);
            held = decoded_at_least(&token, items);
            cache.verify(&token, &keys, &expect(now, &revoked)).unwrap();
            assert!(cache.weight() <= bound, "{} > {bound}", cache.weight());
        }
        let len = u64::try_from(cache.len()).unwrap();
        assert!(len >= 1, "heavy tokens are still kept");
        assert!(
            len * held <= bound,
            "{len} tokens of at least {held} decoded bytes each kept in {bound} bytes"
        );
    }

    #[test]
    fn the_weight_of_json_counts_every_allocation() {
        assert_eq!(value_heap(&Value::Null), 0);
        assert_eq!(value_heap(&Value::from(12)), 0);
        assert_eq!(value_heap(&Value::String(String::new())), 0);
        assert_eq!(allocation(1), 32, "the smallest allocation");
        assert_eq!(allocation(100), 112);
        let list = Value::Array(vec![Value::from("x"); 10]);
        assert_eq!(
            value_heap(&list),
            allocation(10 * size_of::<Value>()) + 10 * allocation(1)
        );
        let mut map = Map::new();
        for i in 0..20 {
            map.insert(format!("k{i:02}"), list.clone());
        }
        let tree = Value::Object(map);
        assert!(value_heap(&tree) >= 20 * (value_heap(&list) + allocation(3)) + MAP_NODE_BYTES);
        // Nested as deep as serde_json parses, without overflowing.
        let deep: Value =
            serde_json::from_str(&format!("{}{}", "[".repeat(127), "]".repeat(127))).unwrap();
        assert!(value_heap(&deep) >= 126 * size_of::<Value>());
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
