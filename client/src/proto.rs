//! The client side of `proto/inkan/v1/inkan.proto`, generated at build
//! time: messages and `TokenServiceClient`, no server.

/// `inkan.v1`: the token service contract.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("inkan.v1");
}

/// Debug for messages that carry tokens: the shape, never the token.
mod redacted {
    use std::fmt;

    use super::v1::{
        revoke_request::Target, RefreshRequest, RevokeRequest, TokenPair, VerifyRequest,
    };

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

        #[test]
        fn messages_that_carry_tokens_never_print_them() {
            let pair = TokenPair {
                access_token: "eyJ.secret-access.sig".into(),
                refresh_token: "inkan_rt_secret-refresh".into(),
                ..Default::default()
            };
            let shown = format!(
                "{pair:?} {:?} {:?} {:?}",
                RefreshRequest {
                    refresh_token: "inkan_rt_secret-refresh".into()
                },
                VerifyRequest {
                    access_token: "eyJ.secret-access.sig".into(),
                    ..Default::default()
                },
                RevokeRequest {
                    target: Some(Target::AccessToken("eyJ.secret-access.sig".into())),
                    reason: String::new()
                },
            );
            assert!(!shown.contains("secret-"), "{shown}");
        }
    }
}
