//! Writes the fuzzers' key set and seeds their corpora from the hostile
//! cases of the test suite, so fuzzing starts from every known attack
//! rather than from nothing. An example of the main crate, so it builds
//! with the tests' dependencies in the one target directory:
//! `cargo run --example fuzz_seed`.

#[path = "../tests/hostile/mod.rs"]
mod hostile;

use std::{fs, path::Path};

fn main() -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let dir = dir.as_path();
    let forge = hostile::Forge::new();
    let keys = forge.file.to_json();
    fs::write(dir.join("keys.generated.json"), &keys)?;

    let tokens = dir.join("corpus/verify_token");
    fs::create_dir_all(&tokens)?;
    let cases = hostile::cases(&forge);
    for (i, case) in cases.iter().enumerate() {
        fs::write(tokens.join(format!("hostile-{i:03}")), &case.token)?;
    }
    let sets = dir.join("corpus/key_set");
    fs::create_dir_all(&sets)?;
    fs::write(sets.join("every-kind"), &keys)?;
    fs::write(sets.join("empty"), r#"{"keys":[]}"#)?;
    fs::write(
        sets.join("not-active"),
        keys.replace("\"active\"", "\"next\""),
    )?;
    println!(
        "seeded {} tokens and 3 key sets under {}",
        cases.len(),
        dir.join("corpus").display()
    );
    Ok(())
}
