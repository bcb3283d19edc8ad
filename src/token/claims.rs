//! The claims inkan signs into an access token, and the grant a session
//! carries from login through every refresh. (What a verification hands
//! back is the core crate's `VerifiedAccessToken`.)

use serde::Serialize;

use super::CustomClaims;

/// What every access token of a session grants: fixed at Issue, carried
/// unchanged through every refresh.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Grant {
    /// The services its tokens are for (`aud`).
    pub audience: Vec<String>,
    /// What its tokens allow (`scope`).
    pub scopes: Vec<String>,
    /// The caller's own claims, signed into every token as given.
    pub claims: CustomClaims,
}

/// What inkan signs into an access token.
#[derive(Debug, Serialize)]
pub struct AccessTokenClaims<'a> {
    /// Who signed it: inkan's configured issuer.
    pub iss: &'a str,
    /// Whom it is about.
    pub sub: &'a str,
    /// A single audience is written as a string, several as an array, as
    /// RFC 7519 allows and most libraries expect.
    #[serde(serialize_with = "audience")]
    pub aud: &'a [String],
    /// When it expires, in Unix seconds.
    pub exp: i64,
    /// When it was issued, in Unix seconds.
    pub iat: i64,
    /// When it becomes valid, in Unix seconds.
    pub nbf: i64,
    /// Its own identifier.
    pub jti: String,
    /// The session it belongs to, which revocation refuses as a whole.
    pub sid: String,
    /// The caller that asked for the session.
    pub client_id: &'a str,
    /// Its scopes, space-separated; left out when there are none.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// The grant's custom claims, beside the registered ones.
    #[serde(flatten)]
    pub custom: &'a CustomClaims,
}

fn audience<S: serde::Serializer>(aud: &&[String], serializer: S) -> Result<S::Ok, S::Error> {
    match aud {
        [one] => serializer.serialize_str(one),
        many => many.serialize(serializer),
    }
}
