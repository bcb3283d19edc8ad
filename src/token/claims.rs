//! The claims inkan signs into an access token, and the grant a session
//! carries from login through every refresh. (What a verification hands
//! back is the core crate's `VerifiedAccessToken`.)

use serde::Serialize;

use super::CustomClaims;

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
