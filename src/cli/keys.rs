//! `inkan keys ...`: generating, rotating and showing key-set files. Every
//! change is validated as a whole key set before the file is replaced
//! (atomically), so a running server never reads a half-made set.

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use super::{
    flags::{print_json, ConfigFile, KeysFlag, Output},
    KeysCommand,
};
use crate::{
    authority::{JWKS_MAX_AGE, NEXT_KEY_MIN_PUBLISHED},
    config::Settings,
    keys::{
        load_key_file, read_key_set_file, rotation, KeyAlgorithm, KeySet, KeySetFile, KeyState,
    },
};

pub(super) fn run(command: KeysCommand) -> Result<(), String> {
    match command {
        KeysCommand::Generate {
            alg,
            keys_file,
            file,
        } => {
            // A config file is read only when one is named: without one,
            // the key set is printed, whatever INKAN_KEYS_FILE says.
            let keys_file = match keys_file {
                Some(path) => Some(path),
                None if file.given() => file.load()?.keys_file,
                None => None,
            };
            generate(alg, keys_file)
        }
        KeysCommand::Rotate {
            file: config,
            keys,
            alg,
            force,
            drop_retired,
            token_lifetime,
        } => {
            let mut settings = config.load()?;
            keys.apply(&mut settings);
            rotate(&settings, alg, force, drop_retired, token_lifetime)
        }
        KeysCommand::AddLegacy {
            file,
            keys,
            secret_file,
            sunset,
            label,
            issuer,
            max_remaining_without_iat,
            subject_claim,
            audience,
            access_audience,
            access_scopes,
            refresh,
            session_audience,
            session_scopes,
        } => {
            let mapping = rotation::LegacyMapping {
                subject_claim,
                audience,
                access_audience,
                access_scopes,
                refresh,
                session_audience,
                session_scopes,
            };
            let legacy = LegacyKey {
                label,
                sunset,
                issuer,
                max_remaining_without_iat,
                mapping,
            };
            add_legacy(&key_set_file(file, keys)?, &secret_file, legacy)
        }
        KeysCommand::Show { file, keys, output } => {
            let views = views(&load(&key_set_file(file, keys)?)?);
            match output.output {
                Output::Text => views.iter().for_each(|v| println!("{}", v.line())),
                Output::Json => print_json(&serde_json::json!({ "keys": views })),
            }
            Ok(())
        }
    }
}

/// Loads the key set at `path` as start-up and reloads do
/// ([`load_key_file`]), saying its warnings on standard error.
pub(super) fn load(path: &Path) -> Result<KeySet, String> {
    let loaded = load_key_file(path).map_err(|e| e.to_string())?;
    warn_of(&loaded.warnings);
    Ok(loaded.set)
}

/// Reads the key-set file at `path` the same way, for a command that
/// rewrites it: parsed, and validated only as the set it will write.
fn read_to_rewrite(path: &Path) -> Result<KeySetFile, String> {
    let read = read_key_set_file(path).map_err(|e| e.to_string())?;
    warn_of(&read.warnings);
    Ok(read.file)
}

fn warn_of(warnings: &[String]) {
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
}

const NO_KEY_SET: &str =
    "no key set: pass --keys FILE, set INKAN_KEYS_FILE, or give a --config with keys_file";

/// The key-set file a command works on: `--keys`, else the `keys_file` of
/// the config file and environment, as `serve` reads it.
fn key_set_file(file: ConfigFile, keys: KeysFlag) -> Result<PathBuf, String> {
    let mut settings = file.load()?;
    keys.apply(&mut settings);
    settings.keys_file.ok_or_else(|| NO_KEY_SET.to_owned())
}

/// `keys generate`: a new set of one active key, written to a file that
/// does not exist yet, or printed.
fn generate(alg: KeyAlgorithm, keys_file: Option<PathBuf>) -> Result<(), String> {
    let file = KeySetFile::generate(alg).map_err(|e| e.to_string())?;
    let Some(path) = keys_file else {
        print!("{}", file.to_json());
        return Ok(());
    };
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
    Ok(())
}

