//! Verify: the hot path. No database call: keys come from the key store and
//! revocations from the in-memory cache.

use super::{Authority, AuthorityError};
use crate::{
    callers::Caller,
    clock::now,
    ids::{Audience, Scope},
    token::{verify_access_token, VerifiedAccessToken},
};

impl Authority {
    /// Checks an access token: signature, type, issuer, audience, times,
    /// scopes, and that its session has not been revoked.
    pub fn verify(
        &self,
        caller: &Caller,
        token: &str,
        audience: Option<&Audience>,
        required_scopes: &[Scope],
    ) -> Result<VerifiedAccessToken, AuthorityError> {
        if !caller.is_authenticated() {
            return Err(AuthorityError::CallerUnauthenticated);
        }
        if token.is_empty() {
            return Err(AuthorityError::InvalidRequest(
                "access_token is required".into(),
            ));
        }
        let keys = self.keys.current();
        let expect = self.expectations(audience.map(Audience::as_str), required_scopes, now());
        let verified = verify_access_token(token, keys.verifying(), &expect)?;
        if self.revocations.is_revoked(&verified.session_id) {
            return Err(AuthorityError::SessionRevoked);
        }
        Ok(verified)
    }
}
