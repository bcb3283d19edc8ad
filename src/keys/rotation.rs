//! Rotating a key set, one safe step at a time, on the file itself:
//!
//! 1. `add_next`: a new key is published as `next`; nothing signs with it.
//! 2. `promote`: once consumers' cached key sets include it (at least the
//!    JWKS max-age after it was published), `next` becomes `active` and the
//!    old active key becomes `verify_only`.
//! 3. `drop_retired`: once every token a `verify_only` key signed has
//!    expired, the key is removed.
//!
//! Each step leaves a valid key set, so the server (which reloads the file)
//! never sees an unknown kid or a token it can no longer verify.

use std::time::{Duration, SystemTime};

use secrecy::SecretString;

use super::{KeyAlgorithm, KeyFileEntry, KeySet, KeySetError, KeySetFile, KeyState};

fn now_rfc3339(now: SystemTime) -> String {
    humantime::format_rfc3339_seconds(now).to_string()
}

fn age(text: Option<&str>, now: SystemTime) -> Option<Duration> {
    let then = humantime::parse_rfc3339_weak(text?).ok()?;
    Some(now.duration_since(then).unwrap_or_default())
}

fn refuse(message: String) -> KeySetError {
    KeySetError::Rotation(message)
}

/// Adds a `next` key (of `alg`, or the active key's algorithm) and returns
/// its kid. Refused while a `next` key is already waiting.
pub fn add_next(file: &mut KeySetFile, alg: Option<KeyAlgorithm>) -> Result<String, KeySetError> {
    if let Some(next) = file.keys.iter().find(|k| k.state == KeyState::Next) {
        return Err(refuse(format!(
            "key {:?} is already waiting as next; promote it first",
            next.kid
        )));
    }
    let active_alg = file
        .keys
        .iter()
        .find(|k| k.state == KeyState::Active)
        .map(|k| k.alg)
        .ok_or(KeySetError::NoActiveKey)?;
    let entry = KeyFileEntry::generate(alg.unwrap_or(active_alg), KeyState::Next)?;
    let kid = entry.kid.clone();
    file.keys.push(entry);
    KeySet::from_file_contents(file)?;
    Ok(kid)
}

/// Makes the `next` key active and retires the active one; returns
/// `(new active kid, retired kid)`. Refused if the next key was published
/// less than `min_published` ago, unless `force`.
pub fn promote(
    file: &mut KeySetFile,
    now: SystemTime,
    min_published: Duration,
    force: bool,
) -> Result<(String, String), KeySetError> {
    let next = file
        .keys
        .iter()
        .position(|k| k.state == KeyState::Next)
        .ok_or_else(|| refuse("no key is waiting as next; add one first".into()))?;
    let active = file
        .keys
        .iter()
        .position(|k| k.state == KeyState::Active)
        .ok_or(KeySetError::NoActiveKey)?;
    let published = age(file.keys[next].created_at.as_deref(), now).unwrap_or_default();
    if published < min_published && !force {
        return Err(refuse(format!(
            "key {:?} was published {} s ago; promote it once it has been published for {} s, so every \
             consumer's cached key set knows it (or pass --force)",
            file.keys[next].kid,
            published.as_secs(),
            min_published.as_secs()
        )));
    }
    file.keys[next].state = KeyState::Active;
    file.keys[active].state = KeyState::VerifyOnly;
    file.keys[active].retired_at = Some(now_rfc3339(now));
    KeySet::from_file_contents(file)?;
    Ok((file.keys[next].kid.clone(), file.keys[active].kid.clone()))
}

/// Removes non-legacy `verify_only` keys retired more than `token_lifetime`
/// ago (no token they signed can still be alive), and legacy keys past
/// their sunset; returns the kids removed.
pub fn drop_retired(
    file: &mut KeySetFile,
    now: SystemTime,
    token_lifetime: Duration,
) -> Vec<String> {
    let mut dropped = Vec::new();
    file.keys.retain(|k| {
        let expired = if k.legacy {
            humantime::parse_rfc3339_weak(k.sunset.as_deref().unwrap_or_default())
                .map(|sunset| sunset <= now)
                .unwrap_or(false)
        } else {
            k.state == KeyState::VerifyOnly
                && age(k.retired_at.as_deref(), now).is_some_and(|a| a >= token_lifetime)
        };
        if expired {
            dropped.push(k.kid.clone());
        }
        !expired
    });
    dropped
}

/// When [`drop_retired`] with `token_lifetime` will first remove a key, and
/// which: the earliest of every retired key's retirement plus
/// `token_lifetime`, and every legacy key's sunset. `None` when no key
/// is waiting to go.
pub fn earliest_drop(file: &KeySetFile, token_lifetime: Duration) -> Option<(String, SystemTime)> {
    let time = |text: Option<&str>| humantime::parse_rfc3339_weak(text?).ok();
    file.keys
        .iter()
        .filter_map(|k| {
            let when = if k.legacy {
                time(k.sunset.as_deref())?
            } else if k.state == KeyState::VerifyOnly {
                time(k.retired_at.as_deref())? + token_lifetime
            } else {
                return None;
            };
            Some((k.kid.clone(), when))
        })
        .min_by_key(|(_, when)| *when)
}

/// How a legacy key reads its tokens and what they may be used for,
/// beyond its sunset, issuer and `iat` bound (see the key-set file's
/// `subject_claim`, `audience`, `access_audience`, `access_scopes`, `use`,
/// `session_audience` and `session_scopes`).
#[derive(Debug, Default, Clone)]
pub struct LegacyMapping {
    /// The claim that holds the subject (`sub` when `None`).
    pub subject_claim: Option<String>,
    /// The audience its access tokens must name.
    pub audience: Option<String>,
    /// The audiences its access tokens without `aud` stand for.
    pub access_audience: Vec<String>,
    /// The scopes its access tokens without `scope` carry.
    pub access_scopes: Vec<String>,
    /// Whether its refresh tokens may be exchanged (it verifies access
    /// tokens either way).
    pub refresh: bool,
    /// The audience of the sessions its refresh tokens open.
    pub session_audience: Vec<String>,
    /// The scopes of those sessions.
    pub session_scopes: Vec<String>,
}

