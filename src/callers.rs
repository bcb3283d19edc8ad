//! Callers: the services that talk to inkan, and what each may do.
//!
//! A caller proves who it is with an API key or, over mutual TLS, with a
//! client certificate. inkan keeps only an API key's SHA-256 and looks a
//! presented key up by its hash; a certificate (already verified against
//! the client CA by the TLS handshake) is looked up by its subject or one of
//! its subject alternative names. Permissions are the contract's: `issue`,
//! `verify`, `refresh`, `admin`, and `revocations` (see [`Permission`]).
//!
//! A presented API key decides who is calling, whatever certificate the
//! connection carries; without one, the certificate does; with neither,
//! the caller is anonymous. A key or a certificate that names no configured
//! caller is refused, never taken for anonymous.

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
    /// Verify and WatchRevocations, where the configuration restricts them
    /// to callers (`verify_requires_permission`); otherwise any
    /// authenticated caller may.
    Verify,
    /// Refresh, where the configuration restricts Refresh to callers.
    Refresh,
    /// End any session and list sessions.
    Admin,
    /// See subjects' cut-offs on WatchRevocations. Which subjects were
    /// revoked is personal data: without this (or `admin`) a watcher sees
    /// only revoked session ids, random values that name nobody.
    Revocations,
}

impl Permission {
    /// Every permission, in the contract's order.
    pub const ALL: [Permission; 5] = [
        Permission::Issue,
        Permission::Verify,
        Permission::Refresh,
        Permission::Admin,
        Permission::Revocations,
    ];

    /// The permission's name in configuration and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Issue => "issue",
            Permission::Verify => "verify",
            Permission::Refresh => "refresh",
            Permission::Admin => "admin",
            Permission::Revocations => "revocations",
        }
    }
}

impl std::str::FromStr for Permission {
    type Err = String;

    /// Parses a permission's configuration name, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!(
                    "unknown permission {s:?}; use issue, verify, refresh, admin or revocations"
                )
            })
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
            permissions: Permission::ALL.to_vec(),
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

/// One configured caller: a name, how it proves who it is (an API key, a
/// client certificate, or both) and what it may do.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerConfig {
    /// A name for logs and metrics: "login-service".
    pub name: String,
    /// SHA-256 of the caller's API key, as 64 lowercase hex digits
    /// (`printf %s "$KEY" | sha256sum`).
    #[serde(default)]
    pub api_key_sha256: Option<String>,
    /// The subject of the caller's client certificate, as an RFC 4514
    /// string ("CN=orders,O=Example"), compared attribute by attribute.
    #[serde(default)]
    pub certificate_subject: Option<String>,
    /// A DNS name or URI (a SPIFFE ID) among the subject alternative names
    /// of the caller's client certificate. An entry that starts with a URI
    /// scheme and a colon (`spiffe:`, `urn:`) is a URI and names the
    /// caller only by a URI SAN, byte for byte; anything else is a DNS name
    /// (letters, digits, `-`, `_`, dots between labels) and names it only by
    /// a DNS SAN, in any ASCII case. See [`SanEntry`].
    #[serde(default)]
    pub certificate_san: Option<String>,
    /// What it may do beyond Verify (which any authenticated caller may,
    /// unless `verify_requires_permission` is set).
    #[serde(default)]
    pub permissions: Vec<Permission>,
}

/// What a verified client certificate says about who holds it: its
/// subject (RFC 4514, as [`normalize_subject`] writes it) and its DNS and
/// URI subject alternative names. Made by the TLS layer once per
/// connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The subject, normalised.
    pub subject: String,
    /// DNS names and URIs, each with its type, as written in the
    /// certificate.
    pub sans: Vec<San>,
}

/// A subject alternative name of a client certificate, with its type, as
/// written in the certificate (nothing trimmed or case-folded).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum San {
    /// A `dNSName`.
    Dns(String),
    /// A `uniformResourceIdentifier`.
    Uri(String),
}

/// How a `certificate_san` entry, or a certificate's SAN, is looked up: a
/// URI as written, byte for byte; a DNS name in ASCII lowercase. A URI
/// names a caller configured by a URI only, a DNS name one configured by a
/// DNS name only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SanEntry {
    /// A DNS name, lowercased.
    Dns(String),
    /// A URI, exactly.
    Uri(String),
}

