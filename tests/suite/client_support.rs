//! What the client tests share: reading the verifier's metrics, signing
//! tokens with a key set of the test's own, and a fake
//! `inkan.v1.TokenService`: its `WatchKeys` and `WatchRevocations` streams
//! are scripted by the test, one script per connection, and every
//! `WatchRevocations` records the cursor it was sent.
//! It stands in where the real server cannot: a key-set message inkan would
//! never send, and `WatchRevocations` while the real server's is not built.

use std::{collections::VecDeque, net::SocketAddr, pin::Pin, sync::Arc};

use futures::Stream;
use inkan::proto::v1::{
    self as pb,
    token_service_server::{TokenService, TokenServiceServer},
};
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status};

type Script<T> = mpsc::Sender<Result<T, Status>>;
type Feed<T> = Mutex<VecDeque<mpsc::Receiver<Result<T, Status>>>>;

/// The fake's state: the scripted connections still to be served.
#[derive(Default)]
pub(crate) struct Fake {
    keys: Feed<pb::GetJwksResponse>,
    revocations: Feed<pb::RevocationBatch>,
    /// The `since` of every WatchRevocations call, in order.
    pub(crate) cursors: std::sync::Mutex<Vec<String>>,
    /// What GetJwks answers.
    pub(crate) jwks_json: std::sync::Mutex<String>,
}

impl Fake {
    /// The next WatchKeys connection: what is sent on it goes down it.
    pub(crate) async fn keys_connection(&self) -> Script<pb::GetJwksResponse> {
        let (tx, rx) = mpsc::channel(16);
        self.keys.lock().await.push_back(rx);
        tx
    }

    /// The next WatchRevocations connection.
    pub(crate) async fn revocations_connection(&self) -> Script<pb::RevocationBatch> {
        let (tx, rx) = mpsc::channel(16);
        self.revocations.lock().await.push_back(rx);
        tx
    }
}

/// A running fake: its address, its state, and how to stop it.
pub(crate) struct FakeServer {
    pub(crate) addr: SocketAddr,
    pub(crate) fake: Arc<Fake>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FakeServer {
    /// Serves a new fake on 127.0.0.1.
    pub(crate) async fn start() -> Self {
        let fake = Arc::new(Fake::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel();
        let service = TokenServiceServer::from_arc(fake.clone());
        let task = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            addr,
            fake,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A lazy channel to the fake.
    pub(crate) fn channel(&self) -> tonic::transport::Channel {
        tonic::transport::Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect_lazy()
    }

    /// Stops serving: open streams end, new connections are refused.
    pub(crate) async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

type Streamed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

async fn next_connection<T: Send + 'static>(
    feed: &Feed<T>,
) -> Result<Response<Streamed<T>>, Status> {
    match feed.lock().await.pop_front() {
        Some(rx) => Ok(Response::new(Box::pin(ReceiverStream::new(rx)))),
        None => Err(Status::unavailable("no scripted connection left")),
    }
}

#[tonic::async_trait]
impl TokenService for Fake {
    async fn issue(&self, _: Request<pb::IssueRequest>) -> Result<Response<pb::TokenPair>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn refresh(
        &self,
        _: Request<pb::RefreshRequest>,
    ) -> Result<Response<pb::TokenPair>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn verify(
        &self,
        _: Request<pb::VerifyRequest>,
    ) -> Result<Response<pb::VerifyResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn revoke(
        &self,
        _: Request<pb::RevokeRequest>,
    ) -> Result<Response<pb::RevokeResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn list_sessions(
        &self,
        _: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
    async fn get_jwks(
        &self,
        _: Request<pb::GetJwksRequest>,
    ) -> Result<Response<pb::GetJwksResponse>, Status> {
        Ok(Response::new(pb::GetJwksResponse {
            jwks_json: self.jwks_json.lock().unwrap().clone(),
            ..Default::default()
        }))
    }

    type WatchKeysStream = Streamed<pb::GetJwksResponse>;
    async fn watch_keys(
        &self,
        _: Request<pb::WatchKeysRequest>,
    ) -> Result<Response<Self::WatchKeysStream>, Status> {
        next_connection(&self.keys).await
    }

    type WatchRevocationsStream = Streamed<pb::RevocationBatch>;
    async fn watch_revocations(
        &self,
        request: Request<pb::WatchRevocationsRequest>,
    ) -> Result<Response<Self::WatchRevocationsStream>, Status> {
        if request.metadata().get("x-api-key").is_none() {
            return Err(Status::unauthenticated("the follower sent no API key"));
        }
        self.cursors
            .lock()
            .unwrap()
            .push(request.into_inner().since);
        next_connection(&self.revocations).await
    }
}

/// The value of metric `name` (with `label` = `value`, when given) in the
/// verifier's registry, as its text exposition shows it; 0 when absent.
pub(crate) fn metric(
    verifier: &inkan_client::Verifier,
    name: &str,
    label: Option<(&str, &str)>,
) -> f64 {
    use prometheus::Encoder;
    let mut text = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&verifier.registry().gather(), &mut text)
        .unwrap();
    let series = match label {
        Some((k, v)) => format!("{name}{{{k}=\"{v}\"}} "),
        None => format!("{name} "),
    };
    String::from_utf8(text)
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0.0, |value| value.parse().unwrap())
}

/// A key set of the test's own: its published JWKS, and tokens it signs.
pub(crate) struct Signer {
    pub(crate) set: inkan::keys::KeySet,
}

impl Signer {
    pub(crate) fn new() -> Self {
        let file = inkan::keys::KeySetFile::generate(inkan::keys::KeyAlgorithm::EdDSA).unwrap();
        Self {
            set: inkan::keys::KeySet::from_file_contents(&file).unwrap(),
        }
    }

    pub(crate) fn jwks_json(&self) -> String {
        serde_json::to_string(&self.set.jwks()).unwrap()
    }

    /// An access token as inkan would sign it, with `claims`.
    pub(crate) fn sign(&self, claims: &serde_json::Value) -> String {
        let key = self.set.active();
        let mut header = jsonwebtoken::Header::new(key.alg().jws());
        header.typ = Some("at+jwt".into());
        header.kid = Some(key.kid().to_string());
        jsonwebtoken::encode(&header, claims, key.encoding_key()).unwrap()
    }
}
