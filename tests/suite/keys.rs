//! Keys without surprises: rotation while serving, hot reload under load,
//! refusal of a bad new key set, legacy HS256 migration, and WatchKeys.

use crate::common;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, SystemTime},
};

use common::{
    admin, assert_refused, claims_for, edit_keys, eventually, http_get, issue_request, kid_of,
    legacy_token, metrics_showing, verify, TestApp,
};
use inkan::{
    keys::{rotation, KeySetFile},
    proto::v1::{GetJwksRequest, GetJwksResponse, WatchKeysRequest},
};
use tonic::Streaming;

/// Waits until `/metrics` counts `count` applied key-set reloads.
async fn applied_reloads(app: &TestApp, count: usize) {
    let applied = format!("inkan_key_reloads_total{{outcome=\"applied\"}} {count}");
    metrics_showing(app, &applied).await;
}

/// Replaces the server's key-set file in one step (a private sibling,
/// renamed over it), as `inkan keys` and a Kubernetes Secret update do: a
/// watcher reading a half-written file would count a refusal of its own.
fn replace_keys(app: &TestApp, content: &str) {
    let sibling = app.keys_path.with_extension("new");
    std::fs::write(&sibling, content).unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(
        &sibling,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    std::fs::rename(&sibling, &app.keys_path).unwrap();
}

/// The next key-set snapshot from WatchKeys that satisfies `wanted`.
async fn watch_until(
    stream: &mut Streaming<GetJwksResponse>,
    wanted: impl Fn(&GetJwksResponse) -> bool,
) -> GetJwksResponse {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let snapshot = stream.message().await.unwrap().expect("stream stays open");
            if wanted(&snapshot) {
                return snapshot;
            }
        }
    })
    .await
    .expect("the key set change reached WatchKeys")
}

