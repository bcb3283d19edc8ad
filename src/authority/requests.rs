//! What the authority is asked to do, parsed and bounded at the edge so the
//! rest of the code handles only valid values.

use serde_json::Value;

use super::AuthorityError;
use crate::{
    ids::{Audience, ClientId, Scope, SessionId, Subject},
    token::{CustomClaims, RESERVED_CLAIMS},
};

/// What one token may carry is the core's to say: the key-set file bounds
/// a legacy key's sessions by the same numbers.
pub use inkan_core::limits::{MAX_AUDIENCES, MAX_SCOPES};
/// Largest custom-claims object, serialised, in bytes.
pub const MAX_CUSTOM_CLAIMS_BYTES: usize = 4096;
/// Longest device description, in bytes.
pub const MAX_DEVICE_BYTES: usize = 512;
/// Longest revocation reason kept, in bytes.
pub(crate) const MAX_REASON_BYTES: usize = 255;

/// A login to record: everything Issue needs, validated.
#[derive(Debug, Clone)]
pub struct IssueCommand {
    /// Whom the session is for.
    pub subject: Subject,
    /// The services its tokens are for (at most [`MAX_AUDIENCES`]).
    pub audience: Vec<Audience>,
    /// What its tokens allow (at most [`MAX_SCOPES`]).
    pub scopes: Vec<Scope>,
    /// The caller's own claims (at most [`MAX_CUSTOM_CLAIMS_BYTES`]).
    pub claims: CustomClaims,
    /// The caller that asked.
    pub client_id: ClientId,
    /// What the caller says of the device (at most [`MAX_DEVICE_BYTES`]).
    pub device: String,
}

impl IssueCommand {
    /// Validates the raw fields of an Issue request.
    pub fn parse(
        subject: &str,
        audience: &[String],
        scopes: &[String],
        claims: CustomClaims,
        client_id: &str,
        device: &str,
    ) -> Result<Self, AuthorityError> {
        let invalid = |m: String| AuthorityError::InvalidRequest(m);
        let subject = Subject::parse(subject)?;
        let client_id = ClientId::parse(client_id)?;
        if audience.is_empty() {
            return Err(invalid("audience needs at least one entry".into()));
        }
        if audience.len() > MAX_AUDIENCES {
            return Err(invalid(format!(
                "audience has more than {MAX_AUDIENCES} entries"
            )));
        }
        let audience = audience
            .iter()
            .map(|a| Audience::parse(a))
            .collect::<Result<Vec<_>, _>>()?;
        if scopes.len() > MAX_SCOPES {
            return Err(invalid(format!(
                "scopes has more than {MAX_SCOPES} entries"
            )));
        }
        let mut parsed_scopes: Vec<Scope> = Vec::with_capacity(scopes.len());
        for scope in scopes {
            let scope = Scope::parse(scope)?;
            if !parsed_scopes.contains(&scope) {
                parsed_scopes.push(scope);
            }
        }
        if let Some(name) = claims
            .keys()
            .find(|k| RESERVED_CLAIMS.contains(&k.as_str()))
        {
            return Err(invalid(format!(
                "claims may not set the reserved claim {name:?}; inkan sets it"
            )));
        }
        let size = Value::Object(claims.clone()).to_string().len();
        if size > MAX_CUSTOM_CLAIMS_BYTES {
            return Err(invalid(format!(
                "claims take {size} bytes as JSON; at most {MAX_CUSTOM_CLAIMS_BYTES} are allowed"
            )));
        }
        if device.len() > MAX_DEVICE_BYTES {
            return Err(invalid(format!(
                "device is longer than {MAX_DEVICE_BYTES} bytes"
            )));
        }
        if device.chars().any(char::is_control) {
            return Err(invalid("device contains control characters".into()));
        }
        Ok(Self {
            subject,
            audience,
            scopes: parsed_scopes,
            claims,
            client_id,
            device: device.to_owned(),
        })
    }
}

/// What Revoke ends. Its `Debug` hides tokens.
pub enum RevokeTarget {
    /// The session of this refresh token; its holder may ask.
    RefreshToken(String),
    /// The session of this access token; its holder may ask.
    AccessToken(String),
    /// One session; needs `admin`.
    Session(SessionId),
    /// Every session of a subject; needs `admin`.
    Subject(Subject),
}

impl std::fmt::Debug for RevokeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RevokeTarget::RefreshToken(_) => f.write_str("RefreshToken(***)"),
            RevokeTarget::AccessToken(_) => f.write_str("AccessToken(***)"),
            RevokeTarget::Session(id) => write!(f, "Session({id})"),
            RevokeTarget::Subject(subject) => write!(f, "Subject({subject})"),
        }
    }
}

/// Bounds a revocation reason to what the ledger keeps.
pub fn revocation_reason(reason: &str) -> Result<String, AuthorityError> {
    if reason.len() > MAX_REASON_BYTES {
        return Err(AuthorityError::InvalidRequest(format!(
            "reason is longer than {MAX_REASON_BYTES} bytes"
        )));
    }
    if reason.chars().any(char::is_control) {
        return Err(AuthorityError::InvalidRequest(
            "reason contains control characters".into(),
        ));
    }
    Ok(if reason.is_empty() {
        "unspecified".into()
    } else {
        reason.to_owned()
    })
}
