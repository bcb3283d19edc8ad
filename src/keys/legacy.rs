//! A legacy key's claim mapping and uses, as the key-set file gives them:
//! which claim holds the subject, which audience its access tokens must
//! carry, whether its refresh tokens may be exchanged, and what the
//! sessions they open carry.

use super::{KeyFileEntry, KeySetError, Legacy, LegacyUse};

/// What a session opened by exchanging a legacy refresh token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacySessionGrant {
    /// Its audience (never empty).
    pub audience: Vec<String>,
    /// Its scopes.
    pub scopes: Vec<String>,
}

/// A legacy key's claim mapping and uses, checked: the terms besides its
/// sunset, issuer and `iat` bound, and for a key marked for refresh, what
/// the sessions its refresh tokens open carry.
pub(super) fn mapping(
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
    let grant = if refresh {
        let audience = entry.session_audience.clone().unwrap_or_default();
        if audience.is_empty() {
            return Err(problem(
                "a legacy key used for refresh needs session_audience: the audience of the \
                 sessions its refresh tokens are exchanged for",
            ));
        }
        let scopes = entry.session_scopes.clone().unwrap_or_default();
        if audience.len() > crate::authority::MAX_AUDIENCES
            || audience.iter().any(|a| Audience::parse(a).is_err())
        {
            return Err(problem(
                "session_audience must hold 1 to 16 audiences of 1 to 255 bytes each",
            ));
        }
        if scopes.len() > crate::authority::MAX_SCOPES
            || scopes.iter().any(|s| Scope::parse(s).is_err())
        {
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
        access: uses.contains(&LegacyUse::Access),
        refresh,
        ..Legacy::until(0)
    };
    Ok((terms, grant))
}
