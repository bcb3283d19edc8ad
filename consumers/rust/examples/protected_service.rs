//! A tonic service protected by inkan, verified locally with inkan-client:
//! gRPC health behind an `AuthLayer`, and a handler-side step that reads
//! the verified claims from the request's extensions.
//!
//! With `cargo run -- serve --dev` running:
//!
//! ```sh
//! cargo run --manifest-path consumers/rust/Cargo.toml --example protected_service
//! grpcurl -plaintext -H "authorization: Bearer $AT" 127.0.0.1:50061 grpc.health.v1.Health/Check
//! ```
//!
//! `INKAN_GRPC` (default `http://127.0.0.1:50051`) and `INKAN_ISSUER`
//! (default `http://127.0.0.1:8080`, dev mode's) name the inkan to trust.

use std::time::Duration;

use inkan_client::{AuthLayer, Requirements, Scope, VerifiedAccessToken, Verifier};
use tonic::{service::InterceptorLayer, transport::Channel, Request, Status};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let inkan = std::env::var("INKAN_GRPC").unwrap_or_else(|_| "http://127.0.0.1:50051".into());
    let issuer = std::env::var("INKAN_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:8080".into());

    // Keys follow WatchKeys; a lazy channel lets the service start (and
    // report itself stale) while inkan is still coming up.
    let verifier =
        Verifier::watching(Channel::from_shared(inkan)?.connect_lazy(), issuer).start()?;
    if tokio::time::timeout(Duration::from_secs(10), verifier.ready())
        .await
        .is_err()
    {
        eprintln!("inkan's keys have not arrived yet; every request is refused until they do");
    }

    // Every route needs a token for "orders"; Watch also needs a scope.
    let layer = AuthLayer::new(verifier.clone())
        .require(Requirements::new().audience("orders"))
        .route(
            "/grpc.health.v1.Health/Watch",
            Requirements::new()
                .audience("orders")
                .scope(Scope::parse("orders:admin")?),
        );
    // What a handler does with the claims: here, say who called.
    let who_called = |request: Request<()>| -> Result<Request<()>, Status> {
        if let Some(claims) = request.extensions().get::<VerifiedAccessToken>() {
            println!(
                "call by {} (scopes: {})",
                claims.subject,
                claims.scopes.join(" ")
            );
        }
        Ok(request)
    };

    let (_reporter, health) = tonic_health::server::health_reporter();
    let addr = "127.0.0.1:50061".parse()?;
    println!("serving gRPC health on {addr}, protected by inkan");
    tonic::transport::Server::builder()
        .layer(layer)
        .layer(InterceptorLayer::new(who_called))
        .add_service(health)
        .serve(addr)
        .await?;
    Ok(())
}
