//! The outage inkan was born from, replayed end to end. A stand-in for the
//! former system (Python with PyJWT) issues HS256 access and refresh tokens
//! with its `SECRET_KEY`, and some with the literal placeholder
//! "ACCESS_SECRET" its broken release fell back to, and writes the export
//! of its refresh-token table. The operator adds the old secret as a legacy
//! key and imports the export, with the real `inkan` binary, and serves.
//! Then: a client holding a former pair keeps working through access
//! expiry without logging in again; a replay of its spent former refresh
//! token revokes the session it opened; placeholder-signed tokens are
//! refused, logged once and counted; a well-signed former refresh token
//! that was not imported is refused; and once the operator ends the
//! sunset, every former token is told to log in again.

use std::time::Duration;

use crate::common::{
    self, assert_refused, eventually, fresh_database, migrate_with, run_inkan,
    run_inkan_with_stdin, server_config, sha256_hex, with_key, Backend, Served,
};
use inkan::{
    keys::KeySetFile,
    proto::v1::{token_service_client::TokenServiceClient, RefreshRequest, VerifyRequest},
};
use serde_json::Value;
use tonic::transport::Channel;

/// The former system: signs with SECRET_KEY from its environment, except
/// where its broken release signed with the unset setting's own name.
const FORMER_SYSTEM: &str = r#"
import json, os, sys, time, jwt
secret = os.environ["SECRET_KEY"]
now = int(time.time())
def sign(claims, key=secret):
    return jwt.encode(claims, key, algorithm="HS256")
def pair(user, access_exp, jti):
    return {
        "access": sign({"user_id": user, "jti": jti, "iat": access_exp - 900, "exp": access_exp}),
        "refresh": sign({"user_id": user, "jti": jti + "-r", "type": "refresh",
                         "iat": now - 60, "exp": now + 30 * 86400}),
    }
out = {
    # Its access token expired five minutes ago.
    "alice": pair(1001, now - 300, "legacy-1"),
    # Logged in after the export was taken: its refresh token is not in it.
    "bob": pair(1002, now + 600, "legacy-2"),
    "carol": pair(1003, now + 600, "legacy-3"),
    # What the broken release signed while ACCESS_SECRET was unset.
    "forged_access": sign({"user_id": 1001, "jti": "forged-1", "iat": now, "exp": now + 600},
                          "ACCESS_SECRET"),
    "forged_refresh": sign({"user_id": 1001, "jti": "forged-2", "type": "refresh",
                            "iat": now, "exp": now + 86400}, "ACCESS_SECRET"),
}
# The refresh-token table, exported: alice's token as is, carol's by digest.
import hashlib
with open(sys.argv[1], "w") as f:
    f.write("token,sha256,subject,expires_at\n")
    f.write("%s,,1001,%d\n" % (out["alice"]["refresh"], now + 30 * 86400))
    digest = hashlib.sha256(out["carol"]["refresh"].encode()).hexdigest()
    f.write(",%s,1003,%d\n" % (digest, now + 30 * 86400))
print(json.dumps(out))
"#;

/// The API key of the services in this test (they verify and refresh).
const SERVICE_KEY: &str = "outage-service-key-0123456789";

async fn verify(
    client: &mut TokenServiceClient<Channel>,
    token: &str,
) -> Result<Value, tonic::Status> {
    client
        .verify(with_key(
            VerifyRequest {
                access_token: token.into(),
                ..Default::default()
            },
            SERVICE_KEY,
        ))
        .await
        .map(|r| {
            let r = r.into_inner();
            serde_json::json!({"subject": r.subject, "session_id": r.session_id, "audience": r.audience, "scopes": r.scopes})
        })
}

