//! A tonic service guarded by inkan-client's `Interceptor` instead of the
//! tower layer, for services that already attach interceptors per service
//! (`XServer::with_interceptor`). The interceptor is synchronous: it
//! verifies with the keys the `Verifier` holds and puts the claims in the
//! request's extensions, as the layer does.
//!
//! With `cargo run -- serve --dev` running:
//!
//! ```sh
//! cargo run --manifest-path consumers/rust/Cargo.toml --example interceptor_service
//! grpcurl -plaintext -H "authorization: Bearer $AT" 127.0.0.1:50062 grpc.health.v1.Health/Check
//! ```

use std::time::Duration;

use inkan_client::{Interceptor, Requirements, Scope, Verifier};
use tonic::transport::Channel;
use tonic_health::{
    pb::health_server::HealthServer,
    server::{HealthReporter, HealthService},
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let inkan = std::env::var("INKAN_GRPC").unwrap_or_else(|_| "http://127.0.0.1:50051".into());
    let issuer = std::env::var("INKAN_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:8080".into());

    let verifier =
        Verifier::watching(Channel::from_shared(inkan)?.connect_lazy(), issuer).start()?;
    // The interceptor cannot wait for keys: start serving once they are in.
    tokio::time::timeout(Duration::from_secs(10), verifier.ready())
        .await
        .map_err(|_| "inkan's keys did not arrive within 10 s")?;

    let interceptor = Interceptor::new(
        verifier,
        Requirements::new()
            .audience("orders")
            .scope(Scope::parse("orders:read")?),
    );
    let health = HealthService::from_health_reporter(HealthReporter::new());
    let addr = "127.0.0.1:50062".parse()?;
    println!("serving gRPC health on {addr}, behind inkan-client's Interceptor");
    tonic::transport::Server::builder()
        .add_service(HealthServer::with_interceptor(health, interceptor))
        .serve(addr)
        .await?;
    Ok(())
}
