//! What a successful verification hands back, and the claim names a
//! caller's custom claims may never take.

use serde_json::{Map, Value};

use crate::ids::{ClientId, Kid, SessionId, Subject, TokenId};

/// Claim names a caller's custom claims may not set: the registered JWT
/// claims, the RFC 9068 ones inkan fills in, and those that would change what
/// a token means to a consumer.
pub const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "sid",
    "client_id",
    "scope",
    "typ",
    "azp",
    "cnf",
    "act",
    "may_act",
    "auth_time",
    "acr",
    "amr",
];

/// Custom claims: everything in a token but the registered claims.
pub type CustomClaims = Map<String, Value>;

/// An access token that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedAccessToken {
    /// Whom the token is about (`sub`).
    pub subject: Subject,
    /// Always set for inkan's tokens; a legacy token may lack it.
    pub session_id: Option<SessionId>,
    /// Always set for inkan's tokens; a legacy token may lack it.
    pub token_id: Option<TokenId>,
    /// Always set for inkan's tokens; a legacy token may lack it.
    pub client_id: Option<ClientId>,
    /// The granted scopes (`scope`, split).
    pub scopes: Vec<String>,
    /// The audiences (`aud`).
    pub audience: Vec<String>,
    /// The kid of the key that verified it (for a legacy key, its label).
    pub key_id: Kid,
    /// Whether a legacy key verified it.
    pub legacy: bool,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// The custom claims, without the registered ones.
    pub claims: CustomClaims,
}
