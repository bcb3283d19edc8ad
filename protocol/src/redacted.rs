//! `Debug` for the messages that carry tokens: their shape, never the token.
//! The build skips the derived `Debug` for exactly these (see `build.rs`).

use std::fmt;

use crate::v1::{revoke_request::Target, RefreshRequest, RevokeRequest, TokenPair, VerifyRequest};

const HIDDEN: &str = "***";

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &HIDDEN)
            .field("access_token_expires_at", &self.access_token_expires_at)
            .field("refresh_token", &HIDDEN)
            .field("refresh_token_expires_at", &self.refresh_token_expires_at)
            .field("token_type", &self.token_type)
            .field("session_id", &self.session_id)
            .finish()
    }
}

impl fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshRequest")
            .field("refresh_token", &HIDDEN)
            .finish()
    }
}

impl fmt::Debug for VerifyRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyRequest")
            .field("access_token", &HIDDEN)
            .field("audience", &self.audience)
            .field("required_scopes", &self.required_scopes)
            .finish()
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::RefreshToken(_) => f.write_str("RefreshToken(***)"),
            Target::AccessToken(_) => f.write_str("AccessToken(***)"),
            Target::SessionId(id) => f.debug_tuple("SessionId").field(id).finish(),
            Target::Subject(subject) => f.debug_tuple("Subject").field(subject).finish(),
        }
    }
}

impl fmt::Debug for RevokeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevokeRequest")
            .field("target", &self.target)
            .field("reason", &self.reason)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCESS: &str = "eyJ.secret-access.sig";
    const REFRESH: &str = "inkan_rt_secret-refresh";

    /// Both `{:?}` and `{:#?}`, since either may end up in a log.
    fn shown(message: &impl fmt::Debug) -> String {
        format!("{message:?} {message:#?}")
    }

    #[test]
    fn messages_that_carry_tokens_never_print_them() {
        let messages: [&dyn fmt::Debug; 6] = [
            &TokenPair {
                access_token: ACCESS.into(),
                refresh_token: REFRESH.into(),
                ..Default::default()
            },
            &RefreshRequest {
                refresh_token: REFRESH.into(),
            },
            &VerifyRequest {
                access_token: ACCESS.into(),
                ..Default::default()
            },
            &RevokeRequest {
                target: Some(Target::AccessToken(ACCESS.into())),
                reason: String::new(),
            },
            &RevokeRequest {
                target: Some(Target::RefreshToken(REFRESH.into())),
                reason: String::new(),
            },
            &Target::RefreshToken(REFRESH.into()),
        ];
        for message in messages {
            let shown = shown(&message);
            assert!(!shown.contains("secret-"), "{shown}");
            assert!(shown.contains("***"), "{shown}");
        }
    }

    #[test]
    fn what_is_not_a_token_still_shows() {
        let pair = shown(&TokenPair {
            access_token: ACCESS.into(),
            session_id: "session-7".into(),
            token_type: "Bearer".into(),
            ..Default::default()
        });
        assert!(
            pair.contains("session-7") && pair.contains("Bearer"),
            "{pair}"
        );

        let verify = shown(&VerifyRequest {
            access_token: ACCESS.into(),
            audience: "billing".into(),
            ..Default::default()
        });
        assert!(verify.contains("billing"), "{verify}");

        let revoke = shown(&RevokeRequest {
            target: Some(Target::Subject("user-42".into())),
            reason: "offboarded".into(),
        });
        assert!(
            revoke.contains("user-42") && revoke.contains("offboarded"),
            "{revoke}"
        );
    }
}