/// Adds a former system's HS256 secret as a legacy, verify-only key that
/// accepts tokens without a kid until `sunset`; tokens without `iat` only
/// when `max_remaining_without_iat` is given, and only with at most that
/// long left.
pub fn add_legacy(
    file: &mut KeySetFile,
    label: &str,
    secret: &[u8],
    sunset: SystemTime,
    issuer: Option<String>,
    max_remaining_without_iat: Option<Duration>,
) -> Result<(), KeySetError> {
    add_legacy_mapped(
        file,
        label,
        secret,
        sunset,
        issuer,
        max_remaining_without_iat,
        LegacyMapping::default(),
    )
}

/// [`add_legacy`], reading its tokens by `mapping`.
pub fn add_legacy_mapped(
    file: &mut KeySetFile,
    label: &str,
    secret: &[u8],
    sunset: SystemTime,
    issuer: Option<String>,
    max_remaining_without_iat: Option<Duration>,
    mapping: LegacyMapping,
) -> Result<(), KeySetError> {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let LegacyMapping {
        subject_claim,
        audience,
        access_audience,
        access_scopes,
        refresh,
        session_audience,
        session_scopes,
    } = mapping;
    let some = |list: Vec<String>| (!list.is_empty()).then_some(list);
    file.keys.push(KeyFileEntry {
        kid: label.to_owned(),
        alg: KeyAlgorithm::HS256,
        state: KeyState::VerifyOnly,
        created_at: Some(now_rfc3339(SystemTime::now())),
        retired_at: None,
        legacy: true,
        sunset: Some(now_rfc3339(sunset)),
        issuer,
        max_remaining_without_iat: max_remaining_without_iat
            .map(|d| humantime::format_duration(d).to_string()),
        subject_claim,
        audience,
        access_audience: some(access_audience),
        access_scopes: some(access_scopes),
        uses: refresh.then(|| vec![super::LegacyUse::Access, super::LegacyUse::Refresh]),
        session_audience: some(session_audience),
        session_scopes: some(session_scopes),
        allow_unpublished: false,
        private_key_pem: None,
        secret: Some(SecretString::from(URL_SAFE_NO_PAD.encode(secret))),
    });
    if let Err(err) = KeySet::from_file_contents(file) {
        file.keys.pop();
        return Err(err);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn states(file: &KeySetFile) -> Vec<KeyState> {
        file.keys.iter().map(|k| k.state).collect()
    }

    #[test]
    fn a_full_rotation_publishes_then_signs_then_drops() {
        let mut file = KeySetFile::generate(KeyAlgorithm::EdDSA).unwrap();
        let first = file.keys[0].kid.clone();
        let next = add_next(&mut file, None).unwrap();
        assert_eq!(states(&file), [KeyState::Active, KeyState::Next]);
        assert!(
            add_next(&mut file, None).is_err(),
            "only one next key at a time"
        );

        let now = SystemTime::now();
        let early = promote(&mut file, now, Duration::from_secs(300), false).unwrap_err();
        assert!(
            early.to_string().contains("cached key set knows it"),
            "{early}"
        );
        let later = now + Duration::from_secs(301);
        assert_eq!(
            promote(&mut file, later, Duration::from_secs(300), false).unwrap(),
            (next.clone(), first.clone())
        );
        assert_eq!(states(&file), [KeyState::VerifyOnly, KeyState::Active]);
        assert_eq!(
            KeySet::from_file_contents(&file)
                .unwrap()
                .active()
                .kid()
                .as_str(),
            next
        );

        assert!(drop_retired(&mut file, later + Duration::from_secs(60), HOUR).is_empty());
        let (kid, when) = earliest_drop(&file, HOUR).unwrap();
        assert_eq!(kid, first);
        let retired = humantime::parse_rfc3339_weak(&now_rfc3339(later)).unwrap();
        assert_eq!(when, retired + HOUR);
        assert_eq!(drop_retired(&mut file, later + HOUR, HOUR), [first]);
        assert_eq!(states(&file), [KeyState::Active]);
        assert_eq!(earliest_drop(&file, HOUR), None);
    }

    #[test]
    fn legacy_keys_need_a_strong_secret_and_go_at_their_sunset() {
        let mut file = KeySetFile::generate(KeyAlgorithm::EdDSA).unwrap();
        let sunset = SystemTime::now() + HOUR;
        let mut other = KeySetFile::generate(KeyAlgorithm::EdDSA).unwrap();
        let weak = add_legacy(
            &mut other,
            "old",
            b"ACCESS_SECRETACCESS_SECRETACCESS_SECRET",
            sunset,
            None,
            None,
        );
        assert!(
            matches!(weak, Err(KeySetError::SecretPlaceholder { .. })),
            "{weak:?}"
        );
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        add_legacy(&mut file, "old", &secret, sunset, None, None).unwrap();
        let set = KeySet::from_file_contents(&file).unwrap();
        assert_eq!(set.verifying_keys().legacy().len(), 1);
        assert!(
            set.verifying_keys().get("old").is_none(),
            "a legacy key is never found by kid"
        );
        assert!(
            set.jwks().keys.len() == 1,
            "a legacy secret is never published"
        );
        assert_eq!(
            drop_retired(&mut file, sunset + Duration::from_secs(1), HOUR),
            ["old"]
        );
    }
}
