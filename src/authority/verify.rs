//! Verify: the hot path. No database call: keys come from the key store and
//! revocations from the in-memory cache, both checked by the one
//! verification path in `token`.

use super::{Authority, AuthorityError};
use crate::{
    callers::Caller,
    ids::{Audience, Scope},
    token::{VerifiedAccessToken, VerifyError},
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
        self.may_verify(caller)?;
        if token.is_empty() {
            return Err(AuthorityError::InvalidRequest(
                "access_token is required".into(),
            ));
        }
        let keys = self.keys.current();
        let mut expect =
            self.expectations(audience.map(Audience::as_str), required_scopes, self.now());
        expect.revocations = Some(self.revocations.as_ref());
        let verified = keys.verify(token, &expect).inspect_err(|err| {
            if let VerifyError::PlaceholderSigned {
                placeholder,
                token_id,
            } = err
            {
                self.placeholder_signed("Verify", placeholder, token_id);
            }
        })?;
        if verified.legacy {
            self.metrics.legacy_token_accepted(verified.key_id.as_str());
        }
        Ok(verified)
    }
}
