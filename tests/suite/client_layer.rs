//! inkan-client's `AuthLayer` in front of a real tonic service (gRPC
//! health), with keys from a real inkan: a good token passes with its
//! claims in the request's extensions; every bad header or token is refused
//! with the code, ErrorInfo reason and action inkan's Verify would give.

use crate::common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{
    admin, assert_refused, claims_for, forge, header_for, issue_request, TestApp, ISSUER,
};
use inkan_client::{AuthLayer, Requirements, VerifiedAccessToken, Verifier};
use inkan_core::ids::Scope;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{
    codegen::http, metadata::MetadataMap, service::InterceptorLayer, transport::Channel, Request,
    Status,
};
use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};

/// Serves gRPC health behind the layer; returns its address and the
/// subjects the service saw in its requests' extensions.
async fn protected(app: &TestApp) -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let verifier = Verifier::watching(app.channel().await, ISSUER)
        .start()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), verifier.ready())
        .await
        .unwrap();
    let layer = AuthLayer::new(verifier)
        .require(Requirements::new().audience("orders"))
        .route(
            "/grpc.health.v1.Health/Watch",
            Requirements::new()
                .audience("orders")
                .scope(Scope::parse("admin").unwrap()),
        );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = {
        let seen = seen.clone();
        move |request: Request<()>| {
            let claims = request
                .extensions()
                .get::<VerifiedAccessToken>()
                .ok_or_else(|| Status::internal("no claims reached the service"))?;
            seen.lock().unwrap().push(claims.subject.to_string());
            Ok(request)
        }
    };
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(layer)
            .layer(InterceptorLayer::new(record))
            .add_service(health)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    (addr, seen)
}

/// Header names and raw values, in order.
type Headers<'a> = Vec<(&'a str, &'a [u8])>;

fn check(headers: &[(&str, &[u8])]) -> Request<HealthCheckRequest> {
    let mut map = http::HeaderMap::new();
    for (name, value) in headers {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_bytes(value).unwrap(),
        );
    }
    let mut request = Request::new(HealthCheckRequest::default());
    *request.metadata_mut() = MetadataMap::from_headers(map);
    request
}

backend_tests! {
    async fn client_layer_passes_good_tokens_and_refuses_bad_ones_as_inkan_would(app: TestApp) {
        let (addr, seen) = protected(&app).await;
        let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
        let mut health = HealthClient::new(channel);
        let good = app.client().await.issue(admin(issue_request("user-42"))).await.unwrap().into_inner().access_token;
        let bearer = format!("Bearer {good}");

        health.check(check(&[("authorization", bearer.as_bytes())])).await.expect("a good token passes");
        let lower = format!("bearer {good}");
        health.check(check(&[("authorization", lower.as_bytes())])).await.expect("the scheme in any case");
        assert_eq!(*seen.lock().unwrap(), ["user-42", "user-42"], "the claims reached the service");

        let mut expired_claims = claims_for(&uuid::Uuid::new_v4().to_string());
        expired_claims["exp"] = (inkan::clock::now() - 120).into();
        let expired = format!("Bearer {}", forge(&app, &header_for(&app), &expired_claims));
        let attacker = hostile_signature(&app);
        let huge = format!("Bearer {}", "a".repeat(9 * 1024));
        let cases: Vec<(&str, Headers, &str)> = vec![
            ("no header", vec![], "TOKEN_MALFORMED"),
            ("another scheme", vec![("authorization", b"Basic dXNlcjpwYXNz")], "TOKEN_MALFORMED"),
            ("a scheme alone", vec![("authorization", b"Bearer")], "TOKEN_MALFORMED"),
            ("two headers", vec![("authorization", bearer.as_bytes()), ("authorization", bearer.as_bytes())], "TOKEN_MALFORMED"),
            ("non-ASCII", vec![("authorization", b"Bearer \xe9t\xe9")], "TOKEN_MALFORMED"),
            ("not a JWT", vec![("authorization", b"Bearer not.a.jwt")], "TOKEN_MALFORMED"),
            ("over 8 KiB", vec![("authorization", huge.as_bytes())], "TOKEN_MALFORMED"),
            ("expired", vec![("authorization", expired.as_bytes())], "TOKEN_EXPIRED"),
            ("another key's signature", vec![("authorization", attacker.as_bytes())], "SIGNATURE_INVALID"),
        ];
        for (name, headers, reason) in cases {
            let message = assert_refused(health.check(check(&headers)).await, reason);
            assert!(!message.contains(&good), "{name}: the token was echoed");
        }
        // The Watch route needs a scope the token lacks.
        let mut watch = Request::new(HealthCheckRequest::default());
        watch.metadata_mut().insert("authorization", bearer.parse().unwrap());
        assert_refused(health.watch(watch).await.map(drop), "INSUFFICIENT_SCOPE");
        assert_eq!(seen.lock().unwrap().len(), 2, "no refused request reached the service");
        app.stop().await;
    }
}

/// A token naming the server's kid, signed by another key.
fn hostile_signature(app: &TestApp) -> String {
    let other = crate::hostile::Forge::attacker();
    let claims = claims_for(&uuid::Uuid::new_v4().to_string());
    format!(
        "Bearer {}",
        jsonwebtoken::encode(&header_for(app), &claims, other.set.active().encoding_key()).unwrap()
    )
}
