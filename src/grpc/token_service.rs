//! `inkan.v1.TokenService`: turns requests into authority calls and results
//! into responses. No rule lives here; only translation.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use tracing::instrument;

use super::{
    convert::{json_to_struct, struct_to_json, timestamp},
    status::failure,
};
use crate::{
    authority::{
        revocation_reason, Authority, AuthorityError, IssueCommand, RevokeTarget, TokenPair,
    },
    callers::{Caller, CallerRegistry},
    ids::{Audience, Scope, SessionId, Subject},
    proto::v1::{self as pb, revoke_request::Target, token_service_server::TokenService},
    reason::Reason,
};

/// The metadata key a caller's API key travels in.
pub const API_KEY_HEADER: &str = "x-api-key";

/// The gRPC face of an [`Authority`].
#[derive(Debug, Clone)]
pub struct TokenServiceImpl {
    authority: Arc<Authority>,
    callers: Arc<CallerRegistry>,
}

impl TokenServiceImpl {
    /// Serves `authority` to the callers in `callers`.
    pub fn new(authority: Arc<Authority>, callers: Arc<CallerRegistry>) -> Self {
        Self { authority, callers }
    }

    fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        let key = match request.metadata().get(API_KEY_HEADER) {
            None => None,
            Some(value) => Some(value.to_str().map_err(|_| {
                failure(
                    Reason::CallerUnauthenticated,
                    "the x-api-key header is not valid text",
                )
            })?),
        };
        self.callers
            .identify(key)
            .map_err(|_| AuthorityError::CallerUnknown.into())
    }
}

fn pair(pair: TokenPair) -> pb::TokenPair {
    pb::TokenPair {
        access_token: pair.access_token,
        access_token_expires_at: Some(timestamp(pair.access_token_expires_at)),
        refresh_token: pair.refresh_token.expose().to_owned(),
        refresh_token_expires_at: Some(timestamp(pair.refresh_token_expires_at)),
        token_type: "Bearer".into(),
        session_id: pair.session_id.to_string(),
    }
}

fn invalid(message: impl Into<String>) -> Status {
    failure(Reason::InvalidRequest, message)
}

#[tonic::async_trait]
impl TokenService for TokenServiceImpl {
    #[instrument(skip_all, name = "Issue")]
    async fn issue(
        &self,
        request: Request<pb::IssueRequest>,
    ) -> Result<Response<pb::TokenPair>, Status> {
        let caller = self.caller(&request)?;
        let req = request.into_inner();
        let claims = struct_to_json(req.claims.unwrap_or_default()).map_err(invalid)?;
        let command = IssueCommand::parse(
            &req.subject,
            &req.audience,
            &req.scopes,
            claims,
            &req.client_id,
            &req.device,
        )?;
        let issued = self.authority.issue(&caller, command).await?;
        Ok(Response::new(pair(issued)))
    }

    #[instrument(skip_all, name = "Refresh")]
    async fn refresh(
        &self,
        request: Request<pb::RefreshRequest>,
    ) -> Result<Response<pb::TokenPair>, Status> {
        let caller = self.caller(&request)?;
        let req = request.into_inner();
        let refreshed = self.authority.refresh(&caller, &req.refresh_token).await?;
        Ok(Response::new(pair(refreshed)))
    }

    #[instrument(skip_all, name = "Verify")]
    async fn verify(
        &self,
        request: Request<pb::VerifyRequest>,
    ) -> Result<Response<pb::VerifyResponse>, Status> {
        let caller = self.caller(&request)?;
        let req = request.into_inner();
        let audience = match req.audience.as_str() {
            "" => None,
            text => Some(Audience::parse(text).map_err(AuthorityError::from)?),
        };
        if req.required_scopes.len() > crate::authority::MAX_SCOPES {
            return Err(invalid(format!(
                "required_scopes has more than {} entries",
                crate::authority::MAX_SCOPES
            )));
        }
        let scopes = req
            .required_scopes
            .iter()
            .map(|s| Scope::parse(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(AuthorityError::from)?;
        let verified =
            self.authority
                .verify(&caller, &req.access_token, audience.as_ref(), &scopes)?;
        Ok(Response::new(pb::VerifyResponse {
            subject: verified.subject.to_string(),
            session_id: verified.session_id.to_string(),
            scopes: verified.scopes,
            audience: verified.audience,
            client_id: verified.client_id.to_string(),
            token_id: verified.token_id.to_string(),
            key_id: verified.key_id.to_string(),
            issued_at: Some(timestamp(verified.issued_at)),
            expires_at: Some(timestamp(verified.expires_at)),
            claims: Some(json_to_struct(verified.claims)),
        }))
    }

    #[instrument(skip_all, name = "Revoke")]
    async fn revoke(
        &self,
        request: Request<pb::RevokeRequest>,
    ) -> Result<Response<pb::RevokeResponse>, Status> {
        let caller = self.caller(&request)?;
        let req = request.into_inner();
        let reason = revocation_reason(&req.reason)?;
        let target = match req.target {
            None => {
                return Err(invalid(
                    "name what to revoke: refresh_token, access_token, session_id or subject",
                ))
            }
            Some(Target::RefreshToken(token)) => RevokeTarget::RefreshToken(token),
            Some(Target::AccessToken(token)) => RevokeTarget::AccessToken(token),
            Some(Target::SessionId(id)) => {
                RevokeTarget::Session(SessionId::parse(&id).map_err(AuthorityError::from)?)
            }
            Some(Target::Subject(subject)) => {
                RevokeTarget::Subject(Subject::parse(&subject).map_err(AuthorityError::from)?)
            }
        };
        let sessions_revoked = self.authority.revoke(&caller, target, &reason).await?;
        Ok(Response::new(pb::RevokeResponse { sessions_revoked }))
    }

    #[instrument(skip_all, name = "ListSessions")]
    async fn list_sessions(
        &self,
        request: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        let caller = self.caller(&request)?;
        let subject =
            Subject::parse(&request.into_inner().subject).map_err(AuthorityError::from)?;
        let sessions = self.authority.list_sessions(&caller, &subject).await?;
        Ok(Response::new(pb::ListSessionsResponse {
            sessions: sessions
                .into_iter()
                .map(|s| pb::Session {
                    id: s.id.to_string(),
                    client_id: s.client_id,
                    device: s.device,
                    created_at: Some(timestamp(s.created_at)),
                    last_used_at: Some(timestamp(s.last_used_at)),
                    expires_at: Some(timestamp(s.expires_at)),
                    revoked_at: s.revoked_at.map(timestamp),
                })
                .collect(),
        }))
    }

    #[instrument(skip_all, name = "GetJwks")]
    async fn get_jwks(
        &self,
        _request: Request<pb::GetJwksRequest>,
    ) -> Result<Response<pb::GetJwksResponse>, Status> {
        let jwks = self.authority.jwks();
        let keys = jwks
            .keys
            .set()
            .keys()
            .iter()
            .filter(|k| !k.alg().is_symmetric())
            .map(|k| pb::KeyInfo {
                kid: k.kid().to_string(),
                alg: k.alg().to_string(),
                state: k.state().to_string(),
            })
            .collect();
        Ok(Response::new(pb::GetJwksResponse {
            jwks_json: jwks.keys.jwks_json().to_owned(),
            keys,
            max_age: Some(prost_types::Duration {
                seconds: i64::try_from(jwks.max_age.as_secs()).unwrap_or(i64::MAX),
                nanos: 0,
            }),
        }))
    }
}
