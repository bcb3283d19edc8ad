//! A backend holding an app's session with inkan-client's `Session`,
//! through an access token's expiry (one refresh, the call retried) and a
//! revocation (the session ends: `LoginRequired`, nothing more sent).
//!
//! Against a dev server whose access tokens live 5 s:
//!
//! ```sh
//! INKAN_ACCESS_TOKEN_TTL=5s INKAN_LEEWAY=0s cargo run -- serve --dev
//! cargo run --manifest-path consumers/rust/Cargo.toml --example session_client
//! ```
//!
//! The "protected call" here is inkan's own Verify; a real backend calls
//! its resource servers, sending `token.authorize(request)`.

use std::time::Duration;

use inkan_client::{
    proto::v1::{revoke_request::Target, IssueRequest, RevokeRequest, VerifyRequest},
    AccessToken, Session, SessionError, TokenServiceClient,
};
use tonic::{transport::Channel, Status};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let inkan = std::env::var("INKAN_GRPC").unwrap_or_else(|_| "http://127.0.0.1:50051".into());
    let channel = Channel::from_shared(inkan)?.connect().await?;
    let mut client = TokenServiceClient::new(channel.clone());

    // What the login service does once the person has authenticated.
    let pair = client
        .issue(IssueRequest {
            subject: "user-42".into(),
            audience: vec!["orders".into()],
            scopes: vec!["orders:read".into()],
            client_id: "web".into(),
            device: "session_client example".into(),
            claims: None,
        })
        .await?
        .into_inner();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let expires_in = pair
        .access_token_expires_at
        .map_or(0, |t| t.seconds - i64::try_from(now).unwrap_or(i64::MAX));
    let session = Session::builder(client.clone(), pair)
        // Wait for a refusal instead of refreshing ahead, to show one.
        .refresh_before_expiry(None)
        .build()
        .ok_or("the API key is not a header value")?;

    let verifying = client.clone();
    let call = |token: AccessToken| {
        let mut client = verifying.clone();
        async move {
            let claims = client
                .verify(VerifyRequest {
                    access_token: token.expose().to_owned(),
                    ..Default::default()
                })
                .await?
                .into_inner();
            Ok::<_, Status>(claims.subject)
        }
    };
    println!("call 1: {:?}", session.call(call).await);

    println!("waiting {expires_in} s for the access token to expire...");
    tokio::time::sleep(Duration::from_secs(expires_in.max(0) as u64 + 1)).await;
    println!(
        "call 2 (refreshes once, then succeeds): {:?}",
        session.call(call).await
    );

    // The person logs out elsewhere: the session is revoked.
    client
        .revoke(RevokeRequest {
            target: Some(Target::SessionId(session.session_id().to_owned())),
            reason: "logged out elsewhere".into(),
        })
        .await?;
    match session.call(call).await {
        Err(SessionError::LoginRequired(why)) => {
            println!(
                "call 3: the session is over ({:?}); send the person to log in",
                why.reason
            )
        }
        other => println!("call 3: {other:?}"),
    }
    Ok(())
}
