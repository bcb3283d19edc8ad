//! A legacy key's terms, as the key-set file gives them: its sunset, issuer
//! and `iat` bound; which claim holds the subject, which audience its
//! access tokens must carry (and which ones they stand for when they name
//! none), whether its refresh tokens may be exchanged, and what the
//! sessions they open carry. A key that is not legacy may
//! carry none of these fields.

use std::time::Duration;

use inkan_core::limits::{MAX_AUDIENCES, MAX_SCOPES};

use super::{
    signing_key::unix_time, KeyAlgorithm, KeyFileEntry, KeySetError, KeyState, Legacy, LegacyUse,
};

/// The most `max_remaining_without_iat` may allow: the 24 h no legacy token
/// may outlive (`token::legacy`).
const MAX_REMAINING_WITHOUT_IAT: Duration = Duration::from_secs(24 * 3600);

/// What a session opened by exchanging a legacy refresh token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacySessionGrant {
    /// Its audience (never empty).
    pub audience: Vec<String>,
    /// Its scopes.
    pub scopes: Vec<String>,
}

/// The legacy terms of `entry`, the key named `kid`, checked: for a legacy
/// key, the terms and what the sessions its refresh tokens open carry; for
/// any other key, `None` and none of the legacy fields.
pub(super) fn terms(
    kid: &str,
    entry: &KeyFileEntry,
) -> Result<(Option<Legacy>, Option<LegacySessionGrant>), KeySetError> {
    let problem = |problem| KeySetError::LegacyTerms {
        kid: kid.into(),
        problem,
    };
    if !entry.legacy {
        return if has_legacy_fields(entry) {
            Err(problem(
                "sunset, issuer, max_remaining_without_iat, subject_claim, audience, \
                 access_audience, access_scopes, use, session_audience and session_scopes \
                 belong to legacy keys only (set \"legacy\": true)",
            ))
        } else {
            Ok((None, None))
        };
    }
    if entry.alg != KeyAlgorithm::HS256 || entry.state != KeyState::VerifyOnly {
        return Err(problem("a legacy key must be HS256 and verify_only"));
    }
    let Some(sunset) = unix_time(kid, "sunset", entry.sunset.as_deref())? else {
        return Err(problem(
            "a legacy key needs a sunset (RFC 3339) after which it accepts nothing",
        ));
    };
    let max_remaining_without_iat = entry
        .max_remaining_without_iat
        .as_deref()
        .map(|text| {
            humantime::parse_duration(text)
                .ok()
                .filter(|d| !d.is_zero() && *d <= MAX_REMAINING_WITHOUT_IAT)
                .and_then(|d| i64::try_from(d.as_secs()).ok())
                .ok_or_else(|| {
                    problem(
                        "max_remaining_without_iat must be a duration such as \"15m\", more \
                         than 0 and at most 24h",
                    )
                })
        })
        .transpose()?;
    let (terms, grant) = mapping(kid, entry)?;
    let terms = Legacy {
        sunset,
        issuer: entry.issuer.clone(),
        max_remaining_without_iat,
        ..terms
    };
    Ok((Some(terms), grant))
}

fn has_legacy_fields(entry: &KeyFileEntry) -> bool {
    entry.sunset.is_some()
        || entry.issuer.is_some()
        || entry.max_remaining_without_iat.is_some()
        || entry.subject_claim.is_some()
        || entry.audience.is_some()
        || entry.access_audience.is_some()
        || entry.access_scopes.is_some()
        || entry.uses.is_some()
        || entry.session_audience.is_some()
        || entry.session_scopes.is_some()
}

