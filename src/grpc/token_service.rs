//! `inkan.v1.TokenService`: turns requests into authority calls and results
//! into responses. No rule lives here; only translation, and counting and
//! logging each call on its way out (see `observe.rs`). Calls that touch the ledger are
//! bounded by the client's deadline (see `deadline.rs`); `WatchRevocations`
//! follows the revocation feed (see `crate::revocations`).

use std::{pin::Pin, sync::Arc};

use futures::{Stream, StreamExt};
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;
use tonic::{Request, Response, Status};
use tracing::instrument;

use super::{
    convert::{json_to_struct, struct_to_json, timestamp},
    deadline::{bounded, budget},
    observe::Call,
    quota::{Held, StreamQuota},
};
use crate::{
    authority::{
        revocation_reason, Authority, AuthorityError, IssueCommand, RevokeTarget, TokenPair,
        JWKS_MAX_AGE, MAX_SCOPES,
    },
    callers::{Caller, CallerRegistry, Permission},
    config::Limits,
    ids::{Audience, Scope, SessionId, Subject},
    keys::PublishedKeys,
    metrics::{Method, Outcome},
    net::ConnectionInfo,
    proto::v1::{self as pb, revoke_request::Target, token_service_server::TokenService},
    revocations::{Batch, Follower, Position, Retention, RevocationEvent, RevocationFeed, Revoked},
};

pub use inkan_proto::API_KEY_HEADER;

/// The gRPC face of an [`Authority`].
#[derive(Debug, Clone)]
pub struct TokenServiceImpl {
    authority: Arc<Authority>,
    callers: Arc<CallerRegistry>,
    /// What `WatchRevocations` streams follow.
    revocations: Arc<RevocationFeed>,
    /// Becomes `true` when the server shuts down; streams end then, so
    /// they never hold a shutdown open.
    shutdown: watch::Receiver<bool>,
    /// The watch streams each caller holds.
    streams: Arc<StreamQuota>,
}

type Result<T> = std::result::Result<T, AuthorityError>;

impl TokenServiceImpl {
    /// Serves `authority` to the callers in `callers`.
    pub fn new(
        authority: Arc<Authority>,
        callers: Arc<CallerRegistry>,
        revocations: Arc<RevocationFeed>,
        shutdown: watch::Receiver<bool>,
        limits: Limits,
    ) -> Self {
        Self {
            authority,
            callers,
            revocations,
            shutdown,
            streams: StreamQuota::new(
                limits.max_watch_streams_per_caller,
                limits.max_anonymous_watch_streams,
            ),
        }
    }

    /// Who is calling (by API key, else by client certificate), named in
    /// `call`'s log line once known.
    fn caller<T>(&self, request: &Request<T>, call: &mut Call) -> Result<Caller> {
        let key = match request.metadata().get(API_KEY_HEADER) {
            None => None,
            Some(value) => Some(value.to_str().map_err(|_| AuthorityError::CallerUnknown)?),
        };
        let certificate = request
            .extensions()
            .get::<ConnectionInfo>()
            .and_then(|info| info.client_certificate.as_deref());
        let caller = self
            .callers
            .identify_with(key, certificate)
            .map_err(|_| match key {
                Some(_) => AuthorityError::CallerUnknown,
                None => AuthorityError::CallerCertificateUnknown,
            })?;
        call.caller(&caller);
        Ok(caller)
    }

    /// The response, or the failure as a status; either way the call is
    /// counted, timed and logged, and a failure counted by reason.
    fn answer<T>(&self, call: Call, result: Result<T>) -> std::result::Result<Response<T>, Status> {
        let metrics = self.authority.metrics();
        match result {
            Ok(value) => {
                call.finish(metrics, Outcome::Ok);
                Ok(Response::new(value))
            }
            Err(err) => {
                let reason = err.reason();
                if let Some(reason) = reason {
                    metrics.failure(reason);
                }
                call.finish(metrics, Outcome::of_failure(reason));
                Err(Status::from(err))
            }
        }
    }