/// `keys rotate`: the one step the file is ready for. With
/// `drop_retired`, drop the keys whose tokens have all expired; otherwise
/// promote a waiting next key, or publish a new one.
fn rotate(
    settings: &Settings,
    alg: Option<KeyAlgorithm>,
    force: bool,
    drop_retired: bool,
    token_lifetime: Option<Duration>,
) -> Result<(), String> {
    let keys_file = settings.keys_file.clone().ok_or(NO_KEY_SET)?;
    let mut file = read_to_rewrite(&keys_file)?;
    let now = SystemTime::now();
    if drop_retired {
        let lifetime = retired_key_lifetime(settings, token_lifetime, force)?;
        drop_retired_keys(&mut file, &keys_file, now, lifetime)
    } else if file.keys.iter().any(|k| k.state == KeyState::Next) {
        let (active, retired) = rotation::promote(&mut file, now, NEXT_KEY_MIN_PUBLISHED, force)
            .map_err(|e| e.to_string())?;
        write(&file, &keys_file)?;
        println!("{active} now signs; {retired} is verify_only until its tokens expire");
        Ok(())
    } else {
        let next = rotation::add_next(&mut file, alg).map_err(|e| e.to_string())?;
        write(&file, &keys_file)?;
        println!(
            "{next} is published as next; once every server serves it, wait {} s (twice the JWKS \
             max-age of {} s) and run rotate again to make it sign",
            NEXT_KEY_MIN_PUBLISHED.as_secs(),
            JWKS_MAX_AGE.as_secs()
        );
        Ok(())
    }
}

/// `keys rotate --drop-retired`: removes the keys no live token can need
/// and rewrites the file, or says when the first may go.
fn drop_retired_keys(
    file: &mut KeySetFile,
    path: &Path,
    now: SystemTime,
    lifetime: Duration,
) -> Result<(), String> {
    let dropped = rotation::drop_retired(file, now, lifetime);
    if dropped.is_empty() {
        match rotation::earliest_drop(file, lifetime) {
            Some((kid, when)) => println!(
                "nothing dropped: no key is past its last token's expiry; the first to go, {kid}, \
                 may be dropped from {}",
                humantime::format_rfc3339_seconds(when)
            ),
            None => println!("nothing dropped: no key is retired or past a sunset"),
        }
        return Ok(());
    }
    KeySet::from_file_contents(file).map_err(|e| e.to_string())?;
    write(file, path)?;
    println!("dropped {}", dropped.join(", "));
    Ok(())
}

/// What `keys add-legacy` adds: a former system's key, by its name in the
/// set, and how its tokens are read.
struct LegacyKey {
    label: String,
    sunset: SystemTime,
    issuer: Option<String>,
    max_remaining_without_iat: Option<Duration>,
    mapping: rotation::LegacyMapping,
}

/// `keys add-legacy`: adds the secret in `secret_file` to the key set at
/// `keys_file` as a legacy key, if the set stays valid.
fn add_legacy(keys_file: &Path, secret_file: &Path, legacy: LegacyKey) -> Result<(), String> {
    let mut file = read_to_rewrite(keys_file)?;
    let secret = read_secret(secret_file)?;
    rotation::add_legacy_mapped(
        &mut file,
        &legacy.label,
        &secret,
        legacy.sunset,
        legacy.issuer,
        legacy.max_remaining_without_iat,
        legacy.mapping,
    )
    .map_err(|e| e.to_string())?;
    write(&file, keys_file)?;
    println!(
        "legacy key {} accepts tokens without a kid until {}",
        legacy.label,
        humantime::format_rfc3339_seconds(legacy.sunset)
    );
    Ok(())
}

/// The former system's secret, as `keys add-legacy` takes it: the file's
/// raw bytes without a trailing newline.
fn read_secret(path: &Path) -> Result<Vec<u8>, String> {
    let mut secret =
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    while secret.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        secret.pop();
    }
    Ok(secret)
}

