//! What a signature costs: raw jsonwebtoken (`encode`, `decode`) against
//! inkan's own signing ([`Signer::sign_jws`], what the server's Issue and
//! Refresh call) and verification ([`verify_access_token`], what Verify and
//! every consumer call), with the same key, per algorithm. The ratio
//! inkan / raw shows what inkan adds around the crypto (strict JSON checks,
//! claims, revocation look-ups) and what preparing the key once saves; the
//! raw figures are baselines BENCHMARKS.md divides by.
//!
//! The backend is the build's:
//!
//! ```sh
//! cargo bench -p inkan-core --bench crypto                       # aws-lc-rs
//! cargo bench -p inkan-core --bench crypto --no-default-features --features rust_crypto
//! ```
//!
//! The keys are fixed test keys, generated for this file only. Times are
//! the CPU time of the benchmarking thread, so builds running beside it on
//! a shared machine do not inflate them the way wall time is.

use std::{hint::black_box, time::Duration};

use cpu_time::ThreadTime;
use criterion::{
    criterion_group, criterion_main,
    measurement::{Measurement, ValueFormatter, WallTime},
    Criterion,
};
use inkan_core::{
    ids::{SessionId, Subject},
    keys::{KeyAlgorithm, Signer, VerifyingKeys, CRYPTO_BACKEND},
    token::{verify_access_token, Expectations, RevocationCheck},
};
use jsonwebtoken::{
    jwk::{Jwk, JwkSet},
    EncodingKey, Header, Validation,
};
use serde_json::{json, Map, Value};

const ISSUER: &str = "https://inkan.bench";

const ED25519: &str = r"-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIKSHMklKero4tjQ7Ml6v8ta6csGrw2qsE8JheZPkSJWu
-----END PRIVATE KEY-----";
const P256: &str = r"-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgYERuEE5HMpnJnQZx
4P711qsJH6ZlVc/xml6Ss5TkeBehRANCAASpZzWJhUWmc3snO2Vxkf/yxfAE+ba5
pC+/JI/Db72OCAVA/jCSs40mo2WNbZrKtTWlb013PtWDrQodzIHMoMHB
-----END PRIVATE KEY-----";
const RSA2048: &str = r"-----BEGIN RSA PRIVATE KEY-----
MIIEpAIBAAKCAQEAvuuOB/K1OoYUrr6DdurTIKFwnNXiLgzyfLfn1JO8YHl121pc
5XGQDmCQC2LTmWjY7N0baU3wp7cJ93N69Z4IKC7DHi4tXR8g+DdF/Jt43OO30dMU
bP493OpR4elPIJoAzPELY6pNQCUW3J18BjRHCnfi9yOWKL3n2Cx3ZA8spIDAHkA4
XpcwT6KZEMhURuXVBpoQAWX7+FErXiGpkmsAQcikFXOnLmz3t7fAiK8h3qNtBjW5
BJHo3Y3QNf44B2PEa7uRfPrc4wUxYI7UUS/vD+SVc2mpFy1QENjbMZJ8dA60QSWf
EiukAgH25OJR0EdYN9bUPb7ThhH2EWhepLV8nQIDAQABAoIBAAKa57n7iZYGGNem
kVgozZ8zHLyDHZ43voJNpxvrNSWS2rUWx1A5K7hKgISrQUxlVhprTPGzps4/DOOD
v6CE2sMjmjV591P/Nf21EV8oRu6qq8ow6WUwVetDBkGBI7uD5nFlc5yVSQ8QQn7Z
pkTWZ0bBCoeJRIYDS1vThYCHxXnsIsbC7t9FwLx30+kC0r4978aJo0cjS16ikJbE
iSaI6MPFRzTMrI4L/cs/2qCovCoUnoN/RMPw817UJ5jMMz8QE9ZcCJPZICHz1OzG
b94LIYBQ6m/oJiW6m2Rp37GTYLE8cnbVoP1ENN0at7AlEpMuCPHAec45Gd5wCvoe
MEzT9HECgYEA7N8dhyY0W+xt10bQ6SBqTgA4Y24YcApCq7Njg2W06cl8P92RWfrJ
HJ3soIxpzlbIoT2vJGZEtlazETIvwFH0fokX93vS7ohv6VZzeA8eoxxa05YsOIvb
yY9Q/+7hpkWjS8UUPBQ5vbY6aiXnNVu8xlnxxAdXldtECWpXjn0DdY0CgYEAzlZ6
d+gfREHWQAKU8HaowO5cAF/laZjot9MSVj+WlWF0sOrW0hzL6HyWRWlzrnmsrdWd
DKZmA5HMGI9+lbEw5NtN88j8/t0iTmDjI3A6yyS6tYifHWqumeUmNODocKoxYWPs
OLmc1tHgFekPX6hA9kRCqIZM4J4E135wYVzMN1ECgYEA2kPZbKCKnK2mpTju5fJl
okxXqV9Yi10ZBCg/qWM9qjNsF1luRzBswr7OvT3FfUnAg7tYOL030aDgThcloxyh
oztmZzilLAFyxdtQeS/NdlV5aAC37L8LHpa996dCLDl8+CO4uoeUkThqaUdV3ngS
4d8dhRmS3lZ2QgrIdVbCqj0CgYAd5B09vZy58KevAjC9XRM5T854J2w+je44oxUm
9XNFFKco8fxI1+8aMOI8D/i4L9w6GpXzvS9OGRLuA+ucl9yzaqmyRU2RRkuv+w0s
lxeNUjbSEYarZkcA+Fc+lc5Wc/FPYIBZ/1mfLSw/QFH/04oFowHdFAeTCpE8/o4d
LKpQ4QKBgQC0rq82FEVkRCXo7/oGn5TYbFDvdDRj+Fmf+8m0+pVo99e5EZpOaB8U
1fotQUmL6uwL6YMa3nSkePvikpcaBtNueaWcsHZ+PqhO770YIaOWBhTEAjg+x60p
IEiNv+7tSYblJUKbvz6EOD1787W0zYwq7IMl1Nfg/Xg39gg/gJbMKQ==
-----END RSA PRIVATE KEY-----";

