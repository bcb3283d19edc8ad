//! `inkan callers add`: make an API key for a caller. The key is random,
//! printed once and kept nowhere: the configuration holds only its
//! SHA-256, in the `[[callers]]` stanza printed with it.

use secrecy::ExposeSecret;

use super::CallersCommand;
use crate::callers::{api_key_sha256, generate_api_key, Permission};

pub(super) fn run(command: CallersCommand) -> Result<(), String> {
    match command {
        CallersCommand::Add { name, permissions } => add(&name, &permissions),
    }
}

fn add(name: &str, permissions: &[Permission]) -> Result<(), String> {
    // A name goes into TOML and logs as it is: keep it to characters that
    // need no quoting anywhere.
    let plain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if name.is_empty() || name.len() > 64 || !name.bytes().all(plain) {
        return Err(
            "--name must be 1 to 64 letters, digits, '-', '_' or '.' (e.g. --name orders)".into(),
        );
    }
    let mut granted: Vec<&str> = Vec::new();
    for permission in permissions {
        if !granted.contains(&permission.as_str()) {
            granted.push(permission.as_str());
        }
    }
    let key = generate_api_key();
    let key = key.expose_secret();
    let listed: Vec<String> = granted.iter().map(|p| format!("{p:?}")).collect();
    println!("# The API key for caller {name:?}, shown this once: inkan keeps only its SHA-256.");
    println!("# Give it to the caller's secret store; it is sent as the x-api-key header.");
    println!("{key}");
    println!();
    println!("# Add this to the server's configuration file:");
    println!("[[callers]]");
    println!("name = {name:?}");
    println!("api_key_sha256 = \"{}\"", api_key_sha256(key));
    println!("permissions = [{}]", listed.join(", "));
    if granted.is_empty() {
        eprintln!("note: with no --permission, {name} may only Verify");
    }
    Ok(())
}
