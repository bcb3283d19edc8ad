//! What vouches for each line of a refresh-token export: a JWT given as
//! text must verify under a legacy key marked for refresh and name the
//! line's subject, so a token that could never be exchanged is refused at
//! the import rather than at every user's Refresh; an opaque token is
//! exchanged under one legacy key marked for refresh, whose sunset and
//! grant it takes.

use crate::{
    ids::Kid,
    keys::KeySet,
    token::{verify_legacy_refresh_token, LegacyRefreshError},
};

/// Judges the lines of an export against a key set.
pub(in crate::cli) struct Vouch {
    keys: Option<KeySet>,
    /// The legacy key opaque tokens are exchanged under, or why there is
    /// none.
    opaque_key: Result<Kid, String>,
    now: i64,
}

impl Vouch {
    /// Judges with `keys` (none when no key set was given) at `now`; opaque
    /// tokens go under `chosen`, or the one legacy key marked for refresh.
    pub(in crate::cli) fn new(keys: Option<KeySet>, chosen: Option<&str>, now: i64) -> Self {
        let opaque_key = opaque_key(keys.as_ref(), chosen);
        Self {
            keys,
            opaque_key,
            now,
        }
    }
}

impl super::Judge for Vouch {
    fn jwt(&self, token: &str, subject: &str) -> Result<(), String> {
        let Some(keys) = &self.keys else {
            return Err(
                "it is a JWT, and no key set was given to verify it with (--keys or \
                 keys_file)"
                    .into(),
            );
        };
        // Only the signature and the subject matter here: a token already
        // past its exp or its key's sunset is refused at its exchange.
        match verify_legacy_refresh_token(token, &keys.verifying_keys(), self.now, 0) {
            Ok(legacy) if legacy.subject.as_str() == subject => Ok(()),
            Ok(_) => Err("the token's subject claim names another subject than the line".into()),
            Err(LegacyRefreshError::Expired | LegacyRefreshError::Sunset { .. }) => Ok(()),
            Err(LegacyRefreshError::Claims(what)) => Err(format!("the token is not valid: {what}")),
            Err(LegacyRefreshError::Placeholder(_)) => Err(
                "the token is signed with a well-known placeholder secret: forged, or issued \
                 while a secret was unset"
                    .into(),
            ),
            Err(LegacyRefreshError::NotLegacy | LegacyRefreshError::SignatureInvalid) => Err(
                "it is a JWT, and no legacy key marked for refresh verifies it (add the former \
                 secret with `inkan keys add-legacy --refresh`, or give the right --keys); \
                 opaque tokens have no dots"
                    .into(),
            ),
        }
    }

    fn opaque(&self) -> Result<String, String> {
        self.opaque_key
            .as_ref()
            .map(|kid| kid.to_string())
            .map_err(Clone::clone)
    }
}

/// The legacy key marked for refresh named `chosen`, or the only one.
fn opaque_key(keys: Option<&KeySet>, chosen: Option<&str>) -> Result<Kid, String> {
    let Some(keys) = keys else {
        return Err(
            "an opaque token is exchanged under a legacy key marked for refresh, and \
                    no key set was given (--keys or keys_file)"
                .into(),
        );
    };
    let refresh: Vec<&Kid> = keys
        .keys()
        .iter()
        .filter(|k| k.legacy().is_some_and(|terms| terms.refresh))
        .map(|k| k.kid())
        .collect();
    match (chosen, refresh.as_slice()) {
        (Some(chosen), _) => refresh
            .iter()
            .find(|kid| kid.as_str() == chosen)
            .map(|kid| (*kid).clone())
            .ok_or_else(|| {
                format!(
                    "--legacy-key {chosen} is not a legacy key marked for refresh in the key set"
                )
            }),
        (None, [one]) => Ok((*one).clone()),
        (None, []) => Err(
            "an opaque token is exchanged under a legacy key marked for refresh, \
                           and the key set has none (`inkan keys add-legacy --refresh`)"
                .into(),
        ),
        (None, several) => Err(format!(
            "several legacy keys are marked for refresh ({}): say which one opaque tokens are \
             exchanged under with --legacy-key",
            several
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}