async fn refresh(
    client: &mut TokenServiceClient<Channel>,
    token: &str,
) -> Result<inkan::proto::v1::TokenPair, tonic::Status> {
    client
        .refresh(with_key(
            RefreshRequest {
                refresh_token: token.into(),
            },
            SERVICE_KEY,
        ))
        .await
        .map(tonic::Response::into_inner)
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn the_outage_replays_without_a_new_login(backend: Backend) {
    if !crate::pyjwt::pyjwt_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let url = fresh_database(backend, path).await;
    let config = server_config(
        path,
        &url,
        &format!(
            "key_reload_interval = \"100ms\"\n\n[[callers]]\nname = \"services\"\n\
             api_key_sha256 = \"{}\"\npermissions = [\"refresh\"]\n",
            sha256_hex(SERVICE_KEY)
        ),
    );
    let config_arg = config.to_str().unwrap();

    // The former system, with a strong SECRET_KEY, issues its tokens and
    // exports its refresh-token table.
    let secret: String = {
        use base64::Engine;
        let bytes: [u8; 32] = rand::random();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let export = path.join("refresh_tokens.csv");
    let former = tokio::task::spawn_blocking({
        let (secret, export) = (secret.clone(), export.clone());
        move || {
            std::process::Command::new("python3")
                .args(["-c", FORMER_SYSTEM, export.to_str().unwrap()])
                .env("SECRET_KEY", secret)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let tokens: Value = serde_json::from_str(&stdout(&former)).unwrap();
    let token = |path: &[&str]| {
        path.iter()
            .fold(&tokens, |v, k| &v[*k])
            .as_str()
            .unwrap()
            .to_owned()
    };

    // The operator adds SECRET_KEY as a legacy key that reads user_id and
    // exchanges refresh tokens, migrates the ledger and imports the export.
    std::fs::write(path.join("old.secret"), &secret).unwrap();
    let sunset = humantime::format_rfc3339_seconds(
        std::time::SystemTime::now() + Duration::from_secs(30 * 86_400),
    )
    .to_string();
    let added = run_inkan(
        &[
            "keys",
            "add-legacy",
            "--keys",
            "keys.json",
            "--secret-file",
            "old.secret",
            "--sunset",
            &sunset,
            "--label",
            "monolith",
            "--subject-claim",
            "user_id",
            "--refresh",
            "--session-audience",
            "orders",
            "--session-scope",
            "orders:read",
        ],
        path,
    );
    stdout(&added);
    // inspect names what signed the forged token.
    let inspected = run_inkan_with_stdin(
        &["token", "inspect", "--keys", "keys.json", "-"],
        &token(&["forged_access"]),
        path,
    );
    let said = String::from_utf8_lossy(&inspected.stderr);
    assert!(
        said.contains(
            "signed with the placeholder secret \"ACCESS_SECRET\": forged, or issued while a \
             secret was unset"
        ),
        "{said}"
    );
    migrate_with(config_arg, path);
    let import = [
        "legacy",
        "import-refresh-tokens",
        "refresh_tokens.csv",
        "--config",
        config_arg,
    ];
    let first = stdout(&run_inkan(&import, path));
    assert_eq!(
        first.trim(),
        "imported 2 legacy refresh tokens; 0 already present (lines by kind: 2 jwt, 0 opaque)"
    );
    let again = stdout(&run_inkan(&import, path));
    assert_eq!(
        again.trim(),
        "imported 0 legacy refresh tokens; 2 already present (lines by kind: 2 jwt, 0 opaque)"
    );
    assert!(
        !first.contains("eyJ") && !again.contains("eyJ"),
        "the import never prints a token"
    );

    let server = tokio::task::spawn_blocking({
        let config = config.clone();
        move || Served::start(&config)
    })
    .await
    .unwrap();
    let mut client = server.client().await;

    // A former access token still valid verifies through the legacy key,
    // its subject read from user_id.
    let carol = verify(&mut client, &token(&["carol", "access"]))
        .await
        .unwrap();
    assert_eq!(carol["subject"], "1003");

    // Alice's former access token has expired: the answer says refresh.
    let expired = verify(&mut client, &token(&["alice", "access"])).await;
    assert_refused(expired, "TOKEN_EXPIRED");
    // Her former refresh token is exchanged once for an inkan session.
    let pair = refresh(&mut client, &token(&["alice", "refresh"]))
        .await
        .unwrap();
    assert!(pair.refresh_token.starts_with("inkan_rt_"));
    let verified = verify(&mut client, &pair.access_token).await.unwrap();
    assert_eq!(verified["subject"], "1001");
    assert_eq!(verified["session_id"], pair.session_id.as_str());
    assert_eq!(verified["audience"], serde_json::json!(["orders"]));
    assert_eq!(verified["scopes"], serde_json::json!(["orders:read"]));
    // From then on she refreshes as any inkan client does.
    let next = refresh(&mut client, &pair.refresh_token).await.unwrap();
    assert_eq!(next.session_id, pair.session_id);

    // Someone replays her spent former refresh token: reuse, which ends
    // the session it opened.
    let replay = refresh(&mut client, &token(&["alice", "refresh"])).await;
    assert_refused(replay, "REFRESH_TOKEN_REUSED");
    assert_refused(
        refresh(&mut client, &next.refresh_token).await,
        "SESSION_REVOKED",
    );
    assert_refused(
        verify(&mut client, &next.access_token).await,
        "SESSION_REVOKED",
    );

    // Bob's former refresh token is well signed but was never imported.
    let absent = refresh(&mut client, &token(&["bob", "refresh"])).await;
    let message = assert_refused(absent, "REFRESH_TOKEN_INVALID");
    assert!(message.contains("not imported"), "{message}");

    // Placeholder-signed tokens: refused as bad signatures, named as such,
    // logged once per token id, counted.
    for _ in 0..2 {
        let forged = verify(&mut client, &token(&["forged_access"])).await;
        let message = assert_refused(forged, "SIGNATURE_INVALID");
        assert!(
            message.contains("placeholder secret \"ACCESS_SECRET\""),
            "{message}"
        );
    }
    assert_refused(
        refresh(&mut client, &token(&["forged_refresh"])).await,
        "SIGNATURE_INVALID",
    );
    // Each call's "call answered" line follows its security event, so
    // once all three answers are in the log, so are the events.
    eventually(
        "the three refusals logged",
        Duration::from_secs(10),
        || async { server.logged(|e| e["outcome"] == "SIGNATURE_INVALID").len() >= 3 },
    )
    .await;
    let events =
        server.logged(|e| e["security_event"] == true && e["placeholder"] == "ACCESS_SECRET");
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["token_id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ids, ["jti:forged-1", "jti:forged-2"], "{events:?}");
    let all = server.logged(|_| true);
    for (name, secret_token) in [
        ("former access", token(&["carol", "access"])),
        ("forged", token(&["forged_access"])),
        ("former refresh", token(&["alice", "refresh"])),
    ] {
        assert!(
            !all.iter().any(|e| e.to_string().contains(&secret_token)),
            "a {name} token reached the log"
        );
    }
    assert_eq!(
        server
            .metric("inkan_placeholder_signed_tokens_total{placeholder=\"ACCESS_SECRET\"}")
            .await,
        Some(3.0)
    );
    assert_eq!(
        server
            .metric("inkan_legacy_refresh_tokens_exchanged_total{key=\"monolith\"}")
            .await,
        Some(1.0)
    );
    let published_sunset = server
        .metric("inkan_legacy_key_sunset_timestamp_seconds{key=\"monolith\"}")
        .await
        .expect("the sunset is exported");
    let sunset_secs = humantime::parse_rfc3339(&sunset)
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as f64;
    assert_eq!(published_sunset, sunset_secs);

    // The operator ends the sunset: the key file's sunset moves to now,
    // and every server reloads it.
    let keys_path = path.join("keys.json");
    let mut file = KeySetFile::read(&keys_path).unwrap();
    let ended = std::time::SystemTime::now() - Duration::from_secs(1);
    for key in file.keys.iter_mut().filter(|k| k.legacy) {
        key.sunset = Some(humantime::format_rfc3339_seconds(ended).to_string());
    }
    file.write(&keys_path).unwrap();
    let ended_secs = ended
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as f64;
    eventually(
        "the new sunset is in service",
        Duration::from_secs(10),
        || async {
            server
                .metric("inkan_legacy_key_sunset_timestamp_seconds{key=\"monolith\"}")
                .await
                == Some(ended_secs)
        },
    )
    .await;

    // Every former token is now told to log in again.
    for access in [
        token(&["carol", "access"]),
        token(&["alice", "access"]),
        token(&["bob", "access"]),
    ] {
        assert_refused(verify(&mut client, &access).await, "KEY_UNKNOWN");
    }
    for former in [
        token(&["carol", "refresh"]),
        token(&["alice", "refresh"]),
        token(&["bob", "refresh"]),
    ] {
        assert_refused(refresh(&mut client, &former).await, "REFRESH_TOKEN_EXPIRED");
    }
    assert_refused(
        verify(&mut client, &token(&["forged_access"])).await,
        "SIGNATURE_INVALID",
    );
}

/// A malformed line stops the import: nothing is stored, and the line is
/// named by number, never quoted.
async fn a_malformed_export_imports_nothing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let url = fresh_database(backend, path).await;
    let config = server_config(path, &url, "");
    let config_arg = config.to_str().unwrap();
    migrate_with(config_arg, path);
    let good = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoxfQ.c2ln";
    std::fs::write(
        path.join("export.jsonl"),
        format!(
            "{{\"token\": \"{good}\", \"subject\": 1, \"expires_at\": 4102444800}}\n\
             {{\"token\": \"{good}x\", \"subject\": 2, \"expires_at\": \"{good}\"}}\n"
        ),
    )
    .unwrap();
    let out = run_inkan(
        &[
            "legacy",
            "import-refresh-tokens",
            "export.jsonl",
            "--config",
            config_arg,
        ],
        path,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("line 2: expires_at") && stderr.contains("nothing was imported"),
        "{stderr}"
    );
    assert!(!stderr.contains("eyJ"), "{stderr}");
    let ledger = inkan::ledger::Ledger::connect(&url).await.unwrap();
    assert_eq!(ledger.legacy_refresh_tokens_left(0).await.unwrap(), 0);
}

backend_fns!(
    a_malformed_export_imports_nothing,
    the_outage_replays_without_a_new_login
);
