//! [`Session`]: a backend acting for an app holds the app's token pair and
//! makes calls with its access token. When a call is refused with action
//! `refresh` (or the access token is about to expire), the session
//! refreshes once and retries once; however many calls meet the expiry
//! together, one Refresh RPC runs and all of them share its result.
//!
//! It never loops: a call is retried at most once, after at most one
//! refresh. When the refresh is refused, or the refreshed token is refused
//! again, the session ends: every call returns
//! [`SessionError::LoginRequired`] and nothing more is sent as that user.
//!
//! A Refresh whose response was lost (a transport failure, not a status
//! from inkan) is sent again with the same refresh token: inkan's grace
//! window answers a retry with the same successor, so no second live branch
//! of the session is ever made.

use std::{
    fmt,
    future::Future,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, PoisonError, RwLock,
    },
    time::Duration,
};

use inkan_core::{clock, Action, Reason};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;
use tonic::{
    codegen::{Body, Bytes, StdError},
    metadata::AsciiMetadataValue,
    transport::Channel,
    Code, Status,
};

use crate::{
    proto::v1::{token_service_client::TokenServiceClient, RefreshRequest, TokenPair},
    revocations::API_KEY_HEADER,
    status::Failure,
};

/// An access token handed to a call. Its Debug never shows it.
#[derive(Clone)]
pub struct AccessToken(Arc<str>);

impl AccessToken {
    /// The token itself, to send.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `request` with `authorization: Bearer <token>` (a sensitive header,
    /// so the transport's own logging never shows it).
    pub fn authorize<M>(&self, mut request: tonic::Request<M>) -> tonic::Request<M> {
        if let Ok(mut value) = AsciiMetadataValue::try_from(format!("Bearer {}", self.0)) {
            value.set_sensitive(true);
            request.metadata_mut().insert("authorization", value);
        }
        request
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

/// The session is over: the person must log in again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginRequired {
    /// inkan's reason, when one was given.
    pub reason: Option<Reason>,
}

/// Why [`Session::call`] failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum SessionError {
    /// The session is over; nothing more is sent as this user.
    #[error("the session is over; the person must log in again")]
    LoginRequired(LoginRequired),
    /// inkan could not be reached to refresh (or asked to retry); the
    /// session stands and a later call refreshes again.
    #[error("inkan could not refresh the session now; try again later")]
    RefreshUnavailable(Status),
    /// inkan refused the refresh for a reason that is not the user's (this
    /// backend's API key or permissions); the session stands.
    #[error("inkan refused to refresh the session: {}", .0.message())]
    RefreshRefused(Status),
    /// The call itself failed, for a reason that is not the access token.
    #[error("the call failed: {}", .0.message())]
    Call(Status),
}

/// The access token in use and which refresh produced it.
#[derive(Clone)]
struct Current {
    /// 0 for the pair the session started with, one more per refresh.
    generation: u64,
    token: AccessToken,
    /// Unix seconds; 0 when inkan did not say.
    expires_at: i64,
}

/// Held, with its lock, by the one refresh in flight.
struct RefreshState {
    refresh_token: SecretString,
    /// The last refresh that failed without ending the session: the
    /// generation it tried to replace, when, and the answer, so calls that
    /// waited for it get that answer instead of refreshing again.
    last_failure: Option<(u64, Instant, SessionError)>,
}

/// What a [`Session`] needs of the channel it refreshes through: a tonic
/// `Channel`, or any tower service around one.
pub trait RefreshTransport:
    tonic::client::GrpcService<
        tonic::body::Body,
        Error: Into<StdError>,
        Future: Send,
        ResponseBody: Body<Data = Bytes, Error: Into<StdError> + Send> + Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> RefreshTransport for T where
    T: tonic::client::GrpcService<
            tonic::body::Body,
            Error: Into<StdError>,
            Future: Send,
            ResponseBody: Body<Data = Bytes, Error: Into<StdError> + Send> + Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// Settings for a [`Session`]; see [`Session::builder`].
pub struct SessionBuilder<T = Channel> {
    client: TokenServiceClient<T>,
    pair: TokenPair,
    api_key: Option<SecretString>,
    refresh_before_expiry: Option<Duration>,
    attempts: u32,
    retry_wait: Duration,
}

impl<T> fmt::Debug for SessionBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionBuilder")
            .field("session_id", &self.pair.session_id)
            .field("refresh_before_expiry", &self.refresh_before_expiry)
            .finish_non_exhaustive()
    }
}

impl<T> SessionBuilder<T> {
    /// Sends this API key with Refresh, for an inkan that requires the
    /// `refresh` permission.
    pub fn api_key(mut self, key: SecretString) -> Self {
        self.api_key = Some(key);
        self
    }

