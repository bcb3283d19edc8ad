//! inkan-client's `Session` against real servers with short-lived access
//! tokens: one Refresh however many calls meet the expiry, an end to the
//! session (and to sending) when the refreshed token is refused again or
//! the refresh is, and a lost Refresh answer retried with the same token.
//! The server's clock is a test's, moved past an access token's expiry:
//! nothing here waits for a token to expire.

use crate::common;

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll},
    time::Duration,
};

use common::{admin, verify, Backend, Options, TestApp};
use inkan::{
    clock::Clock,
    proto::v1::{revoke_request::Target, ListSessionsRequest, RevokeRequest},
};
use inkan_client::{
    proto::v1::TokenPair, AccessToken, Reason, Session, SessionError, TokenServiceClient,
};
use tonic::{
    body::Body,
    codegen::{http, Service},
    transport::Channel,
    Status,
};

/// A channel that records the path of every call sent through it and can
/// lose the answer of the next Refresh, as a dropped connection would.
#[derive(Clone)]
struct Recording {
    inner: Channel,
    calls: Arc<Mutex<Vec<String>>>,
    lose_next_refresh: Arc<AtomicBool>,
}

impl Service<http::Request<Body>> for Recording {
    type Response = http::Response<Body>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let lose =
            path.ends_with("/Refresh") && self.lose_next_refresh.swap(false, Ordering::SeqCst);
        self.calls.lock().unwrap().push(path);
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answer = answer.await?;
            if lose {
                return Err("connection reset before the answer arrived".into());
            }
            Ok(answer)
        })
    }
}

/// The server crate's pair as the client crate's generated type.
fn client_pair(pair: &inkan::proto::v1::TokenPair) -> TokenPair {
    TokenPair {
        access_token: pair.access_token.clone(),
        access_token_expires_at: pair.access_token_expires_at,
        refresh_token: pair.refresh_token.clone(),
        refresh_token_expires_at: pair.refresh_token_expires_at,
        token_type: pair.token_type.clone(),
        session_id: pair.session_id.clone(),
    }
}

struct Harness {
    app: TestApp,
    /// The server's clock, moved on past an access token's expiry.
    clock: Clock,
    ttl: Duration,
    session: Session<Recording>,
    pair: inkan::proto::v1::TokenPair,
    calls: Arc<Mutex<Vec<String>>>,
    lose_next_refresh: Arc<AtomicBool>,
}

impl Harness {
    async fn start(backend: Backend, ttl: Duration, margin: Option<Duration>) -> Self {
        let clock = Clock::manual();
        let app = TestApp::spawn_with(
            backend,
            Options {
                access_token_ttl: ttl,
                leeway: Some(Duration::ZERO),
                clock: Some(clock.clone()),
                ..Options::default()
            },
        )
        .await;
        let pair = app
            .client()
            .await
            .issue(admin(common::issue_request("user-42")))
            .await
            .unwrap()
            .into_inner();
        let (calls, lose_next_refresh) = (Arc::default(), Arc::new(AtomicBool::new(false)));
        let transport = Recording {
            inner: app.channel().await,
            calls: Arc::clone(&calls),
            lose_next_refresh: Arc::clone(&lose_next_refresh),
        };
        let session = Session::builder(TokenServiceClient::new(transport), client_pair(&pair))
            .refresh_before_expiry(margin)
            .build()
            .unwrap();
        Self {
            app,
            clock,
            ttl,
            session,
            pair,
            calls,
            lose_next_refresh,
        }
    }

    fn count(&self, method: &str) -> usize {
        let calls = self.calls.lock().unwrap();
        calls.iter().filter(|p| p.ends_with(method)).count()
    }

    /// The protected call: inkan's Verify, as a resource server would.
    fn verify(
        &self,
    ) -> impl Fn(AccessToken) -> Pin<Box<dyn Future<Output = Result<String, Status>> + Send>> + Clone
    {
        let channel = Channel::from_shared(format!("http://{}", self.app.grpc_addr))
            .unwrap()
            .connect_lazy();
        move |token: AccessToken| {
            let channel = channel.clone();
            Box::pin(async move {
                let request = verify(token.expose());
                let claims =
                    inkan::proto::v1::token_service_client::TokenServiceClient::new(channel)
                        .verify(request)
                        .await?
                        .into_inner();
                Ok(claims.subject)
            })
        }
    }

    /// Moves the server's clock past the first access token's expiry, and
    /// checks that inkan now refuses it as expired.
    async fn until_expired(&self) {
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap();
        self.clock.advance(ttl + 1);
        let refused = self
            .app
            .client()
            .await
            .verify(verify(&self.pair.access_token))
            .await
            .expect_err("the access token expired");
        assert_eq!(common::failure(&refused).1, "TOKEN_EXPIRED");
    }
}