impl SanEntry {
    /// The `certificate_san` entry `entry`, or why it cannot name a
    /// caller. An entry that starts with a URI scheme (a letter, then
    /// letters, digits, `+`, `-` or `.`) and a colon is a URI; anything
    /// else must be a DNS name: letters, digits, `-` and `_` in labels of
    /// at least one character, separated by dots. Nothing is trimmed: an
    /// entry with whitespace or a control character anywhere is refused.
    pub fn parse(entry: &str) -> Result<Self, &'static str> {
        if entry.is_empty() {
            return Err("certificate_san is empty");
        }
        if has_space_or_control(entry) {
            return Err(
                "certificate_san holds whitespace or a control character (nothing is \
                 trimmed): write the DNS name or URI exactly as the certificate does",
            );
        }
        if starts_with_uri_scheme(entry) {
            return Ok(SanEntry::Uri(entry.to_owned()));
        }
        let dns_name = entry.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
        if !dns_name {
            return Err("certificate_san is neither a URI (scheme:..., such as \
                 spiffe://cluster/ns/orders/sa/api) nor a DNS name (such as orders.internal)");
        }
        Ok(SanEntry::Dns(entry.to_ascii_lowercase()))
    }

    /// What `san`, read from a certificate, is looked up as; `None` (it
    /// names nobody) when it holds whitespace or a control character.
    pub fn of(san: &San) -> Option<Self> {
        match san {
            San::Dns(name) if !name.is_empty() && !has_space_or_control(name) => {
                Some(SanEntry::Dns(name.to_ascii_lowercase()))
            }
            San::Uri(uri) if !uri.is_empty() && !has_space_or_control(uri) => {
                Some(SanEntry::Uri(uri.clone()))
            }
            _ => None,
        }
    }
}

