//! Callers: the services that talk to inkan, and what each may do.
//!
//! A caller proves who it is with an API key; inkan keeps only the key's
//! SHA-256 and looks a presented key up by its hash. Permissions are the
//! contract's: `issue`, `refresh`, `admin`.

use std::{collections::HashMap, fmt};

use secrecy::SecretString;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Something a caller may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Start sessions (Issue).
    Issue,
    /// Refresh, where the configuration restricts Refresh to callers.
    Refresh,
    /// End any session and list sessions.
    Admin,
}

impl Permission {
    /// The permission's name in configuration and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Issue => "issue",
            Permission::Refresh => "refresh",
            Permission::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Permission {
    type Err = String;

    /// Parses a permission's configuration name, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Permission::Issue, Permission::Refresh, Permission::Admin]
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown permission {s:?}; use issue, refresh or admin"))
    }
}

/// The prefix of every API key inkan makes, so that people and secret
/// scanners recognise one in a chat log or a repository.
pub const API_KEY_PREFIX: &str = "inkan_";

/// A new API key: 32 random bytes (256 bits), base64url, after
/// [`API_KEY_PREFIX`]. Only its [`api_key_sha256`] is ever configured.
pub fn generate_api_key() -> SecretString {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    SecretString::from(format!("{API_KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The SHA-256 of an API key as 64 lowercase hex digits: what a
/// `[[callers]]` entry's `api_key_sha256` holds, and what a presented key
/// is looked up by.
pub fn api_key_sha256(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Who is calling.
#[derive(Clone, PartialEq, Eq)]
pub struct Caller {
    name: String,
    authenticated: bool,
    permissions: Vec<Permission>,
}

impl Caller {
    /// A caller that presented no credentials.
    pub fn anonymous() -> Self {
        Self {
            name: "anonymous".into(),
            authenticated: false,
            permissions: Vec::new(),
        }
    }

    /// Dev mode's caller: everyone, with every permission.
    pub fn dev() -> Self {
        Self {
            name: "dev".into(),
            authenticated: true,
            permissions: vec![Permission::Issue, Permission::Refresh, Permission::Admin],
        }
    }

    /// The caller's configured name, for logs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the caller proved who it is.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Whether the caller holds `permission`.
    pub fn may(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Caller({:?})", self.name)
    }
}

/// One configured caller.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerConfig {
    /// A name for logs: "login-service".
    pub name: String,
    /// SHA-256 of the caller's API key, as 64 lowercase hex digits
    /// (`printf %s "$KEY" | sha256sum`).
    pub api_key_sha256: String,
    /// What it may do beyond Verify (which any authenticated caller may).
    #[serde(default)]
    pub permissions: Vec<Permission>,
}

/// The configured callers, by API-key hash.
#[derive(Debug, Clone, Default)]
pub struct CallerRegistry {
    by_hash: HashMap<String, Caller>,
    dev: bool,
}

/// An API key was presented that belongs to no configured caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the presented API key is not known")]
pub struct UnknownApiKey;

/// A caller entry that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("caller {name:?}: {problem}")]
pub struct CallerConfigError {
    name: String,
    problem: &'static str,
}

impl CallerRegistry {
    /// Dev mode: every request is [`Caller::dev`].
    pub fn dev() -> Self {
        Self {
            by_hash: HashMap::new(),
            dev: true,
        }
    }

    /// The configured callers.
    pub fn from_config(callers: &[CallerConfig]) -> Result<Self, CallerConfigError> {
        let mut by_hash = HashMap::new();
        for c in callers {
            let problem = |problem| CallerConfigError {
                name: c.name.clone(),
                problem,
            };
            let hash = c.api_key_sha256.to_ascii_lowercase();
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(problem("api_key_sha256 must be 64 hex digits"));
            }
            let caller = Caller {
                name: c.name.clone(),
                authenticated: true,
                permissions: c.permissions.clone(),
            };
            if by_hash.insert(hash, caller).is_some() {
                return Err(problem("shares its API key with another caller"));
            }
        }
        Ok(Self {
            by_hash,
            dev: false,
        })
    }

    /// Whether any configured caller holds `permission`.
    pub fn anyone_may(&self, permission: Permission) -> bool {
        self.dev || self.by_hash.values().any(|c| c.may(permission))
    }

    /// Who presented `api_key` (or nothing).
    pub fn identify(&self, api_key: Option<&str>) -> Result<Caller, UnknownApiKey> {
        if self.dev {
            return Ok(Caller::dev());
        }
        let Some(key) = api_key else {
            return Ok(Caller::anonymous());
        };
        self.by_hash
            .get(&api_key_sha256(key))
            .cloned()
            .ok_or(UnknownApiKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> CallerRegistry {
        let hash: String = Sha256::digest(b"login-key")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        CallerRegistry::from_config(&[CallerConfig {
            name: "login".into(),
            api_key_sha256: hash,
            permissions: vec![Permission::Issue],
        }])
        .unwrap()
    }

    #[test]
    fn a_caller_is_known_by_its_key_and_holds_only_its_permissions() {
        let caller = registry().identify(Some("login-key")).unwrap();
        assert_eq!(caller.name(), "login");
        assert!(caller.may(Permission::Issue));
        assert!(!caller.may(Permission::Admin));
    }

    #[test]
    fn generated_keys_are_long_random_and_known_by_their_hash() {
        use secrecy::ExposeSecret;
        let (a, b) = (generate_api_key(), generate_api_key());
        let a = a.expose_secret();
        assert!(
            a.starts_with(API_KEY_PREFIX) && a.len() == API_KEY_PREFIX.len() + 43,
            "{a}"
        );
        assert_ne!(a, b.expose_secret());
        let registry = CallerRegistry::from_config(&[CallerConfig {
            name: "orders".into(),
            api_key_sha256: api_key_sha256(a),
            permissions: vec!["refresh".parse().unwrap()],
        }])
        .unwrap();
        let caller = registry.identify(Some(a)).unwrap();
        assert!(caller.may(Permission::Refresh) && !caller.may(Permission::Issue));
    }

    #[test]
    fn a_wrong_key_is_refused_and_no_key_is_anonymous() {
        assert!(registry().identify(Some("guess")).is_err());
        let nobody = registry().identify(None).unwrap();
        assert!(!nobody.is_authenticated());
        assert!(!nobody.may(Permission::Issue));
    }
}
