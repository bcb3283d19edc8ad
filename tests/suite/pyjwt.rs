//! A consumer that is not written in Rust: PyJWT's `PyJWKClient` fetches
//! the JWKS over HTTP and verifies an access token inkan issued, with no
//! help from inkan. Needs python3 with PyJWT and cryptography (`.ci/run`
//! installs them); without them the test says so and passes, unless
//! INKAN_REQUIRE_PYJWT is set, as CI sets it.

use crate::common;

use common::{admin, issue_request, TestApp, ISSUER};

const CONSUMER: &str = r#"
import sys
import jwt
url, token, issuer = sys.argv[1:4]
key = jwt.PyJWKClient(url).get_signing_key_from_jwt(token)
claims = jwt.decode(token, key.key, algorithms=["EdDSA", "ES256", "RS256"], audience="orders", issuer=issuer)
print(claims["sub"], claims["sid"], claims["scope"])
"#;

pub(crate) fn pyjwt_available() -> bool {
    let found = std::process::Command::new("python3")
        .args(["-c", "import jwt, cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("INKAN_REQUIRE_PYJWT").is_none(),
            "PyJWT is required (INKAN_REQUIRE_PYJWT) but python3 cannot import jwt and cryptography"
        );
        eprintln!("skipping: python3 with PyJWT and cryptography is not available (pip install 'pyjwt[crypto]')");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyjwt_verifies_an_issued_token_with_the_http_jwks() {
    if !pyjwt_available() {
        return;
    }
    let app = TestApp::spawn(common::Backend::Sqlite).await;
    let mut client = app.client().await;
    let pair = client
        .issue(admin(issue_request("user-42")))
        .await
        .unwrap()
        .into_inner();
    let url = format!("http://{}/.well-known/jwks.json", app.http_addr);

    let run = |token: String| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new("python3")
                .args(["-c", CONSUMER, &url, &token, ISSUER])
                .output()
                .unwrap()
        })
    };
    let out = run(pair.access_token.clone()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.trim(),
        format!("user-42 {} orders:read orders:write", pair.session_id)
    );

    // And PyJWT refuses a token whose payload was altered.
    let mut parts: Vec<String> = pair.access_token.split('.').map(str::to_owned).collect();
    parts[1] = parts[1].chars().rev().collect();
    let out = run(parts.join(".")).await.unwrap();
    assert!(!out.status.success(), "PyJWT accepted a tampered token");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pyjwt_example_verifies_an_issued_token_and_refuses_a_tampered_one() {
    if !pyjwt_available() {
        return;
    }
    let app = TestApp::spawn(common::Backend::Sqlite).await;
    let pair = app
        .client()
        .await
        .issue(admin(issue_request("user-42")))
        .await
        .unwrap()
        .into_inner();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/verify_with_pyjwt.py");
    let base = format!("http://{}", app.http_addr);
    let run = |token: String| {
        let base = base.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new("python3")
                .args([
                    script,
                    &base,
                    &token,
                    "--issuer",
                    ISSUER,
                    "--audience",
                    "orders",
                ])
                .output()
                .unwrap()
        })
    };
    let out = run(pair.access_token.clone()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let claims: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(claims["sub"], "user-42");
    assert_eq!(claims["sid"], pair.session_id.as_str());

    let mut parts: Vec<String> = pair.access_token.split('.').map(str::to_owned).collect();
    parts[1] = parts[1].chars().rev().collect();
    for refused in [parts.join("."), pair.refresh_token.clone()] {
        let out = run(refused.clone()).await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.starts_with("refused: ") && !stderr.contains(&refused),
            "{stderr}"
        );
    }
    app.stop().await;
}