    /// Refreshes before a call when the access token expires within
    /// `margin` (30 s by default); `None` waits for a call to be refused.
    pub fn refresh_before_expiry(mut self, margin: Option<Duration>) -> Self {
        self.refresh_before_expiry = margin;
        self
    }

    /// How many times one Refresh is sent when its response is lost (3 by
    /// default, at least 1), always with the same refresh token.
    pub fn refresh_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The session, or `None` when the API key is not a valid header value.
    pub fn build(self) -> Option<Session<T>> {
        let api_key = match self.api_key {
            None => None,
            Some(key) => {
                let mut value = AsciiMetadataValue::try_from(key.expose_secret()).ok()?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        let current = Current {
            generation: 0,
            token: AccessToken(self.pair.access_token.as_str().into()),
            expires_at: expiry(&self.pair),
        };
        Some(Session {
            inner: Arc::new(Inner {
                client: self.client,
                api_key,
                session_id: self.pair.session_id.clone(),
                current: RwLock::new(current),
                refresh: tokio::sync::Mutex::new(RefreshState {
                    refresh_token: SecretString::from(self.pair.refresh_token),
                    last_failure: None,
                }),
                ended: AtomicBool::new(false),
                refresh_before_expiry: self.refresh_before_expiry,
                attempts: self.attempts,
                retry_wait: self.retry_wait,
            }),
        })
    }
}

fn expiry(pair: &TokenPair) -> i64 {
    pair.access_token_expires_at
        .as_ref()
        .map_or(0, |t| t.seconds)
}

/// An app's session, held by a backend acting for it.
///
/// ```no_run
/// use inkan_client::{proto::v1::TokenPair, Session, SessionError, TokenServiceClient};
/// use tonic::transport::Channel;
///
/// # async fn run(pair: TokenPair) -> Result<(), Box<dyn std::error::Error>> {
/// let inkan = TokenServiceClient::new(Channel::from_static("http://inkan:50051").connect_lazy());
/// let session = Session::builder(inkan, pair).build().expect("no API key given");
/// let orders = Channel::from_static("http://orders:50051").connect_lazy();
/// let answer = session
///     .call(|token| {
///         let orders = orders.clone();
///         async move {
///             // e.g. OrdersClient::new(orders).list(token.authorize(Request::new(..))).await
///             let _ = (orders, token.authorize(tonic::Request::new(())));
///             Ok::<_, tonic::Status>("listed")
///         }
///     })
///     .await;
/// match answer {
///     Ok(listed) => println!("{listed}"),
///     Err(SessionError::LoginRequired(_)) => println!("send the person to log in"),
///     Err(other) => println!("{other}"),
/// }
/// # Ok(())
/// # }
/// ```
pub struct Session<T = Channel> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Session<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<T> {
    client: TokenServiceClient<T>,
    api_key: Option<AsciiMetadataValue>,
    session_id: String,
    current: RwLock<Current>,
    refresh: tokio::sync::Mutex<RefreshState>,
    ended: AtomicBool,
    refresh_before_expiry: Option<Duration>,
    attempts: u32,
    retry_wait: Duration,
}

impl<T> fmt::Debug for Session<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("session_id", &self.inner.session_id)
            .field("ended", &self.is_ended())
            .finish_non_exhaustive()
    }
}

impl<T> Session<T> {
    /// A session for `pair`, refreshing through `client`.
    pub fn builder(client: TokenServiceClient<T>, pair: TokenPair) -> SessionBuilder<T> {
        SessionBuilder {
            client,
            pair,
            api_key: None,
            refresh_before_expiry: Some(Duration::from_secs(30)),
            attempts: 3,
            retry_wait: Duration::from_millis(200),
        }
    }
}

impl<T> Session<T> {
    /// The session's id, as inkan issued it.
    pub fn session_id(&self) -> &str {
        &self.inner.session_id
    }

    /// Whether the session is over (every call answers `LoginRequired`).
    pub fn is_ended(&self) -> bool {
        self.inner.ended.load(Ordering::Acquire)
    }

    fn current(&self) -> Current {
        self.inner
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn end(&self, reason: Option<Reason>) -> SessionError {
        self.inner.ended.store(true, Ordering::Release);
        SessionError::LoginRequired(LoginRequired { reason })
    }
}

/// Status codes with which tonic reports a call whose answer never came:
/// the request may or may not have reached inkan.
fn answer_lost(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded
    )
}

