//! The claims of an access token: what inkan signs, and what a successful
//! verification hands back.

use serde::Serialize;
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

/// Custom claims given at Issue, already checked against [`RESERVED_CLAIMS`].
pub type CustomClaims = Map<String, Value>;

/// What every access token of a session grants: fixed at Issue, carried
/// unchanged through every refresh.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Grant {
    pub audience: Vec<String>,
    pub scopes: Vec<String>,
    pub claims: CustomClaims,
}

/// What inkan signs into an access token.
#[derive(Debug, Serialize)]
pub struct AccessTokenClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    /// A single audience is written as a string, several as an array, as
    /// RFC 7519 allows and most libraries expect.
    #[serde(serialize_with = "audience")]
    pub aud: &'a [String],
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub sid: String,
    pub client_id: &'a str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(flatten)]
    pub custom: &'a CustomClaims,
}

fn audience<S: serde::Serializer>(aud: &&[String], serializer: S) -> Result<S::Ok, S::Error> {
    match aud {
        [one] => serializer.serialize_str(one),
        many => many.serialize(serializer),
    }
}

/// An access token that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedAccessToken {
    pub subject: Subject,
    /// Always set for inkan's tokens; a legacy token may lack it.
    pub session_id: Option<SessionId>,
    /// Always set for inkan's tokens; a legacy token may lack it.
    pub token_id: Option<TokenId>,
    /// Always set for inkan's tokens; a legacy token may lack it.
    pub client_id: Option<ClientId>,
    pub scopes: Vec<String>,
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
