//! Verify of one token repeated, as a service sends it for every request
//! of a user: the full check against an answer from the cache of verified
//! tokens (which still checks expiry, revocation, audience and scopes).
//!
//! `cargo bench --bench verify_cache`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use support::cpu::ProcessCpu;

mod support {
    pub(crate) mod cpu;
}
use inkan::{
    ids::{SessionId, Subject},
    keys::{KeyAlgorithm, KeySet},
    token::{
        sign_access_token, verify_access_token, AccessTokenClaims, Expectations, RevocationCheck,
        VerifyCache, VERIFY_CACHE_BYTES,
    },
};
use serde_json::{Map, Value};

const ISSUER: &str = "https://inkan.bench";

struct NoneRevoked;

impl RevocationCheck for NoneRevoked {
    fn is_revoked(&self, _: &SessionId) -> bool {
        false
    }

    fn subject_cut_off(&self, _: &Subject) -> Option<i64> {
        None
    }
}

fn verify_cache(c: &mut Criterion<ProcessCpu>) {
    let now = inkan::clock::now();
    let audience = vec!["orders".to_owned()];
    let mut custom = Map::new();
    custom.insert("tenant".into(), Value::from("acme"));
    for alg in [KeyAlgorithm::EdDSA, KeyAlgorithm::ES256] {
        let set = KeySet::ephemeral(alg).expect("a generated key");
        let claims = AccessTokenClaims {
            iss: ISSUER,
            sub: "user-42",
            aud: &audience,
            exp: now + 900,
            iat: now,
            nbf: now,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: uuid::Uuid::new_v4().to_string(),
            client_id: "web",
            scope: "orders:read orders:write".into(),
            custom: &custom,
        };
        let token = sign_access_token(&claims, set.active()).unwrap();
        let keys = set.verifying_keys();
        let mut expect = Expectations::new(ISSUER, now);
        expect.audience = Some("orders");
        expect.revocations = Some(&NoneRevoked);
        let cache = VerifyCache::new(VERIFY_CACHE_BYTES);

        let mut group = c.benchmark_group(format!("verify repeated token/{alg}"));
        group.bench_function("full check", |b| {
            b.iter(|| verify_access_token(black_box(&token), &keys, &expect).unwrap())
        });
        group.bench_function("from the cache", |b| {
            b.iter(|| cache.verify(black_box(&token), &keys, &expect).unwrap())
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ProcessCpu::default());
    targets = verify_cache
}
criterion_main!(benches);
