//! Any bytes through the one verification path, against the keys a
//! consumer holds (the published JWKS of a set with every key kind) and a
//! former system's legacy key. It must never panic, whatever the input.
//! Run `cargo run --example fuzz_seed` first: it writes those keys and a
//! corpus of hostile tokens signed with them.

#![no_main]

use std::{sync::LazyLock, time::Duration};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use inkan_core::{
    ids::Kid,
    keys::{Legacy, LegacyKey, VerifyingKeys},
    token::{verify_access_token, Expectations},
};
use jsonwebtoken::DecodingKey;
use libfuzzer_sys::fuzz_target;

fn generated(name: &str) -> String {
    let path = format!("{}/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).expect("run `cargo run --example fuzz_seed` first")
}

static KEYS: LazyLock<VerifyingKeys> = LazyLock::new(|| {
    let legacy: serde_json::Value =
        serde_json::from_str(&generated("legacy.generated.json")).expect("legacy key JSON");
    let secret = URL_SAFE_NO_PAD
        .decode(legacy["secret"].as_str().expect("legacy secret"))
        .expect("base64url legacy secret");
    let terms = Legacy {
        max_remaining_without_iat: Some(3600),
        ..Legacy::until(i64::MAX)
    };
    VerifyingKeys::from_jwks_json(&generated("jwks.generated.json"))
        .expect("the seeded JWKS is valid")
        .with_legacy([LegacyKey::new(
            Kid::parse("monolith").expect("a valid label"),
            DecodingKey::from_secret(&secret),
            terms,
        )])
});

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let scopes = [inkan_core::ids::Scope::parse("orders:read").expect("a valid scope")];
    for audience in [None, Some("orders")] {
        let mut expect = Expectations::new("https://inkan.test", inkan_core::clock::now());
        expect.audience = audience;
        expect.required_scopes = if audience.is_some() { &scopes } else { &[] };
        expect.leeway = Duration::from_secs(30);
        expect.allow_expired = audience.is_none();
        let _ = verify_access_token(token, &KEYS, &expect);
    }
});