impl<T: RefreshTransport> Session<T> {
    /// Runs `call` with the access token; on a refusal saying `refresh`,
    /// refreshes (once, shared with every call that needs it) and runs it
    /// once more with the new token.
    pub async fn call<F, Fut, R>(&self, mut call: F) -> Result<R, SessionError>
    where
        F: FnMut(AccessToken) -> Fut,
        Fut: Future<Output = Result<R, Status>>,
    {
        let first = self.usable().await?;
        let status = match call(first.token.clone()).await {
            Ok(answer) => return Ok(answer),
            Err(status) => status,
        };
        let failure = Failure::of(&status);
        match failure.as_ref().and_then(|f| f.action) {
            Some(Action::Refresh) => {}
            Some(Action::Reauthenticate) => return Err(self.end(failure.and_then(|f| f.reason))),
            _ => return Err(SessionError::Call(status)),
        }
        let second = self.refresh_after(first.generation).await?;
        match call(second.token).await {
            Ok(answer) => Ok(answer),
            Err(status) => {
                let failure = Failure::of(&status);
                match failure.as_ref().and_then(|f| f.action) {
                    // Refused again with a token inkan just issued: another
                    // refresh would only go round in a circle.
                    Some(Action::Refresh | Action::Reauthenticate) => {
                        Err(self.end(failure.and_then(|f| f.reason)))
                    }
                    _ => Err(SessionError::Call(status)),
                }
            }
        }
    }

    /// The access token to use now: refreshed first when it expires within
    /// the margin, unless that refresh cannot be made and the old token is
    /// still good.
    async fn usable(&self) -> Result<Current, SessionError> {
        if self.is_ended() {
            return Err(SessionError::LoginRequired(LoginRequired { reason: None }));
        }
        let current = self.current();
        let Some(margin) = self.inner.refresh_before_expiry else {
            return Ok(current);
        };
        let margin = i64::try_from(margin.as_secs()).unwrap_or(i64::MAX);
        let now = clock::now();
        if current.expires_at == 0 || now.saturating_add(margin) < current.expires_at {
            return Ok(current);
        }
        match self.refresh_after(current.generation).await {
            Err(SessionError::RefreshUnavailable(_)) if now < current.expires_at => Ok(current),
            other => other,
        }
    }

    /// The access token that replaced generation `seen`: refreshed here if
    /// no one has yet, or the answer of the refresh that ran meanwhile.
    async fn refresh_after(&self, seen: u64) -> Result<Current, SessionError> {
        let asked = Instant::now();
        let mut state = self.inner.refresh.lock().await;
        if self.is_ended() {
            return Err(SessionError::LoginRequired(LoginRequired { reason: None }));
        }
        let current = self.current();
        if current.generation != seen {
            return Ok(current);
        }
        if let Some((generation, at, answer)) = &state.last_failure {
            if *generation == seen && *at >= asked {
                return Err(answer.clone());
            }
        }
        match self.refresh_rpc(&state.refresh_token).await {
            Ok(pair) => {
                let next = Current {
                    generation: seen + 1,
                    token: AccessToken(pair.access_token.as_str().into()),
                    expires_at: expiry(&pair),
                };
                *self
                    .inner
                    .current
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = next.clone();
                state.refresh_token = SecretString::from(pair.refresh_token);
                state.last_failure = None;
                Ok(next)
            }
            Err(failed) => {
                state.last_failure = Some((seen, Instant::now(), failed.clone()));
                Err(failed)
            }
        }
    }

    /// One Refresh, sent again with the same token while its answer is
    /// lost or inkan asks to retry.
    async fn refresh_rpc(&self, refresh_token: &SecretString) -> Result<TokenPair, SessionError> {
        let mut wait = self.inner.retry_wait;
        let mut attempt = 1;
        loop {
            let mut request = tonic::Request::new(RefreshRequest {
                refresh_token: refresh_token.expose_secret().to_owned(),
            });
            if let Some(key) = &self.inner.api_key {
                request.metadata_mut().insert(API_KEY_HEADER, key.clone());
            }
            let status = match self.inner.client.clone().refresh(request).await {
                Ok(pair) => return Ok(pair.into_inner()),
                Err(status) => status,
            };
            let failure = Failure::of(&status);
            let again = match &failure {
                Some(f) => f.action == Some(Action::Retry),
                None => answer_lost(status.code()),
            };
            if !again {
                return Err(match failure {
                    Some(f) if f.action == Some(Action::Reauthenticate) => self.end(f.reason),
                    _ => SessionError::RefreshRefused(status),
                });
            }
            if attempt >= self.inner.attempts {
                return Err(SessionError::RefreshUnavailable(status));
            }
            attempt += 1;
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
}
