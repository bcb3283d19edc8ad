//! Any bytes as a key-set file: parsing and validation must refuse what is
//! wrong with an error, never a panic.

#![no_main]

use inkan::keys::{KeySet, KeySetFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(file) = KeySetFile::parse(text) {
        if let Ok(set) = KeySet::from_file_contents(&file) {
            let _ = set.jwks();
            let _ = set.verifying_keys();
        }
    }
});