    async fn issue(
        &self,
        request: Request<pb::IssueRequest>,
        call: &mut Call,
    ) -> Result<pb::TokenPair> {
        let caller = self.caller(&request, call)?;
        self.authority.may_issue(&caller)?;
        let req = request.into_inner();
        let claims = struct_to_json(req.claims.unwrap_or_default())
            .map_err(AuthorityError::InvalidRequest)?;
        let command = IssueCommand::parse(
            &req.subject,
            &req.audience,
            &req.scopes,
            claims,
            &req.client_id,
            &req.device,
        )?;
        call.subject(&command.subject);
        let issued = self.authority.issue(&caller, command).await?;
        call.session(issued.session_id);
        Ok(pair(issued))
    }

    async fn refresh(
        &self,
        request: Request<pb::RefreshRequest>,
        call: &mut Call,
    ) -> Result<pb::TokenPair> {
        let caller = self.caller(&request, call)?;
        let token = request.into_inner().refresh_token;
        let refreshed = self.authority.refresh(&caller, &token).await?;
        call.session(refreshed.session_id);
        Ok(pair(refreshed))
    }

    fn verify(
        &self,
        request: Request<pb::VerifyRequest>,
        call: &mut Call,
    ) -> Result<pb::VerifyResponse> {
        let caller = self.caller(&request, call)?;
        self.authority.may_verify(&caller)?;
        let req = request.into_inner();
        let audience = match req.audience.as_str() {
            "" => None,
            text => Some(Audience::parse(text)?),
        };
        if req.required_scopes.len() > MAX_SCOPES {
            return Err(AuthorityError::InvalidRequest(format!(
                "required_scopes has more than {MAX_SCOPES} entries"
            )));
        }
        let scopes = req
            .required_scopes
            .iter()
            .map(|s| Scope::parse(s))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let verified =
            self.authority
                .verify(&caller, &req.access_token, audience.as_ref(), &scopes)?;
        call.subject(&verified.subject);
        if let Some(session) = &verified.session_id {
            call.session(session);
        }
        Ok(pb::VerifyResponse {
            subject: verified.subject.to_string(),
            session_id: verified
                .session_id
                .map(|s| s.to_string())
                .unwrap_or_default(),
            scopes: verified.scopes,
            audience: verified.audience,
            client_id: verified
                .client_id
                .map(|c| c.to_string())
                .unwrap_or_default(),
            token_id: verified.token_id.map(|t| t.to_string()).unwrap_or_default(),
            key_id: verified.key_id.to_string(),
            issued_at: Some(timestamp(verified.issued_at)),
            expires_at: Some(timestamp(verified.expires_at)),
            claims: Some(json_to_struct(verified.claims)),
        })
    }

    async fn revoke(
        &self,
        request: Request<pb::RevokeRequest>,
        call: &mut Call,
    ) -> Result<pb::RevokeResponse> {
        let caller = self.caller(&request, call)?;
        let req = request.into_inner();
        let reason = revocation_reason(&req.reason)?;
        let target = match req.target {
            None => {
                return Err(AuthorityError::InvalidRequest(
                    "name what to revoke: refresh_token, access_token, session_id or subject"
                        .into(),
                ))
            }
            Some(Target::RefreshToken(token)) => RevokeTarget::RefreshToken(token),
            Some(Target::AccessToken(token)) => RevokeTarget::AccessToken(token),
            Some(Target::SessionId(id)) => {
                self.authority.may_administer(&caller)?;
                let id = SessionId::parse(&id)?;
                call.session(id);
                RevokeTarget::Session(id)
            }
            Some(Target::Subject(subject)) => {
                self.authority.may_administer(&caller)?;
                let subject = Subject::parse(&subject)?;
                call.subject(&subject);
                RevokeTarget::Subject(subject)
            }
        };
        let sessions_revoked = self.authority.revoke(&caller, target, &reason).await?;
        Ok(pb::RevokeResponse { sessions_revoked })
    }