/// Nothing is revoked, but every verification asks, as the server's does.
struct NoneRevoked;

impl RevocationCheck for NoneRevoked {
    fn is_revoked(&self, _: &SessionId) -> bool {
        false
    }

    fn subject_cut_off(&self, _: &Subject) -> Option<i64> {
        None
    }
}

/// The benchmarking thread's CPU time, user and system.
struct ThreadCpu {
    /// Only for its formatter: values are nanoseconds, as wall time's are.
    wall: WallTime,
}

impl Measurement for ThreadCpu {
    type Intermediate = ThreadTime;
    type Value = Duration;

    fn start(&self) -> ThreadTime {
        ThreadTime::now()
    }

    fn end(&self, started: ThreadTime) -> Duration {
        started.elapsed()
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        self.wall.formatter()
    }
}

fn crypto(c: &mut Criterion<ThreadCpu>) {
    let now = inkan_core::clock::now();
    // What inkan signs into an access token (see the server's claims.rs).
    let claims = json!({
        "iss": ISSUER,
        "sub": "user-42",
        "aud": "orders",
        "exp": now + 900,
        "iat": now,
        "nbf": now,
        "jti": uuid::Uuid::new_v4().to_string(),
        "sid": uuid::Uuid::new_v4().to_string(),
        "client_id": "web",
        "scope": "orders:read orders:write",
        "tenant": "acme",
    });
    for (alg, pem) in [
        (KeyAlgorithm::EdDSA, ED25519),
        (KeyAlgorithm::ES256, P256),
        (KeyAlgorithm::RS256, RSA2048),
    ] {
        let encoding = match alg {
            KeyAlgorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
            KeyAlgorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
        }
        .expect("a valid test key");
        let kid = format!("bench-{}", alg.as_str().to_lowercase());
        let mut header = Header::new(alg.jws());
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid.clone());
        // The verifying keys as the server and every consumer build them:
        // from the published JWKS.
        let mut jwk = Jwk::from_encoding_key(&encoding, alg.jws()).expect("a public JWK");
        jwk.common.key_id = Some(kid.clone());
        let jwks = serde_json::to_string(&JwkSet { keys: vec![jwk] }).unwrap();
        let keys = VerifyingKeys::from_jwks_json(&jwks).expect("a valid JWKS");
        let decoding = keys.get(&kid).expect("the key").decoding_key().clone();
        let signer = Signer::new(alg, &encoding).expect("a valid signing key");

        let mut group = c.benchmark_group(format!("{alg}/{CRYPTO_BACKEND}"));
        group.bench_function("raw sign (jsonwebtoken::encode)", |b| {
            b.iter(|| jsonwebtoken::encode(black_box(&header), &claims, &encoding).unwrap())
        });
        group.bench_function("inkan sign (Signer::sign_jws)", |b| {
            b.iter(|| signer.sign_jws(black_box(&header), &claims).unwrap())
        });

        let token = signer.sign_jws(&header, &claims).unwrap();
        let mut validation = Validation::new(alg.jws());
        validation.set_audience(&["orders"]);
        validation.set_issuer(&[ISSUER]);
        group.bench_function("raw verify (jsonwebtoken::decode)", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<Map<String, Value>>(
                    black_box(&token),
                    &decoding,
                    &validation,
                )
                .unwrap()
            })
        });
        let mut expect = Expectations::new(ISSUER, now);
        expect.audience = Some("orders");
        expect.revocations = Some(&NoneRevoked);
        group.bench_function("inkan verify (verify_access_token)", |b| {
            b.iter(|| verify_access_token(black_box(&token), &keys, &expect).unwrap())
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu { wall: WallTime });
    targets = crypto
}
criterion_main!(benches);
