//! Following inkan over TLS: `WatchKeys` for the keys and
//! `WatchRevocations` for revoked sessions, on one TLS channel, as the
//! documented Kubernetes deployment serves them. The caller is named by an
//! API key, or by the channel's client certificate (mutual TLS).
//!
//! ```sh
//! INKAN_GRPC=https://inkan.auth.svc:50051 INKAN_ISSUER=https://auth.example.com \
//! INKAN_CA=ca.crt INKAN_API_KEY=inkan_… \
//!   cargo run --manifest-path consumers/rust/Cargo.toml --example tls_watch
//! # or, named by a client certificate instead of an API key:
//! INKAN_GRPC=… INKAN_ISSUER=… INKAN_CA=ca.crt INKAN_CLIENT_CERT=orders.crt INKAN_CLIENT_KEY=orders.key \
//!   cargo run --manifest-path consumers/rust/Cargo.toml --example tls_watch
//! ```
//!
//! It prints the kids it follows and whether it is current, then verifies
//! `INKAN_TOKEN` if given.

use std::{env, time::Duration};

use inkan_client::{
    tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity},
    Requirements, SecretString, Verifier,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let inkan = env::var("INKAN_GRPC")?;
    let issuer = env::var("INKAN_ISSUER")?;

    // Trust inkan's certificate authority only (an internal CA); a public
    // name can use `ClientTlsConfig::new().with_webpki_roots()` instead.
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(
        tokio::fs::read(env::var("INKAN_CA")?).await?,
    ));
    if let (Ok(cert), Ok(key)) = (env::var("INKAN_CLIENT_CERT"), env::var("INKAN_CLIENT_KEY")) {
        tls = tls.identity(Identity::from_pem(
            tokio::fs::read(cert).await?,
            tokio::fs::read(key).await?,
        ));
    }
    let channel = Channel::from_shared(inkan)?.tls_config(tls)?.connect_lazy();

    let verifier = Verifier::watching(channel.clone(), issuer);
    let verifier = match env::var("INKAN_API_KEY") {
        // The key travels as `x-api-key` on the revocation stream.
        Ok(key) => verifier.follow_revocations(channel, SecretString::from(key)),
        // The client certificate names the caller.
        Err(_) => verifier.follow_revocations_by_certificate(channel),
    }
    .start()?;
    if tokio::time::timeout(Duration::from_secs(10), verifier.ready())
        .await
        .is_err()
    {
        eprintln!("not current after 10 s: {:?}", verifier.health());
    }
    println!(
        "following kids {:?}: {:?}",
        verifier.kids(),
        verifier.health()
    );

    if let Ok(token) = env::var("INKAN_TOKEN") {
        match verifier.verify(&token, &Requirements::new()).await {
            Ok(claims) => println!("accepted: subject {}", claims.subject),
            Err(refusal) => println!("refused: {}", refusal.reason()),
        }
    }
    Ok(())
}
