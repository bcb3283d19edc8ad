//! Keys from inkan's JWKS over HTTPS, for a service that reaches inkan's
//! HTTP port rather than its gRPC one. The documented Kubernetes
//! deployment serves it over TLS only, under the cluster's internal CA:
//! trust that CA alone (without `jwks_ca_certificate`, the Mozilla roots
//! are trusted, for a public name).
//!
//! ```sh
//! INKAN_JWKS=https://inkan.auth.svc:8080/.well-known/jwks.json \
//! INKAN_ISSUER=https://auth.example.com INKAN_CA=ca.crt INKAN_TOKEN=eyJ… \
//!   cargo run --manifest-path consumers/rust/Cargo.toml --example https_jwks
//! ```

use std::{env, time::Duration};

use inkan_client::{Requirements, Verifier};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let jwks = env::var("INKAN_JWKS")?;
    let issuer = env::var("INKAN_ISSUER")?;
    let mut verifier = Verifier::polling_jwks(&jwks, issuer);
    if let Ok(ca) = env::var("INKAN_CA") {
        verifier = verifier.jwks_ca_certificate(tokio::fs::read(ca).await?);
    }
    let verifier = verifier.start()?;
    tokio::time::timeout(Duration::from_secs(10), verifier.ready())
        .await
        .map_err(|_| "no key set from the JWKS within 10 s")?;
    println!("keys: {:?}", verifier.kids());

    if let Ok(token) = env::var("INKAN_TOKEN") {
        let audience = env::var("INKAN_AUDIENCE").unwrap_or_else(|_| "orders".into());
        match verifier
            .verify(&token, &Requirements::new().audience(audience))
            .await
        {
            Ok(claims) => println!("accepted: subject {}", claims.subject),
            Err(refusal) => println!("refused: {}", refusal.reason()),
        }
    }
    Ok(())
}
