//! `inkan keys ...`: generating, rotating and showing key-set files. Every
//! change is validated as a whole key set before the file is replaced
//! (atomically), so a running server never reads a half-made set.

use std::{path::Path, time::SystemTime};

use super::KeysCommand;
use crate::{
    authority::{JWKS_MAX_AGE, NEXT_KEY_MIN_PUBLISHED},
    keys::{rotation, KeySet, KeySetFile},
};

pub(super) fn run(command: KeysCommand) -> Result<(), String> {
    match command {
        KeysCommand::Generate { alg, out } => {
            let file = KeySetFile::generate(alg).map_err(|e| e.to_string())?;
            match out {
                Some(path) => {
                    if path.exists() {
                        return Err(format!(
                            "{} already exists; inkan will not overwrite a key set",
                            path.display()
                        ));
                    }
                    write(&file, &path)?;
                    let key = &file.keys[0];
                    eprintln!(
                        "wrote {} with active key {} ({})",
                        path.display(),
                        key.kid,
                        key.alg
                    );
                }
                None => print!("{}", file.to_json()),
            }
            Ok(())
        }
        KeysCommand::Rotate {
            keys_file,
            alg,
            force,
            drop_retired,
            token_lifetime,
        } => {
            let mut file = KeySetFile::read(&keys_file).map_err(|e| e.to_string())?;
            let now = SystemTime::now();
            if drop_retired {
                let dropped = rotation::drop_retired(&mut file, now, token_lifetime);
                if dropped.is_empty() {
                    println!("no key is past its last token's expiry; nothing dropped");
                    return Ok(());
                }
                KeySet::from_file_contents(&file).map_err(|e| e.to_string())?;
                write(&file, &keys_file)?;
                println!("dropped {}", dropped.join(", "));
            } else if file
                .keys
                .iter()
                .any(|k| k.state == crate::keys::KeyState::Next)
            {
                let (active, retired) =
                    rotation::promote(&mut file, now, NEXT_KEY_MIN_PUBLISHED, force)
                        .map_err(|e| e.to_string())?;
                write(&file, &keys_file)?;
                println!("{active} now signs; {retired} is verify_only until its tokens expire");
            } else {
                let next = rotation::add_next(&mut file, alg).map_err(|e| e.to_string())?;
                write(&file, &keys_file)?;
                println!(
                    "{next} is published as next; once every server serves it, wait {} s (twice the JWKS \
                     max-age of {} s) and run rotate again to make it sign",
                    NEXT_KEY_MIN_PUBLISHED.as_secs(),
                    JWKS_MAX_AGE.as_secs()
                );
            }
            Ok(())
        }
        KeysCommand::AddLegacy {
            keys_file,
            secret_file,
            sunset,
            label,
            issuer,
            max_remaining_without_iat,
        } => {
            let mut file = KeySetFile::read(&keys_file).map_err(|e| e.to_string())?;
            let mut secret = std::fs::read(&secret_file)
                .map_err(|e| format!("cannot read {}: {e}", secret_file.display()))?;
            while secret.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                secret.pop();
            }
            rotation::add_legacy(
                &mut file,
                &label,
                &secret,
                sunset,
                issuer,
                max_remaining_without_iat,
            )
            .map_err(|e| e.to_string())?;
            write(&file, &keys_file)?;
            println!(
                "legacy key {label} accepts tokens without a kid until {}",
                humantime::format_rfc3339_seconds(sunset)
            );
            Ok(())
        }
        KeysCommand::Show { keys_file } => {
            let set = KeySet::load(&keys_file).map_err(|e| e.to_string())?;
            for line in describe(&set) {
                println!("{line}");
            }
            Ok(())
        }
    }
}

fn write(file: &KeySetFile, path: &Path) -> Result<(), String> {
    file.write(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// One line per key: what an operator compares between environments.
pub(super) fn describe(set: &KeySet) -> Vec<String> {
    let time = |t: Option<i64>| {
        t.and_then(|s| u64::try_from(s).ok()).map(|s| {
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(s),
            )
            .to_string()
        })
    };
    set.keys()
        .iter()
        .map(|k| {
            let mut line = format!(
                "key {}  alg {}  state {}  fingerprint {}",
                k.kid(),
                k.alg(),
                k.state(),
                k.fingerprint()
            );
            if let Some(created) = time(k.created_at()) {
                line.push_str(&format!("  created {created}"));
            }
            if let Some(retired) = time(k.retired_at()) {
                line.push_str(&format!("  retired {retired}"));
            }
            if let Some(legacy) = k.legacy() {
                line.push_str(&format!(
                    "  legacy until {}",
                    time(Some(legacy.sunset)).unwrap_or_default()
                ));
                if let Some(secs) = legacy
                    .max_remaining_without_iat
                    .and_then(|s| u64::try_from(s).ok())
                {
                    line.push_str(&format!(
                        "  without iat if at most {} left",
                        humantime::format_duration(std::time::Duration::from_secs(secs))
                    ));
                }
            }
            line
        })
        .collect()
}