fn has_space_or_control(text: &str) -> bool {
    text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Whether `text` starts with a URI scheme (RFC 3986: a letter, then
/// letters, digits, `+`, `-` or `.`) and a colon.
fn starts_with_uri_scheme(text: &str) -> bool {
    let Some((scheme, _)) = text.split_once(':') else {
        return false;
    };
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// `subject` (an RFC 4514 distinguished name) written the one way inkan
/// compares subjects, or `None` if it does not parse.
pub fn normalize_subject(subject: &str) -> Option<String> {
    use std::str::FromStr;
    // Spaces around the commas between attributes are how people write
    // names ("CN=orders, O=Example"); RFC 4514 has none there.
    let mut parts = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (i, c) in subject.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                parts.push(subject[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(subject[start..].trim());
    x509_cert::name::RdnSequence::from_str(&parts.join(","))
        .ok()
        .filter(|name| !name.0.is_empty())
        .map(|name| name.to_string())
}

/// The configured callers, by API-key hash and by certificate.
#[derive(Debug, Clone, Default)]
pub struct CallerRegistry {
    by_hash: HashMap<String, Caller>,
    by_subject: HashMap<String, Caller>,
    by_san: HashMap<SanEntry, Caller>,
    dev: bool,
}

/// Credentials were presented that belong to no configured caller (an API
/// key, or a client certificate whose subject and names are not
/// configured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the presented credentials name no configured caller")]
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
            dev: true,
            ..Self::default()
        }
    }

    /// The configured callers.
    pub fn from_config(callers: &[CallerConfig]) -> Result<Self, CallerConfigError> {
        let mut registry = Self::default();
        for c in callers {
            let problem = |problem| CallerConfigError {
                name: c.name.clone(),
                problem,
            };
            let caller = Caller {
                name: c.name.clone(),
                authenticated: true,
                permissions: c.permissions.clone(),
            };
            if c.api_key_sha256.is_none()
                && c.certificate_subject.is_none()
                && c.certificate_san.is_none()
            {
                return Err(problem(
                    "names no credential: set api_key_sha256, certificate_subject or certificate_san",
                ));
            }
            if let Some(hash) = &c.api_key_sha256 {
                let hash = hash.to_ascii_lowercase();
                if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(problem("api_key_sha256 must be 64 hex digits"));
                }
                if registry.by_hash.insert(hash, caller.clone()).is_some() {
                    return Err(problem("shares its API key with another caller"));
                }
            }
            if let Some(subject) = &c.certificate_subject {
                let subject = normalize_subject(subject).ok_or_else(|| {
                    problem("certificate_subject is not an RFC 4514 name (e.g. \"CN=orders,O=Example\")")
                })?;
                if registry
                    .by_subject
                    .insert(subject, caller.clone())
                    .is_some()
                {
                    return Err(problem(
                        "shares its certificate_subject with another caller",
                    ));
                }
            }
            if let Some(san) = &c.certificate_san {
                let san = SanEntry::parse(san).map_err(problem)?;
                if registry.by_san.insert(san, caller.clone()).is_some() {
                    return Err(problem("shares its certificate_san with another caller"));
                }
            }
        }
        Ok(registry)
    }

    /// Whether any configured caller holds `permission`.
    pub fn anyone_may(&self, permission: Permission) -> bool {
        self.dev
            || self
                .by_hash
                .values()
                .chain(self.by_subject.values())
                .chain(self.by_san.values())
                .any(|c| c.may(permission))
    }

    /// Whether any caller is named by a client certificate.
    pub fn has_certificate_callers(&self) -> bool {
        !self.by_subject.is_empty() || !self.by_san.is_empty()
    }

    /// Who presented `api_key` (or nothing).
    pub fn identify(&self, api_key: Option<&str>) -> Result<Caller, UnknownApiKey> {
        self.identify_with(api_key, None)
    }

    /// Who is calling: the owner of `api_key` when one is presented,
    /// otherwise the caller `certificate` names, otherwise anonymous.
    /// A SAN names a caller only as the type it is configured as (see
    /// [`SanEntry`]). A certificate whose subject names one caller and a
    /// SAN another is refused: it names no caller for certain.
    pub fn identify_with(
        &self,
        api_key: Option<&str>,
        certificate: Option<&ClientCertificate>,
    ) -> Result<Caller, UnknownApiKey> {
        if self.dev {
            return Ok(Caller::dev());
        }
        if let Some(key) = api_key {
            return self
                .by_hash
                .get(&api_key_sha256(key))
                .cloned()
                .ok_or(UnknownApiKey);
        }
        let Some(certificate) = certificate else {
            return Ok(Caller::anonymous());
        };
        let mut found: Option<&Caller> = self.by_subject.get(&certificate.subject);
        for san in &certificate.sans {
            if let Some(caller) = SanEntry::of(san).and_then(|san| self.by_san.get(&san)) {
                match found {
                    Some(seen) if seen.name != caller.name => return Err(UnknownApiKey),
                    _ => found = Some(caller),
                }
            }
        }
        found.cloned().ok_or(UnknownApiKey)
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
            api_key_sha256: Some(hash),
            permissions: vec![Permission::Issue],
            ..CallerConfig::default()
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
            api_key_sha256: Some(api_key_sha256(a)),
            permissions: vec!["refresh".parse().unwrap()],
            ..CallerConfig::default()
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

    fn certificate_callers() -> CallerRegistry {
        CallerRegistry::from_config(&[
            CallerConfig {
                name: "orders".into(),
                certificate_subject: Some("CN=orders, O=Example".into()),
                permissions: vec![Permission::Issue],
                ..CallerConfig::default()
            },
            CallerConfig {
                name: "billing".into(),
                certificate_san: Some("spiffe://cluster/ns/billing/sa/api".into()),
                permissions: vec![Permission::Verify],
                ..CallerConfig::default()
            },
        ])
        .unwrap()
    }

    #[test]
    fn a_certificate_names_its_caller_by_subject_or_san() {
        let registry = certificate_callers();
        let by_subject = ClientCertificate {
            subject: normalize_subject("CN=orders,O=Example").unwrap(),
            sans: vec![San::Dns("orders.internal".into())],
        };
        let caller = registry.identify_with(None, Some(&by_subject)).unwrap();
        assert_eq!(caller.name(), "orders");
        assert!(caller.may(Permission::Issue));
        let by_san = ClientCertificate {
            subject: normalize_subject("CN=whatever").unwrap(),
            sans: vec![San::Uri("spiffe://cluster/ns/billing/sa/api".into())],
        };
        let caller = registry.identify_with(None, Some(&by_san)).unwrap();
        assert_eq!(caller.name(), "billing");
        let stranger = ClientCertificate {
            subject: normalize_subject("CN=stranger").unwrap(),
            sans: vec![San::Uri("spiffe://cluster/ns/other/sa/api".into())],
        };
        assert_eq!(
            registry.identify_with(None, Some(&stranger)),
            Err(UnknownApiKey)
        );
    }

    #[test]
    fn a_certificate_naming_two_callers_names_none() {
        let both = ClientCertificate {
            subject: normalize_subject("CN=orders,O=Example").unwrap(),
            sans: vec![San::Uri("spiffe://cluster/ns/billing/sa/api".into())],
        };
        assert!(certificate_callers()
            .identify_with(None, Some(&both))
            .is_err());
    }

    #[test]
    fn a_presented_api_key_decides_over_the_certificate() {
        let mut configs = vec![CallerConfig {
            name: "login".into(),
            api_key_sha256: Some(api_key_sha256("login-key")),
            ..CallerConfig::default()
        }];
        configs.push(CallerConfig {
            name: "orders".into(),
            certificate_subject: Some("CN=orders".into()),
            ..CallerConfig::default()
        });
        let registry = CallerRegistry::from_config(&configs).unwrap();
        let orders = ClientCertificate {
            subject: normalize_subject("CN=orders").unwrap(),
            sans: vec![],
        };
        let caller = registry
            .identify_with(Some("login-key"), Some(&orders))
            .unwrap();
        assert_eq!(caller.name(), "login");
        assert!(registry
            .identify_with(Some("guess"), Some(&orders))
            .is_err());
    }

    #[test]
    fn a_caller_entry_must_name_a_usable_credential() {
        let refused = |config: CallerConfig| {
            CallerRegistry::from_config(&[config])
                .unwrap_err()
                .to_string()
        };
        let msg = refused(CallerConfig {
            name: "empty".into(),
            ..CallerConfig::default()
        });
        assert!(msg.contains("names no credential"), "{msg}");
        let msg = refused(CallerConfig {
            name: "bad".into(),
            certificate_subject: Some("not a name".into()),
            ..CallerConfig::default()
        });
        assert!(msg.contains("RFC 4514"), "{msg}");
    }

    const BILLING: &str = "spiffe://cluster.local/ns/billing/sa/api";

    /// `billing` by its SPIFFE ID, `reports` by its DNS name.
    fn san_callers() -> CallerRegistry {
        CallerRegistry::from_config(&[
            CallerConfig {
                name: "billing".into(),
                certificate_san: Some(BILLING.into()),
                permissions: vec![Permission::Issue],
                ..CallerConfig::default()
            },
            CallerConfig {
                name: "reports".into(),
                certificate_san: Some("reports.internal".into()),
                permissions: vec![Permission::Verify],
                ..CallerConfig::default()
            },
        ])
        .unwrap()
    }

    /// Who a certificate with no configured subject and only `san` names.
    fn named_by(san: San) -> Result<String, UnknownApiKey> {
        let certificate = ClientCertificate {
            subject: normalize_subject("CN=whoever").unwrap(),
            sans: vec![san],
        };
        san_callers()
            .identify_with(None, Some(&certificate))
            .map(|caller| caller.name().to_owned())
    }

    #[test]
    fn a_uri_san_names_a_uri_caller_exactly() {
        assert_eq!(named_by(San::Uri(BILLING.into())).as_deref(), Ok("billing"));
        for uri in [
            BILLING.to_ascii_uppercase(),
            "SPIFFE://cluster.local/ns/billing/sa/api".into(),
            format!("{BILLING}/"),
            format!("{BILLING}\n"),
            format!("{BILLING}\r\n"),
            format!(" {BILLING}"),
            format!("{BILLING} "),
            format!("{BILLING}\0"),
        ] {
            assert_eq!(
                named_by(San::Uri(uri.clone())),
                Err(UnknownApiKey),
                "{uri:?}"
            );
        }
    }

    #[test]
    fn a_dns_san_never_names_a_uri_caller() {
        for name in [
            BILLING.to_owned(),
            BILLING.to_ascii_uppercase(),
            format!("{BILLING}\n"),
        ] {
            assert_eq!(
                named_by(San::Dns(name.clone())),
                Err(UnknownApiKey),
                "{name:?}"
            );
        }
    }

    #[test]
    fn a_dns_san_names_a_dns_caller_in_any_case_and_a_uri_san_never_does() {
        for name in ["reports.internal", "Reports.Internal", "REPORTS.INTERNAL"] {
            assert_eq!(
                named_by(San::Dns(name.into())).as_deref(),
                Ok("reports"),
                "{name}"
            );
        }
        for uri in ["reports.internal", "Reports.Internal"] {
            assert_eq!(named_by(San::Uri(uri.into())), Err(UnknownApiKey), "{uri}");
        }
        for name in [
            "reports.internal\n",
            "reports.internal ",
            " reports.internal",
            "reports.\tinternal",
            "reports.internal\0",
            "",
        ] {
            assert_eq!(
                named_by(San::Dns(name.into())),
                Err(UnknownApiKey),
                "{name:?}"
            );
        }
    }

    #[test]
    fn a_certificate_san_entry_with_whitespace_or_a_control_character_is_refused_by_name() {
        for entry in [
            format!("{BILLING}\n"),
            format!(" {BILLING}"),
            format!("{BILLING} "),
            "spiffe://cluster.local/ns/billing/sa/my api".to_owned(),
            "reports.internal\n".to_owned(),
            " reports.internal".to_owned(),
            "reports.internal\t".to_owned(),
            "reports\u{7f}.internal".to_owned(),
            "reports.internal\u{a0}".to_owned(),
        ] {
            let err = CallerRegistry::from_config(&[CallerConfig {
                name: "billing".into(),
                certificate_san: Some(entry.clone()),
                ..CallerConfig::default()
            }])
            .unwrap_err()
            .to_string();
            assert!(
                err.starts_with("caller \"billing\": certificate_san")
                    && err.contains("whitespace or a control character"),
                "{entry:?}: {err}"
            );
        }
    }

    #[test]
    fn a_certificate_san_entry_is_a_uri_by_its_scheme_or_else_a_dns_name() {
        assert_eq!(SanEntry::parse(BILLING), Ok(SanEntry::Uri(BILLING.into())));
        assert_eq!(
            SanEntry::parse("urn:example:orders"),
            Ok(SanEntry::Uri("urn:example:orders".into()))
        );
        assert_eq!(
            SanEntry::parse("Reports.Internal"),
            Ok(SanEntry::Dns("reports.internal".into()))
        );
        assert_eq!(
            SanEntry::parse("orders_api-2.svc"),
            Ok(SanEntry::Dns("orders_api-2.svc".into()))
        );
        for entry in [
            "",
            "//cluster.local/ns/billing",
            "1spiffe://cluster.local",
            "cluster.local/ns/billing",
            "reports.internal.",
            ".reports.internal",
            "reports..internal",
            "*.internal",
            "réports.internal",
        ] {
            assert!(SanEntry::parse(entry).is_err(), "{entry:?}");
        }
        let err = CallerRegistry::from_config(&[CallerConfig {
            name: "orders".into(),
            certificate_san: Some("cluster.local/ns/orders".into()),
            ..CallerConfig::default()
        }])
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("caller \"orders\": certificate_san is neither a URI"),
            "{err}"
        );
    }

    #[test]
    fn a_san_entry_configured_twice_in_other_cases_is_one_entry() {
        let err = CallerRegistry::from_config(&[
            CallerConfig {
                name: "reports".into(),
                certificate_san: Some("reports.internal".into()),
                ..CallerConfig::default()
            },
            CallerConfig {
                name: "impostor".into(),
                certificate_san: Some("Reports.Internal".into()),
                ..CallerConfig::default()
            },
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("shares its certificate_san"), "{err}");
        // A URI and a DNS name are different entries, however spelled.
        CallerRegistry::from_config(&[
            CallerConfig {
                name: "by-uri".into(),
                certificate_san: Some("urn:reports".into()),
                ..CallerConfig::default()
            },
            CallerConfig {
                name: "by-dns".into(),
                certificate_san: Some("reports".into()),
                ..CallerConfig::default()
            },
        ])
        .unwrap();
    }
}