async fn hundred_calls_meeting_an_expired_token_refresh_once(backend: Backend) {
    let h = Harness::start(backend, Duration::from_secs(60), None).await;
    h.until_expired().await;
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let (session, verify) = (h.session.clone(), h.verify());
            tokio::spawn(async move { session.call(verify).await })
        })
        .collect();
    for call in calls {
        assert_eq!(
            call.await
                .unwrap()
                .expect("the call succeeds after the refresh"),
            "user-42"
        );
    }
    assert_eq!(h.count("/Refresh"), 1, "one Refresh for 100 calls");
    h.app.stop().await;
}

async fn a_second_rejection_ends_the_session(backend: Backend) {
    let h = Harness::start(backend, Duration::from_secs(900), None).await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let always_expired = {
        let attempts = attempts.clone();
        move |_token: AccessToken| {
            attempts.fetch_add(1, Ordering::SeqCst);
            async {
                Err::<(), _>(inkan_client::status::failure_status(
                    Reason::TokenExpired,
                    "expired",
                ))
            }
        }
    };
    let ended = h.session.call(always_expired.clone()).await.unwrap_err();
    assert!(matches!(ended, SessionError::LoginRequired(_)), "{ended:?}");
    assert_eq!(
        (attempts.load(Ordering::SeqCst), h.count("/Refresh")),
        (2, 1)
    );
    assert!(h.session.is_ended());

    // Nothing more is sent as that user: not the call, not a Refresh.
    let sent = h.calls.lock().unwrap().len();
    let again = h.session.call(always_expired).await.unwrap_err();
    assert!(matches!(again, SessionError::LoginRequired(_)));
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(h.calls.lock().unwrap().len(), sent);
    h.app.stop().await;
}

async fn a_refused_refresh_ends_the_session(backend: Backend) {
    let h = Harness::start(backend, Duration::from_secs(60), None).await;
    // Revoked once its access token has expired: calls meet TOKEN_EXPIRED
    // (expiry is checked first), and the refresh is what is refused.
    h.until_expired().await;
    h.app
        .client()
        .await
        .revoke(admin(RevokeRequest {
            target: Some(Target::SessionId(h.pair.session_id.clone())),
            reason: "logout elsewhere".into(),
        }))
        .await
        .unwrap();
    match h.session.call(h.verify()).await {
        Err(SessionError::LoginRequired(login)) => assert!(login.reason.is_some()),
        other => panic!("expected LoginRequired, got {other:?}"),
    }
    assert_eq!(h.count("/Refresh"), 1);
    assert!(matches!(
        h.session.call(h.verify()).await,
        Err(SessionError::LoginRequired(_))
    ));
    assert_eq!(h.count("/Refresh"), 1, "no second refresh");
    h.app.stop().await;
}

async fn a_lost_refresh_answer_is_retried_with_the_same_token(backend: Backend) {
    let h = Harness::start(backend, Duration::from_secs(60), None).await;
    h.until_expired().await;
    h.lose_next_refresh.store(true, Ordering::SeqCst);
    assert_eq!(h.session.call(h.verify()).await.unwrap(), "user-42");
    assert_eq!(
        h.count("/Refresh"),
        2,
        "the lost Refresh was sent once more"
    );

    // The retry got the same successor inside the grace window: the session
    // is alive, with one branch, and its refresh token is the live one.
    let sessions = h
        .app
        .client()
        .await
        .list_sessions(admin(ListSessionsRequest {
            subject: "user-42".into(),
        }))
        .await
        .unwrap()
        .into_inner()
        .sessions;
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0].revoked_at.is_none(), "no reuse was detected");
    h.app.stop().await;
}

async fn a_token_near_its_expiry_is_refreshed_before_the_call(backend: Backend) {
    let h = Harness::start(
        backend,
        Duration::from_secs(60),
        Some(Duration::from_secs(120)),
    )
    .await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let original = h.pair.access_token.clone();
    let call = {
        let attempts = attempts.clone();
        move |token: AccessToken| {
            attempts.fetch_add(1, Ordering::SeqCst);
            let fresh = token.expose() != original;
            async move { Ok::<_, Status>(fresh) }
        }
    };
    assert!(
        h.session.call(call).await.unwrap(),
        "the call got a refreshed token"
    );
    assert_eq!(
        (attempts.load(Ordering::SeqCst), h.count("/Refresh")),
        (1, 1)
    );
    h.app.stop().await;
}

backend_fns!(
    hundred_calls_meeting_an_expired_token_refresh_once,
    a_second_rejection_ends_the_session,
    a_refused_refresh_ends_the_session,
    a_lost_refresh_answer_is_retried_with_the_same_token,
    a_token_near_its_expiry_is_refreshed_before_the_call,
);
