//! Writes the keys the fuzzers verify against and seeds their corpora from
//! the hostile cases of the test suite, so fuzzing starts from every known
//! attack rather than from nothing. An example of the main crate, so it
//! builds with the tests' dependencies in the one target directory:
//! `cargo run --example fuzz_seed`.
//!
//! The fuzzers build only `inkan-core`, so they get the keys as a consumer
//! does: the published JWKS, plus the legacy secret as raw bytes.

#[path = "../tests/hostile/mod.rs"]
mod hostile;

use std::{fs, path::Path};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

fn main() -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let dir = dir.as_path();
    let forge = hostile::Forge::new();
    let jwks = serde_json::to_string_pretty(&forge.set.jwks())?;
    fs::write(dir.join("jwks.generated.json"), &jwks)?;
    let legacy = serde_json::json!({
        "label": "monolith",
        "secret": URL_SAFE_NO_PAD.encode(hostile::LEGACY_SECRET),
    });
    fs::write(dir.join("legacy.generated.json"), legacy.to_string())?;

    let tokens = dir.join("corpus/verify_token");
    fs::create_dir_all(&tokens)?;
    let cases = hostile::cases(&forge);
    for (i, case) in cases.iter().enumerate() {
        fs::write(tokens.join(format!("hostile-{i:03}")), &case.token)?;
    }
    let sets = dir.join("corpus/jwks");
    fs::create_dir_all(&sets)?;
    fs::write(sets.join("every-kind"), &jwks)?;
    fs::write(sets.join("empty"), r#"{"keys":[]}"#)?;
    fs::write(
        sets.join("private"),
        jwks.replacen("\"kty\"", "\"d\": \"AAAA\", \"kty\"", 1),
    )?;
    fs::write(
        sets.join("oct"),
        r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"hs","alg":"HS256"}]}"#,
    )?;
    println!(
        "seeded {} tokens and 4 key sets under {}",
        cases.len(),
        dir.join("corpus").display()
    );
    Ok(())
}