/// How long after retiring a key `--drop-retired` waits: what the
/// configuration says a retired key's tokens may live, or a
/// `--token-lifetime` that is longer, or shorter only with `--force`.
fn retired_key_lifetime(
    settings: &Settings,
    token_lifetime: Option<Duration>,
    force: bool,
) -> Result<Duration, String> {
    let minimum = settings.retired_key_lifetime().map_err(|e| e.to_string())?;
    let Some(given) = token_lifetime else {
        return Ok(minimum.total());
    };
    if given >= minimum.total() {
        return Ok(given);
    }
    let given_text = humantime::format_duration(given);
    if !force {
        return Err(format!(
            "--token-lifetime {given_text} is shorter than the {minimum} that a retired key's tokens may \
             still be alive, by --config / INKAN_*; drop it later, or pass --force to drop it anyway"
        ));
    }
    eprintln!(
        "warning: --token-lifetime {given_text} is shorter than the {minimum} that a retired key's tokens \
         may still be alive: tokens it signed are refused with KEY_UNKNOWN from now on"
    );
    Ok(given)
}

fn write(file: &KeySetFile, path: &Path) -> Result<(), String> {
    file.write(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// What `check` and `keys show` say of one key: what an operator compares
/// between environments. Never material. Its field names are the JSON
/// output's, and stay as they are.
#[derive(Debug, serde::Serialize)]
pub(super) struct KeyView {
    kid: String,
    alg: &'static str,
    state: &'static str,
    fingerprint: String,
    created_at: Option<String>,
    retired_at: Option<String>,
    legacy: bool,
    sunset: Option<String>,
    /// For a legacy key: how long a token without `iat` may have left.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_remaining_without_iat: Option<String>,
    /// For a legacy key: what its tokens are used as (`access`, `refresh`).
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    uses: Option<Vec<&'static str>>,
    /// For a legacy key: the claim holding the subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    subject_claim: Option<String>,
}

impl KeyView {
    /// The key as one line of text.
    pub(super) fn line(&self) -> String {
        let mut line = format!(
            "key {}  alg {}  state {}  fingerprint {}",
            self.kid, self.alg, self.state, self.fingerprint
        );
        if let Some(created) = &self.created_at {
            line.push_str(&format!("  created {created}"));
        }
        if let Some(retired) = &self.retired_at {
            line.push_str(&format!("  retired {retired}"));
        }
        if let Some(sunset) = self.sunset.as_ref().filter(|_| self.legacy) {
            line.push_str(&format!("  legacy until {sunset}"));
        }
        if let Some(left) = &self.max_remaining_without_iat {
            line.push_str(&format!("  without iat if at most {left} left"));
        }
        if let Some(uses) = &self.uses {
            line.push_str(&format!("  use {}", uses.join(",")));
        }
        if let Some(claim) = &self.subject_claim {
            line.push_str(&format!("  subject from {claim}"));
        }
        line
    }
}

/// Every key of `set`, in file order.
pub(super) fn views(set: &KeySet) -> Vec<KeyView> {
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
        .map(|k| KeyView {
            kid: k.kid().to_string(),
            alg: k.alg().as_str(),
            state: k.state().as_str(),
            fingerprint: k.fingerprint().to_owned(),
            created_at: time(k.created_at()),
            retired_at: time(k.retired_at()),
            legacy: k.legacy().is_some(),
            sunset: time(k.legacy().map(|l| l.sunset)),
            max_remaining_without_iat: k
                .legacy()
                .and_then(|l| l.max_remaining_without_iat)
                .and_then(|s| u64::try_from(s).ok())
                .map(|s| humantime::format_duration(std::time::Duration::from_secs(s)).to_string()),
            uses: k.legacy().map(|l| {
                [("access", l.access), ("refresh", l.refresh)]
                    .into_iter()
                    .filter_map(|(name, on)| on.then_some(name))
                    .collect()
            }),
            subject_claim: k.legacy().map(|l| l.subject_claim().to_owned()),
        })
        .collect()
}
