//! Any bytes through the one verification path (and the refresh-token
//! parser), against a key set with every key kind and a legacy key. It must
//! never panic, whatever the input. Run `cargo run --example fuzz_seed` first: it writes the key set
//! and a corpus of hostile tokens signed with it.

#![no_main]

use std::{sync::LazyLock, time::Duration};

use inkan::{
    keys::{KeySet, VerifyingKeys},
    token::{verify_access_token, Expectations, RefreshToken},
};
use libfuzzer_sys::fuzz_target;

static KEYS: LazyLock<VerifyingKeys> = LazyLock::new(|| {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/keys.generated.json");
    KeySet::load(std::path::Path::new(path))
        .expect("run `cargo run --example fuzz_seed` first")
        .verifying_keys()
});

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let _ = RefreshToken::parse(token);
    for audience in [None, Some("orders")] {
        let expect = Expectations {
            issuer: "https://inkan.test",
            audience,
            required_scopes: &[],
            leeway: Duration::from_secs(30),
            now: inkan::clock::now(),
            allow_expired: audience.is_none(),
            revocations: None,
        };
        let _ = verify_access_token(token, &KEYS, &expect);
    }
});