fn states(snapshot: &GetJwksResponse) -> Vec<(String, String)> {
    snapshot
        .keys
        .iter()
        .map(|k| (k.kid.clone(), k.state.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_under_load_fails_no_verify_and_every_token_stays_valid() {
    let app = TestApp::spawn(common::Backend::Sqlite).await;
    let mut client = app.client().await;
    let first_kid = app.keys.active().kid().to_string();
    let mut watch = client
        .watch_keys(WatchKeysRequest {})
        .await
        .unwrap()
        .into_inner();
    let initial = watch_until(&mut watch, |_| true).await;
    assert_eq!(states(&initial), [(first_kid.clone(), "active".to_owned())]);

    let before = client
        .issue(admin(issue_request("user-1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kid_of(&before.access_token), first_kid);

    // Load: verifiers hammer the token issued before the rotation.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (mut client, token) = (client.clone(), before.access_token.clone());
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match client.verify(verify(&token)).await {
                        Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();

    // Step 1: publish the next key; nothing signs with it yet.
    let mut next_kid = String::new();
    edit_keys(&app, |file| {
        next_kid = rotation::add_next(file, None).unwrap()
    });
    let published = watch_until(&mut watch, |s| s.keys.len() == 2).await;
    assert!(states(&published).contains(&(next_kid.clone(), "next".to_owned())));
    let (_, _, jwks) = http_get(app.http_addr, "/.well-known/jwks.json").await;
    assert!(
        jwks.contains(&next_kid),
        "the next key is in the HTTP JWKS at once"
    );
    let during = client
        .issue(admin(issue_request("user-2")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        kid_of(&during.access_token),
        first_kid,
        "a next key does not sign"
    );

    // Step 2: promote it; the old key verifies what it signed.
    edit_keys(&app, |file| {
        rotation::promote(file, SystemTime::now(), Duration::from_secs(300), true).unwrap();
    });
    let promoted = watch_until(&mut watch, |s| {
        s.keys
            .iter()
            .any(|k| k.kid == next_kid && k.state == "active")
    })
    .await;
    assert!(states(&promoted).contains(&(first_kid.clone(), "verify_only".to_owned())));
    let after = client
        .issue(admin(issue_request("user-3")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kid_of(&after.access_token), next_kid);

    // The load goes on verifying the old key's token after the promotion.
    let verified = ok.load(Ordering::Relaxed);
    eventually(
        "verifies after the promotion",
        Duration::from_secs(10),
        || async { ok.load(Ordering::Relaxed) >= verified + 40 },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "a Verify failed during the rotation"
    );
    assert!(ok.load(Ordering::Relaxed) > 10, "the load did run");
    for token in [
        &before.access_token,
        &during.access_token,
        &after.access_token,
    ] {
        client
            .verify(verify(token))
            .await
            .expect("every token verifies until it expires");
    }

    // Step 3: once the old key's tokens have expired it goes; this test
    // drops it early to show that its tokens then stop verifying.
    edit_keys(&app, |file| {
        rotation::drop_retired(file, SystemTime::now(), Duration::ZERO);
    });
    watch_until(&mut watch, |s| s.keys.len() == 1).await;
    assert_refused(
        client.verify(verify(&before.access_token)).await,
        "KEY_UNKNOWN",
    );
    client.verify(verify(&after.access_token)).await.unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_new_key_set_is_refused_and_the_old_one_stays() {
    let app = TestApp::spawn(common::Backend::Sqlite).await;
    let mut client = app.client().await;
    let pair = client
        .issue(admin(issue_request("user-1")))
        .await
        .unwrap()
        .into_inner();
    let before = client
        .get_jwks(GetJwksRequest {})
        .await
        .unwrap()
        .into_inner();

    for (refused, bad) in (1..).zip([
        "{ not json".to_owned(),
        r#"{"keys":[]}"#.to_owned(),
        // Valid JSON, but the one key is not active: no key would sign.
        std::fs::read_to_string(&app.keys_path)
            .unwrap()
            .replace("\"active\"", "\"verify_only\""),
        // Valid on its own, but the kid in service now names other material:
        // every token it signed would fail.
        {
            let mut impostor = KeySetFile::generate(inkan::keys::KeyAlgorithm::EdDSA).unwrap();
            impostor.keys[0].kid = app.keys.active().kid().to_string();
            impostor.to_json()
        },
    ]) {
        replace_keys(&app, &bad);
        let counted = format!("inkan_key_reloads_total{{outcome=\"refused\"}} {refused}");
        // The bad key set was read and refused.
        metrics_showing(&app, &counted).await;
        let now = client
            .get_jwks(GetJwksRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            now.jwks_json, before.jwks_json,
            "a refused set must not be published"
        );
        client
            .verify(verify(&pair.access_token))
            .await
            .expect("Verify keeps working");
        client
            .issue(admin(issue_request("user-2")))
            .await
            .expect("Issue keeps signing");
    }
    let (_, _, metrics) = http_get(app.metrics_addr, "/metrics").await;
    assert!(
        metrics.contains("inkan_key_reloads_total{outcome=\"refused\"} 4"),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_secret_accepts_old_tokens_until_its_sunset_and_counts_them() {
    let app = TestApp::spawn(common::Backend::Sqlite).await;
    let mut client = app.client().await;
    let secret = b"a-former-systems-hs256-secret-of-40-bytes".to_vec();
    let sunset = SystemTime::now() + Duration::from_secs(86_400);
    edit_keys(&app, |file| {
        rotation::add_legacy(
            file,
            "monolith",
            &secret,
            sunset,
            Some("https://old.example".into()),
            None,
        )
        .unwrap();
    });
    // The reload is visible in /metrics once applied.
    applied_reloads(&app, 1).await;

    // A token the former system made: HS256, no kid, its own issuer.
    let now = inkan::clock::now();
    let old_claims = serde_json::json!({"iss": "https://old.example", "sub": "user-42", "iat": now, "exp": now + 600, "scope": "orders:read"});
    let legacy_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    let old = legacy_token(&secret, &old_claims);
    let accepted = client.verify(verify(&old)).await.unwrap().into_inner();
    assert_eq!(accepted.subject, "user-42");
    assert_eq!(accepted.key_id, "monolith");
    assert!(accepted.session_id.is_empty());

    // A wrong secret, a wrong issuer, a refresh-token-length lifetime.
    assert_refused(
        client
            .verify(verify(&legacy_token(
                b"another-secret-entirely-0123456789abcdef",
                &old_claims,
            )))
            .await,
        "SIGNATURE_INVALID",
    );
    let mut foreign = old_claims.clone();
    foreign["iss"] = "https://elsewhere.example".into();
    assert_refused(
        client
            .verify(verify(&legacy_token(&secret, &foreign)))
            .await,
        "ISSUER_MISMATCH",
    );
    let mut long = old_claims.clone();
    long["exp"] = (now + 30 * 86_400).into();
    assert_refused(
        client.verify(verify(&legacy_token(&secret, &long))).await,
        "TOKEN_TYPE_INVALID",
    );
    // A token that names a kid never reaches a legacy key, even its label.
    let mut named = legacy_header.clone();
    named.kid = Some("monolith".into());
    let with_kid = jsonwebtoken::encode(
        &named,
        &old_claims,
        &jsonwebtoken::EncodingKey::from_secret(&secret),
    )
    .unwrap();
    assert_refused(client.verify(verify(&with_kid)).await, "KEY_UNKNOWN");
    // An inkan-shaped token without a kid, signed by inkan's own key, is not
    // tried against inkan's keys either.
    let mut no_kid = common::header_for(&app);
    no_kid.kid = None;
    assert_refused(
        client
            .verify(verify(&common::forge(
                &app,
                &no_kid,
                &claims_for(&uuid::Uuid::new_v4().to_string()),
            )))
            .await,
        "ALGORITHM_MISMATCH",
    );

    let (_, _, metrics) = http_get(app.metrics_addr, "/metrics").await;
    assert!(
        metrics.contains("inkan_legacy_tokens_accepted_total{key=\"monolith\"} 1"),
        "{metrics}"
    );

    // The former system's refresh JWT, in its last day and without iat,
    // asked to prove the admin scope: never an access token.
    let mut refresh_header = legacy_header.clone();
    refresh_header.typ = Some("refresh+jwt".into());
    let mut refresh_claims = old_claims.clone();
    refresh_claims.as_object_mut().unwrap().remove("iat");
    refresh_claims["exp"] = (now + 23 * 3600).into();
    refresh_claims["token_use"] = "refresh".into();
    refresh_claims["scope"] = "orders:read admin".into();
    let refresh_jwt = jsonwebtoken::encode(
        &refresh_header,
        &refresh_claims,
        &jsonwebtoken::EncodingKey::from_secret(&secret),
    )
    .unwrap();
    let mut as_admin = verify(&refresh_jwt);
    as_admin.get_mut().required_scopes = vec!["admin".into()];
    assert_refused(client.verify(as_admin).await, "TOKEN_TYPE_INVALID");

    // Many HS256 issuers (PyJWT by default) set no iat. Without it nothing
    // bounds a token's lifetime, so the key refuses such tokens...
    let mut no_iat = old_claims.clone();
    no_iat.as_object_mut().unwrap().remove("iat");
    let msg = assert_refused(
        client.verify(verify(&legacy_token(&secret, &no_iat))).await,
        "TOKEN_TYPE_INVALID",
    );
    assert!(msg.contains("lifetime cannot be bounded"), "{msg}");
    // ...unless the operator says how long they may have left.
    edit_keys(&app, |file| {
        let legacy = file.keys.iter_mut().find(|k| k.legacy).unwrap();
        legacy.max_remaining_without_iat = Some("15m".into());
    });
    applied_reloads(&app, 2).await;
    let accepted = client
        .verify(verify(&legacy_token(&secret, &no_iat)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(accepted.subject, "user-42");
    let mut no_iat_long = no_iat.clone();
    no_iat_long["exp"] = (now + 23 * 3600).into();
    assert_refused(
        client
            .verify(verify(&legacy_token(&secret, &no_iat_long)))
            .await,
        "TOKEN_TYPE_INVALID",
    );

    // After the sunset the legacy key accepts nothing: move it into the past.
    edit_keys(&app, |file| {
        let legacy = file.keys.iter_mut().find(|k| k.legacy).unwrap();
        legacy.sunset = Some(
            humantime::format_rfc3339_seconds(SystemTime::now() - Duration::from_secs(1))
                .to_string(),
        );
    });
    applied_reloads(&app, 3).await;
    let msg = assert_refused(client.verify(verify(&old)).await, "KEY_UNKNOWN");
    assert!(msg.contains("no legacy key"), "{msg}");
    app.stop().await;
}
