//! The Rust row of the compatibility matrix (.ci/stages/consumers.sh):
//! inkan-client's `Verifier` on each case's HTTP JWKS, as a service
//! configures it (`iss` and `aud` checked; `typ`, the key by kid and the
//! algorithm from the key are always checked).
//!
//! ```sh
//! cargo run --manifest-path consumers/rust/Cargo.toml --example matrix -- cases.json
//! ```
//!
//! cases.json: `[{ "alg", "jwks_url", "issuer", "audience", "tokens": {
//! "fresh", "wrong_audience", "retired_key" } }]`. Prints one
//! tab-separated row per (alg, case): "accepted" or "refused: REASON".

use std::time::Duration;

use inkan_client::{Requirements, Verifier};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: matrix cases.json")?;
    let cases: Vec<Value> = serde_json::from_str(&tokio::fs::read_to_string(path).await?)?;
    let text = |case: &Value, field: &str| case[field].as_str().unwrap_or_default().to_owned();
    for case in &cases {
        let verifier =
            Verifier::polling_jwks(&text(case, "jwks_url"), text(case, "issuer")).start()?;
        // A verifier without keys refuses everything: that is a row too.
        let _ = tokio::time::timeout(Duration::from_secs(10), verifier.ready()).await;
        let required = Requirements::new().audience(text(case, "audience"));
        let tokens = case["tokens"].as_object().ok_or("a case without tokens")?;
        for (name, token) in tokens {
            let outcome = match verifier
                .verify(token.as_str().unwrap_or_default(), &required)
                .await
            {
                Ok(_) => "accepted".to_owned(),
                Err(refusal) => format!("refused: {}", refusal.reason()),
            };
            println!(
                "rust inkan-client\t{}\t{name}\t{outcome}",
                text(case, "alg")
            );
        }
    }
    Ok(())
}
