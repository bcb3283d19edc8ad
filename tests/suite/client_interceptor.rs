//! inkan-client's synchronous `Interceptor` on a real tonic service
//! (`HealthServer::with_interceptor`), with keys from a real inkan: a good
//! token passes with its claims in the request's extensions; a bad header
//! or token is refused with the code, ErrorInfo reason and action inkan's
//! Verify would give, and never reaches the service.

use crate::common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{admin, assert_refused, issue_request, TestApp, ISSUER};
use inkan_client::{Interceptor, Requirements, Scope, VerifiedAccessToken, Verifier};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{service::Interceptor as _, transport::Channel, Request, Status};
use tonic_health::{
    pb::{health_client::HealthClient, health_server::HealthServer, HealthCheckRequest},
    server::{HealthReporter, HealthService},
};

/// Serves gRPC health behind the interceptor; returns its address and the
/// subjects the service saw in its requests' extensions.
async fn guarded(app: &TestApp) -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let verifier = Verifier::watching(app.channel().await, ISSUER)
        .start()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), verifier.ready())
        .await
        .unwrap();
    let mut interceptor = Interceptor::new(
        verifier,
        Requirements::new()
            .audience("orders")
            .scope(Scope::parse("orders:read").unwrap()),
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    // The interceptor, then what a handler would read: the claims.
    let chain = move |request: Request<()>| -> Result<Request<()>, Status> {
        let request = interceptor.call(request)?;
        let claims = request
            .extensions()
            .get::<VerifiedAccessToken>()
            .ok_or_else(|| Status::internal("no claims reached the service"))?;
        record.lock().unwrap().push(claims.subject.to_string());
        Ok(request)
    };
    let health = HealthService::from_health_reporter(HealthReporter::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(HealthServer::with_interceptor(health, chain))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    (addr, seen)
}

fn check(authorization: Option<&str>) -> Request<HealthCheckRequest> {
    let mut request = Request::new(HealthCheckRequest::default());
    if let Some(value) = authorization {
        request
            .metadata_mut()
            .insert("authorization", value.parse().unwrap());
    }
    request
}

backend_tests! {
    async fn client_interceptor_passes_good_tokens_and_refuses_bad_ones_as_inkan_would(app: TestApp) {
        let (addr, seen) = guarded(&app).await;
        let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
        let mut health = HealthClient::new(channel);
        let mut inkan = app.client().await;
        let good = inkan.issue(admin(issue_request("user-42"))).await.unwrap().into_inner().access_token;

        health.check(check(Some(&format!("Bearer {good}")))).await.expect("a good token passes");
        assert_eq!(*seen.lock().unwrap(), ["user-42"], "the claims reached the service");

        let mut billing = issue_request("user-43");
        billing.audience = vec!["billing".into()];
        let billing = inkan.issue(admin(billing)).await.unwrap().into_inner().access_token;
        let mut unscoped = issue_request("user-44");
        unscoped.scopes = Vec::new();
        let unscoped = inkan.issue(admin(unscoped)).await.unwrap().into_inner().access_token;
        let cases = [
            ("no header", None, "TOKEN_MALFORMED"),
            ("another scheme", Some("Basic dXNlcjpwYXNz".to_owned()), "TOKEN_MALFORMED"),
            ("not a JWT", Some("Bearer not.a.jwt".to_owned()), "TOKEN_MALFORMED"),
            ("another audience", Some(format!("Bearer {billing}")), "AUDIENCE_MISMATCH"),
            ("no scope", Some(format!("Bearer {unscoped}")), "INSUFFICIENT_SCOPE"),
        ];
        for (name, header, reason) in cases {
            let message = assert_refused(health.check(check(header.as_deref())).await, reason);
            assert!(!message.contains(&good), "{name}: the token was echoed");
        }
        assert_eq!(seen.lock().unwrap().len(), 1, "no refused request reached the service");
        app.stop().await;
    }
}