/// A legacy key's claim mapping and uses, checked: the terms besides its
/// sunset, issuer and `iat` bound, and for a key marked for refresh, what
/// the sessions its refresh tokens open carry.
fn mapping(
    kid: &str,
    entry: &KeyFileEntry,
) -> Result<(Legacy, Option<LegacySessionGrant>), KeySetError> {
    use crate::ids::{Audience, Scope};
    let problem = |problem| KeySetError::LegacyTerms {
        kid: kid.into(),
        problem,
    };
    let uses = entry
        .uses
        .clone()
        .unwrap_or_else(|| vec![LegacyUse::Access]);
    if uses.is_empty() {
        return Err(problem(
            "use must name \"access\", \"refresh\" or both (leave it out for [\"access\"])",
        ));
    }
    let refresh = uses.contains(&LegacyUse::Refresh);
    if let Some(claim) = &entry.subject_claim {
        if claim.is_empty() || claim.len() > 64 || !claim.chars().all(|c| c.is_ascii_graphic()) {
            return Err(problem(
                "subject_claim must be a claim name: 1 to 64 printable ASCII characters",
            ));
        }
    }
    if let Some(audience) = &entry.audience {
        Audience::parse(audience).map_err(|_| {
            problem("audience must be 1 to 255 bytes without control characters or edge spaces")
        })?;
    }
    let (access_audience, access_scopes) =
        stand_ins(entry, uses.contains(&LegacyUse::Access)).map_err(problem)?;
    let grant = if refresh {
        let audience = entry.session_audience.clone().unwrap_or_default();
        if audience.is_empty() {
            return Err(problem(
                "a legacy key used for refresh needs session_audience: the audience of the \
                 sessions its refresh tokens are exchanged for",
            ));
        }
        let scopes = entry.session_scopes.clone().unwrap_or_default();
        if audience.len() > MAX_AUDIENCES || audience.iter().any(|a| Audience::parse(a).is_err()) {
            return Err(problem(
                "session_audience must hold 1 to 16 audiences of 1 to 255 bytes each",
            ));
        }
        if scopes.len() > MAX_SCOPES || scopes.iter().any(|s| Scope::parse(s).is_err()) {
            return Err(problem(
                "session_scopes must hold at most 64 scopes, each a word without spaces",
            ));
        }
        Some(LegacySessionGrant { audience, scopes })
    } else {
        if entry.session_audience.is_some() || entry.session_scopes.is_some() {
            return Err(problem(
                "session_audience and session_scopes belong to a legacy key used for refresh \
                 (\"use\": [\"access\", \"refresh\"])",
            ));
        }
        None
    };
    let terms = Legacy {
        subject_claim: entry.subject_claim.clone(),
        audience: entry.audience.clone(),
        access_audience,
        access_scopes,
        access: uses.contains(&LegacyUse::Access),
        refresh,
        ..Legacy::until(0)
    };
    Ok((terms, grant))
}