    /// Checks the caller and the cursor, and reads what the stream owes
    /// first, so that each of those failures is the call's status.
    async fn watch_revocations(
        &self,
        request: Request<pb::WatchRevocationsRequest>,
        call: &mut Call,
    ) -> Result<(Follower, Held, bool)> {
        let caller = self.caller(&request, call)?;
        self.authority.may_verify(&caller)?;
        let position = Position::parse(&request.into_inner().since)
            .map_err(|err| AuthorityError::InvalidRequest(err.to_string()))?;
        let held = self.streams.take(&caller)?;
        // Which subjects were revoked is personal data: only callers
        // allowed to see it get the cut-offs.
        let subjects = caller.may(Permission::Revocations) || caller.may(Permission::Admin);
        let follower = Follower::start(self.revocations.clone(), position).await?;
        Ok((follower, held, subjects))
    }

    async fn list_sessions(
        &self,
        request: Request<pb::ListSessionsRequest>,
        call: &mut Call,
    ) -> Result<pb::ListSessionsResponse> {
        let caller = self.caller(&request, call)?;
        self.authority.may_administer(&caller)?;
        let subject = Subject::parse(&request.into_inner().subject)?;
        call.subject(&subject);
        let sessions = self.authority.list_sessions(&caller, &subject).await?;
        Ok(pb::ListSessionsResponse {
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
        })
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

/// The published form of a key set, as GetJwks and WatchKeys send it.
fn key_set(keys: &PublishedKeys) -> pb::GetJwksResponse {
    pb::GetJwksResponse {
        jwks_json: keys.jwks_json().to_owned(),
        keys: keys
            .set()
            .keys()
            .iter()
            .filter(|k| !k.alg().is_symmetric())
            .map(|k| pb::KeyInfo {
                kid: k.kid().to_string(),
                alg: k.alg().to_string(),
                state: k.state().to_string(),
            })
            .collect(),
        max_age: Some(prost_types::Duration {
            seconds: i64::try_from(JWKS_MAX_AGE.as_secs()).unwrap_or(i64::MAX),
            nanos: 0,
        }),
    }
}

/// How a stream ends when the server shuts down: UNAVAILABLE, which tells
/// the client to reconnect (to another replica) rather than give up.
fn shutting_down() -> Status {
    Status::unavailable("inkan is shutting down; reconnect to another replica")
}

/// A batch of the revocation stream as the contract spells it.
/// A batch as sent: subjects' cut-offs only to a caller who may see them.
fn revocation_batch(batch: Batch, retention: Retention, subjects: bool) -> pb::RevocationBatch {
    let mut out = pb::RevocationBatch {
        cursor: batch.cursor,
        caught_up: batch.caught_up,
        ..Default::default()
    };
    for event in batch.events {
        let forget_after = Some(timestamp(retention.forget_after(&event)));
        let RevocationEvent { revoked, at, .. } = event;
        match revoked {
            Revoked::Session(id) => out.sessions.push(pb::RevokedSession {
                session_id: id.to_string(),
                revoked_at: Some(timestamp(at)),
                forget_after,
            }),
            Revoked::Subject(_) if !subjects => {}
            Revoked::Subject(subject) => out.subjects.push(pb::SubjectCutOff {
                subject: subject.to_string(),
                not_before: Some(timestamp(at)),
                forget_after,
            }),
        }
    }
    out
}

type KeyStream =
    Pin<Box<dyn Stream<Item = std::result::Result<pb::GetJwksResponse, Status>> + Send>>;
type RevocationStream =
    Pin<Box<dyn Stream<Item = std::result::Result<pb::RevocationBatch, Status>> + Send>>;

#[tonic::async_trait]
impl TokenService for TokenServiceImpl {
    #[instrument(skip_all, name = "Issue")]
    async fn issue(
        &self,
        request: Request<pb::IssueRequest>,
    ) -> std::result::Result<Response<pb::TokenPair>, Status> {
        let mut call = Call::start(Method::Issue);
        let budget = budget(&request);
        let result = bounded(budget, TokenServiceImpl::issue(self, request, &mut call)).await;
        self.answer(call, result)
    }

    #[instrument(skip_all, name = "Refresh")]
    async fn refresh(
        &self,
        request: Request<pb::RefreshRequest>,
    ) -> std::result::Result<Response<pb::TokenPair>, Status> {
        let mut call = Call::start(Method::Refresh);
        let budget = budget(&request);
        let result = bounded(budget, TokenServiceImpl::refresh(self, request, &mut call)).await;
        self.answer(call, result)
    }

    #[instrument(skip_all, name = "Verify")]
    async fn verify(
        &self,
        request: Request<pb::VerifyRequest>,
    ) -> std::result::Result<Response<pb::VerifyResponse>, Status> {
        let mut call = Call::start(Method::Verify);
        let result = TokenServiceImpl::verify(self, request, &mut call);
        self.answer(call, result)
    }

    #[instrument(skip_all, name = "Revoke")]
    async fn revoke(
        &self,
        request: Request<pb::RevokeRequest>,
    ) -> std::result::Result<Response<pb::RevokeResponse>, Status> {
        let mut call = Call::start(Method::Revoke);
        let budget = budget(&request);
        let result = bounded(budget, TokenServiceImpl::revoke(self, request, &mut call)).await;
        self.answer(call, result)
    }

    #[instrument(skip_all, name = "ListSessions")]
    async fn list_sessions(
        &self,
        request: Request<pb::ListSessionsRequest>,
    ) -> std::result::Result<Response<pb::ListSessionsResponse>, Status> {
        let mut call = Call::start(Method::ListSessions);
        let budget = budget(&request);
        let result = bounded(
            budget,
            TokenServiceImpl::list_sessions(self, request, &mut call),
        )
        .await;
        self.answer(call, result)
    }

    #[instrument(skip_all, name = "GetJwks")]
    async fn get_jwks(
        &self,
        _request: Request<pb::GetJwksRequest>,
    ) -> std::result::Result<Response<pb::GetJwksResponse>, Status> {
        let call = Call::start(Method::GetJwks);
        self.answer(call, Ok(key_set(&self.authority.keys().current())))
    }

    type WatchKeysStream = KeyStream;

    #[instrument(skip_all, name = "WatchKeys")]
    async fn watch_keys(
        &self,
        request: Request<pb::WatchKeysRequest>,
    ) -> std::result::Result<Response<Self::WatchKeysStream>, Status> {
        let mut call = Call::start(Method::WatchKeys);
        // Anyone may watch the keys, within the stream quota of who they are.
        let held = self
            .caller(&request, &mut call)
            .and_then(|caller| self.streams.take(&caller));
        let shutdown = self.shutdown.clone();
        let keys = self.authority.keys().subscribe();
        let stream = held.map(move |held| {
            let mut shutdown = shutdown;
            let stopping = async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            };
            // The current set first, then every replacement. The slot is
            // given back when the stream is dropped.
            let updates = WatchStream::new(keys)
                .map(move |keys| {
                    let _held = &held;
                    Ok(key_set(&keys))
                })
                .take_until(stopping)
                .chain(futures::stream::once(async { Err(shutting_down()) }));
            Box::pin(updates) as KeyStream
        });
        self.answer(call, stream)
    }

    type WatchRevocationsStream = RevocationStream;

    #[instrument(skip_all, name = "WatchRevocations")]
    async fn watch_revocations(
        &self,
        request: Request<pb::WatchRevocationsRequest>,
    ) -> std::result::Result<Response<Self::WatchRevocationsStream>, Status> {
        let mut call = Call::start(Method::WatchRevocations);
        let started = TokenServiceImpl::watch_revocations(self, request, &mut call).await;
        let (follower, held, subjects) = self.answer(call, started)?.into_inner();
        let retention = self.revocations.retention();
        let state = (follower, self.shutdown.clone(), false, held);
        let batches = futures::stream::unfold(
            state,
            move |(mut follower, mut shutdown, ended, held)| async move {
                if ended {
                    return None;
                }
                let item = tokio::select! {
                    // The client reconnects, to this replica or another, with
                    // its last cursor.
                    _ = shutdown.wait_for(|stop| *stop) => Err(Status::unavailable(
                        "the server is shutting down; reconnect with the last cursor",
                    )),
                    next = follower.next() => next
                        .map(|batch| revocation_batch(batch, retention, subjects))
                        .map_err(|err| Status::from(AuthorityError::from(err))),
                };
                let ended = item.is_err();
                Some((item, (follower, shutdown, ended, held)))
            },
        );
        Ok(Response::new(Box::pin(batches)))
    }
}
