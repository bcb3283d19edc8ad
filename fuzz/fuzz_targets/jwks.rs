//! Any bytes as a published JWKS, as a consumer takes one in from the HTTP
//! endpoint or a WatchKeys message: it must be refused with an error or
//! taken, never panic.

#![no_main]

use inkan_core::keys::VerifyingKeys;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(keys) = VerifyingKeys::from_jwks_json(text) {
        let _ = keys.kids();
    }
});