/// What a legacy key's access tokens that name no audience (or no scopes)
/// stand for, checked: only for a key that verifies access tokens, within
/// the bounds of a session's grant, and holding the audience the key
/// requires when it names one (else every such token would be refused).
fn stand_ins(
    entry: &KeyFileEntry,
    access: bool,
) -> Result<(Vec<String>, Vec<String>), &'static str> {
    use crate::ids::{Audience, Scope};
    let audience = entry.access_audience.clone().unwrap_or_default();
    let scopes = entry.access_scopes.clone().unwrap_or_default();
    if (entry.access_audience.is_some() || entry.access_scopes.is_some()) && !access {
        return Err(
            "access_audience and access_scopes belong to a legacy key that verifies access \
             tokens (\"use\" with \"access\")",
        );
    }
    if entry.access_audience.is_some()
        && (audience.is_empty()
            || audience.len() > MAX_AUDIENCES
            || audience.iter().any(|a| Audience::parse(a).is_err()))
    {
        return Err("access_audience must hold 1 to 16 audiences of 1 to 255 bytes each");
    }
    if scopes.len() > MAX_SCOPES || scopes.iter().any(|s| Scope::parse(s).is_err()) {
        return Err("access_scopes must hold at most 64 scopes, each a word without spaces");
    }
    if let Some(required) = &entry.audience {
        if !audience.is_empty() && !audience.contains(required) {
            return Err(
                "access_audience must include audience: a token without aud stands for \
                 access_audience, and audience is required of every token",
            );
        }
    }
    Ok((audience, scopes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{
        testing::{hs_entry, load},
        KeySetFile,
    };

    #[test]
    fn only_a_legacy_key_may_take_tokens_without_iat_and_for_at_most_a_day() {
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        let legacy = |bound: &str| {
            let mut entry = hs_entry("old", &secret);
            entry.state = KeyState::VerifyOnly;
            entry.legacy = true;
            entry.sunset = Some("2099-01-01T00:00:00Z".into());
            entry.max_remaining_without_iat = Some(bound.into());
            let active = KeyFileEntry::generate(KeyAlgorithm::EdDSA, KeyState::Active).unwrap();
            load(vec![active, entry])
        };
        let set = legacy("15m").unwrap();
        let terms = set.keys()[1].legacy().unwrap();
        assert_eq!(terms.max_remaining_without_iat, Some(900));
        assert!(legacy("24h").is_ok());
        for bad in ["0s", "25h", "a while"] {
            let err = legacy(bad).unwrap_err();
            assert!(
                err.to_string().contains("max_remaining_without_iat"),
                "{bad}: {err}"
            );
        }
        let mut current = hs_entry("hs", &secret);
        current.max_remaining_without_iat = Some("15m".into());
        assert!(matches!(
            load(vec![current]).unwrap_err(),
            KeySetError::LegacyTerms { .. }
        ));
    }

    #[test]
    fn a_legacy_keys_mapping_and_uses_are_checked() {
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        let legacy = |edit: &dyn Fn(&mut KeyFileEntry)| {
            let mut entry = hs_entry("old", &secret);
            entry.state = KeyState::VerifyOnly;
            entry.legacy = true;
            entry.sunset = Some("2099-01-01T00:00:00Z".into());
            edit(&mut entry);
            let active = KeyFileEntry::generate(KeyAlgorithm::EdDSA, KeyState::Active).unwrap();
            load(vec![active, entry])
        };
        // Without a mapping: access tokens, subject in sub.
        let plain = legacy(&|_| {}).unwrap();
        let terms = plain.keys()[1].legacy().unwrap();
        assert!(terms.access && !terms.refresh);
        assert_eq!(terms.subject_claim(), "sub");
        assert_eq!(plain.keys()[1].legacy_session_grant(), None);

        let refresh = legacy(&|e| {
            e.subject_claim = Some("user_id".into());
            e.uses = Some(vec![LegacyUse::Access, LegacyUse::Refresh]);
            e.session_audience = Some(vec!["orders".into()]);
            e.session_scopes = Some(vec!["orders:read".into()]);
        })
        .unwrap();
        let key = &refresh.keys()[1];
        assert!(key.legacy().unwrap().refresh);
        assert_eq!(key.legacy().unwrap().subject_claim(), "user_id");
        assert_eq!(
            key.legacy_session_grant().unwrap().audience,
            vec!["orders".to_owned()]
        );
        // The same key as it goes through every verifier.
        let verifying = refresh.verifying_keys();
        assert!(verifying.legacy()[0].terms().refresh);

        // What its tokens without aud or scope stand for.
        let standing = legacy(&|e| {
            e.access_audience = Some(vec!["orders".into(), "billing".into()]);
            e.access_scopes = Some(vec!["orders:read".into()]);
        })
        .unwrap();
        let terms = standing.verifying_keys().legacy()[0].terms().clone();
        assert_eq!(terms.access_audience, ["orders", "billing"]);
        assert_eq!(terms.access_scopes, ["orders:read"]);

        for (edit, expected) in [
            (
                &(|e: &mut KeyFileEntry| e.uses = Some(vec![LegacyUse::Refresh]))
                    as &dyn Fn(&mut KeyFileEntry),
                "session_audience",
            ),
            (
                &|e: &mut KeyFileEntry| e.uses = Some(vec![]),
                "use must name",
            ),
            (
                &|e: &mut KeyFileEntry| e.session_scopes = Some(vec!["a".into()]),
                "belong to a legacy key used for refresh",
            ),
            (
                &|e: &mut KeyFileEntry| e.subject_claim = Some(String::new()),
                "subject_claim",
            ),
            (
                &|e: &mut KeyFileEntry| e.access_audience = Some(vec![]),
                "access_audience must hold",
            ),
            (
                &|e: &mut KeyFileEntry| e.access_scopes = Some(vec!["two words".into()]),
                "access_scopes must hold",
            ),
            (
                &|e: &mut KeyFileEntry| {
                    e.audience = Some("api".into());
                    e.access_audience = Some(vec!["orders".into()]);
                },
                "access_audience must include audience",
            ),
            (
                &|e: &mut KeyFileEntry| {
                    e.uses = Some(vec![LegacyUse::Refresh]);
                    e.session_audience = Some(vec!["orders".into()]);
                    e.access_audience = Some(vec!["orders".into()]);
                },
                "belong to a legacy key that verifies access tokens",
            ),
        ] {
            let err = legacy(edit).unwrap_err().to_string();
            assert!(err.contains(expected), "{expected}: {err}");
        }
        let mut current = hs_entry("hs", &secret);
        current.subject_claim = Some("user_id".into());
        assert!(matches!(
            load(vec![current]).unwrap_err(),
            KeySetError::LegacyTerms { .. }
        ));
    }

    #[test]
    fn a_misspelt_legacy_field_is_refused() {
        let file = r#"{ "keys": [ { "kid": "old", "alg": "HS256", "state": "verify_only",
            "legacy": true, "sunset": "2099-01-01T00:00:00Z", "subject_clam": "user_id",
            "secret": "x" } ] }"#;
        let err = KeySetFile::parse(file).unwrap_err().to_string();
        assert!(err.contains("subject_clam"), "{err}");
        let uses = r#"{ "keys": [ { "kid": "old", "alg": "HS256", "state": "verify_only",
            "legacy": true, "sunset": "2099-01-01T00:00:00Z", "use": ["acces"],
            "secret": "x" } ] }"#;
        assert!(KeySetFile::parse(uses).is_err());
    }
}
