//! What gateways ask over HTTP instead of linking a library: RFC 7662
//! introspection and forward-auth, each only for authenticated callers and
//! each through the Verify path (audience, expiry, revocations). And the
//! discovery document's `jwks_uri` for consumers that reach inkan at
//! another address than its issuer's. `.ci/stages/gateways.sh` puts real
//! nginx and Apache httpd in front of the same endpoints.

use crate::common;

use std::{net::SocketAddr, time::Duration};

use base64::{engine::general_purpose::STANDARD, Engine};
use common::{
    admin, eventually, http_exchange, http_get, issue_request, metrics_showing,
    HttpAnswer as Answer, Options, TestApp, ADMIN_KEY, ISSUER, VERIFIER_KEY,
};
use inkan::{
    callers::{api_key_sha256, CallerConfig, Permission},
    proto::v1::{revoke_request::Target, RevokeRequest, TokenPair},
};
use serde_json::{json, Value};

/// One HTTP/1.1 request with `headers` and `body`, on a fresh connection.
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    http_exchange(
        stream,
        &addr.to_string(),
        &format!("{method} {path}"),
        headers,
        body,
    )
    .await
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

async fn introspect(app: &TestApp, credentials: Option<(&str, &str)>, body: &str) -> Answer {
    let mut headers = vec![FORM];
    headers.extend(credentials);
    send(app.http_addr, "POST", "/oauth2/introspect", &headers, body).await
}

async fn forward_auth(
    app: &TestApp,
    query: &str,
    key: Option<&str>,
    token: Option<&str>,
) -> Answer {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = Vec::new();
    headers.extend(key.map(|k| ("x-api-key", k)));
    headers.extend(bearer.as_deref().map(|b| ("authorization", b)));
    send(
        app.http_addr,
        "GET",
        &format!("/auth/verify{query}"),
        &headers,
        "",
    )
    .await
}

async fn login(app: &TestApp, subject: &str) -> TokenPair {
    let mut client = app.client().await;
    client
        .issue(admin(issue_request(subject)))
        .await
        .unwrap()
        .into_inner()
}

async fn revoke(app: &TestApp, session_id: &str) {
    let mut client = app.client().await;
    client
        .revoke(admin(RevokeRequest {
            reason: "test".into(),
            target: Some(Target::SessionId(session_id.into())),
        }))
        .await
        .unwrap();
}

backend_tests! {
    async fn introspection_tells_an_authenticated_caller_whether_a_token_is_active(app: TestApp) {
        let pair = login(&app, "alice").await;
        let form = format!("token={}&token_type_hint=access_token", pair.access_token);
        let key = Some(("x-api-key", VERIFIER_KEY));

        // Nobody learns anything about a token without naming a caller.
        for credentials in [None, Some(("x-api-key", "guess")), Some(("authorization", "Basic Z3Vlc3M6Z3Vlc3M="))] {
            let answer = introspect(&app, credentials, &form).await;
            assert_eq!(answer.status, 401, "{credentials:?}");
            assert_eq!(answer.header("www-authenticate"), Some("Basic realm=\"inkan\""));
            assert_eq!(answer.json()["error"], "invalid_client");
            assert!(!answer.body.contains("active"), "{}", answer.body);
        }

        let answer = introspect(&app, key, &form).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        let active = answer.json();
        assert_eq!(active["active"], true);
        assert_eq!(active["sub"], "alice");
        assert_eq!(active["aud"], "orders");
        assert_eq!(active["scope"], "orders:read orders:write");
        assert_eq!(active["client_id"], "web");
        assert_eq!(active["iss"], ISSUER);
        assert_eq!(active["sid"], pair.session_id.as_str());
        assert_eq!(active["token_type"], "Bearer");
        assert!(active["jti"].as_str().is_some_and(|j| !j.is_empty()), "{active}");
        let expires_at = pair.access_token_expires_at.unwrap().seconds;
        assert_eq!(active["exp"], expires_at);
        assert!(active["iat"].as_i64().unwrap() < expires_at);

        // OAuth 2.0 client credentials (what mod_auth_openidc sends): the
        // caller's name as client id, its API key as secret.
        let basic = |id: &str| format!("Basic {}", STANDARD.encode(format!("{id}:{VERIFIER_KEY}")));
        let answer = introspect(&app, Some(("authorization", &basic("verifier"))), &form).await;
        assert_eq!(answer.json()["sub"], "alice", "{}", answer.body);
        let answer = introspect(&app, Some(("authorization", &basic("admin"))), &form).await;
        assert_eq!(answer.status, 401, "another caller's name with this key");

        // Inactive says nothing more, whatever the reason.
        for body in [
            format!("{form}&audience=billing"),
            "token=not.a.token".to_owned(),
            format!("token={}", pair.refresh_token),
        ] {
            let answer = introspect(&app, key, &body).await;
            assert_eq!((answer.status, answer.json()), (200, json!({ "active": false })), "{body}");
        }
        let answer = introspect(&app, key, &format!("{form}&audience=orders")).await;
        assert_eq!(answer.json()["active"], true);

        revoke(&app, &pair.session_id).await;
        eventually("introspection sees the revocation", Duration::from_secs(5), || async {
            introspect(&app, key, &form).await.json() == json!({ "active": false })
        })
        .await;
        let metrics = metrics_showing(&app, r#"inkan_failures_total{reason="SESSION_REVOKED"} 1"#).await;
        assert!(
            metrics.contains(r#"inkan_http_token_checks_total{endpoint="introspect",outcome="ok"} 3"#),
            "{metrics}"
        );
        app.stop().await;
    }

    async fn forward_auth_lets_a_gateway_pass_a_valid_token_and_names_the_reason_otherwise(app: TestApp) {
        let pair = login(&app, "alice").await;
        let token = Some(pair.access_token.as_str());
        let gateway = Some(VERIFIER_KEY);

        let passed = forward_auth(&app, "?audience=orders&scope=orders:read", gateway, token).await;
        assert_eq!(passed.status, 200, "{}", passed.body);
        assert_eq!(passed.header("x-auth-subject"), Some("alice"));
        assert_eq!(passed.header("x-auth-scopes"), Some("orders:read orders:write"));
        assert_eq!(passed.header("x-auth-session"), Some(pair.session_id.as_str()));
        assert_eq!(passed.header("x-auth-client-id"), Some("web"));
        assert_eq!(passed.header("cache-control"), Some("no-store"));

        // The user's token and nothing else: RFC 6750's bare challenge.
        let bare = forward_auth(&app, "?audience=orders", gateway, None).await;
        assert_eq!(bare.status, 401);
        assert_eq!(bare.header("www-authenticate"), Some("Bearer realm=\"inkan\""));

        let wrong = forward_auth(&app, "?audience=billing", gateway, token).await;
        assert_eq!(wrong.status, 401);
        assert_eq!(
            wrong.header("www-authenticate"),
            Some("Bearer realm=\"inkan\", error=\"invalid_token\", error_description=\"AUDIENCE_MISMATCH\"")
        );
        assert_eq!(wrong.header("x-auth-reason"), Some("AUDIENCE_MISMATCH"));
        assert_eq!(wrong.header("x-auth-action"), Some("reauthenticate"));
        assert_eq!(wrong.header("x-auth-subject"), None);

        let scope = forward_auth(&app, "?audience=orders&scope=orders:admin", gateway, token).await;
        assert_eq!(scope.status, 403);
        assert_eq!(
            scope.header("www-authenticate"),
            Some("Bearer realm=\"inkan\", error=\"insufficient_scope\", \
                  error_description=\"INSUFFICIENT_SCOPE\", scope=\"orders:admin\"")
        );

        // The gateway must be a caller, and must say which audience it
        // guards: its own mistakes are never the user's token's.
        for key in [None, Some("guess")] {
            let refused = forward_auth(&app, "?audience=orders", key, token).await;
            assert_eq!(refused.status, 401, "{key:?}");
            assert_eq!(refused.header("x-auth-reason"), Some("CALLER_UNAUTHENTICATED"));
            assert_eq!(refused.header("www-authenticate"), None);
            assert_eq!(refused.header("x-auth-subject"), None);
        }
        let unnamed = forward_auth(&app, "", gateway, token).await;
        assert_eq!((unnamed.status, unnamed.header("x-auth-reason")), (400, Some("INVALID_REQUEST")));
        assert!(unnamed.json()["message"].as_str().unwrap().contains("audience is required"));

        // nginx's subrequest keeps the original method.
        let post = send(
            app.http_addr,
            "POST",
            "/auth/verify?audience=orders",
            &[("x-api-key", VERIFIER_KEY), ("authorization", &format!("Bearer {}", pair.access_token))],
            "",
        )
        .await;
        assert_eq!(post.header("x-auth-subject"), Some("alice"));

        revoke(&app, &pair.session_id).await;
        eventually("forward-auth sees the revocation", Duration::from_secs(5), || async {
            let answer = forward_auth(&app, "?audience=orders", gateway, token).await;
            answer.status == 401 && answer.header("x-auth-reason") == Some("SESSION_REVOKED")
        })
        .await;
        metrics_showing(&app, r#"inkan_http_token_checks_total{endpoint="forward_auth",outcome="ok"} 2"#).await;
        metrics_showing(&app, r#"inkan_http_token_checks_total{endpoint="forward_auth",outcome="no_token"} 1"#).await;
        app.stop().await;
    }
}

/// What a gateway cannot send: oversized or malformed introspection
/// requests are refused as requests, before any token is looked at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_bounds_and_checks_its_request() {
    let app = TestApp::spawn(common::Backend::Sqlite).await;
    let key = Some(("x-api-key", ADMIN_KEY));
    let pair = login(&app, "alice").await;

    let oversized = format!("token={}", "a".repeat(inkan::http::MAX_BODY_BYTES));
    let answer = introspect(&app, key, &oversized).await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.json()["error"], "invalid_request");

    for body in ["", "token=", "token_type_hint=access_token"] {
        let answer = introspect(&app, key, body).await;
        assert_eq!(
            (answer.status, answer.json()["error"].as_str()),
            (400, Some("invalid_request")),
            "{body:?}"
        );
    }
    let twice = format!("token={0}&token={0}", pair.access_token);
    assert_eq!(
        introspect(&app, key, &twice).await.status,
        400,
        "a parameter sent twice"
    );
    let json_body = send(
        app.http_addr,
        "POST",
        "/oauth2/introspect",
        &[
            ("content-type", "application/json"),
            ("x-api-key", ADMIN_KEY),
        ],
        &json!({ "token": pair.access_token }).to_string(),
    )
    .await;
    assert_eq!(json_body.status, 400);
    let get = send(
        app.http_addr,
        "GET",
        "/oauth2/introspect",
        &[("x-api-key", ADMIN_KEY)],
        "",
    )
    .await;
    assert_eq!(get.status, 405);
    app.stop().await;
}

/// With `verify_requires_permission`, a caller without `verify` is
/// refused on both endpoints, and learns nothing of the token; one with it
/// is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_without_the_verify_permission_is_forbidden_where_it_is_required() {
    let app = TestApp::spawn_with(
        common::Backend::Sqlite,
        Options {
            verify_requires_permission: true,
            callers: vec![CallerConfig {
                name: "edge-gateway".into(),
                api_key_sha256: Some(api_key_sha256("edge-gateway-key")),
                permissions: vec![Permission::Verify],
                ..CallerConfig::default()
            }],
            ..Options::default()
        },
    )
    .await;
    let pair = login(&app, "alice").await;
    let answer = introspect(
        &app,
        Some(("x-api-key", "edge-gateway-key")),
        &format!("token={}", pair.access_token),
    )
    .await;
    assert_eq!(answer.json()["sub"], "alice", "{}", answer.body);
    let answer = forward_auth(
        &app,
        "?audience=orders",
        Some("edge-gateway-key"),
        Some(&pair.access_token),
    )
    .await;
    assert_eq!(answer.header("x-auth-subject"), Some("alice"));
    let answer = introspect(
        &app,
        Some(("x-api-key", VERIFIER_KEY)),
        &format!("token={}", pair.access_token),
    )
    .await;
    assert_eq!(
        (answer.status, answer.json()["error"].as_str()),
        (403, Some("unauthorized_client"))
    );
    let answer = forward_auth(
        &app,
        "?audience=orders",
        Some(VERIFIER_KEY),
        Some(&pair.access_token),
    )
    .await;
    assert_eq!(
        (answer.status, answer.header("x-auth-reason")),
        (403, Some("CALLER_FORBIDDEN"))
    );
    assert_eq!(answer.header("x-auth-subject"), None);
    app.stop().await;
}

/// Expired tokens are refused with the action the contract binds to it:
/// refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_auth_tells_the_client_to_refresh_an_expired_token() {
    let clock = inkan::clock::Clock::manual();
    let app = TestApp::spawn_with(
        common::Backend::Sqlite,
        Options {
            clock: Some(clock.clone()),
            ..Options::default()
        },
    )
    .await;
    let pair = login(&app, "alice").await;
    clock.advance(3600);
    let answer = forward_auth(
        &app,
        "?audience=orders",
        Some(VERIFIER_KEY),
        Some(&pair.access_token),
    )
    .await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.header("www-authenticate"),
        Some(
            "Bearer realm=\"inkan\", error=\"invalid_token\", error_description=\"TOKEN_EXPIRED\""
        )
    );
    assert_eq!(answer.header("x-auth-action"), Some("refresh"));
    let answer = introspect(
        &app,
        Some(("x-api-key", VERIFIER_KEY)),
        &format!("token={}", pair.access_token),
    )
    .await;
    assert_eq!(answer.json(), json!({ "active": false }));
    app.stop().await;
}

/// Consumers that reach inkan at an internal address are told where the
/// JWKS is by `public_jwks_url`; without it, the issuer's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_names_the_public_jwks_url_when_one_is_set() {
    let url = "http://inkan.internal:8080/.well-known/jwks.json";
    let app = TestApp::spawn_with(
        common::Backend::Sqlite,
        Options {
            public_jwks_url: Some(url.into()),
            ..Options::default()
        },
    )
    .await;
    let (_, _, discovery) = http_get(app.http_addr, "/.well-known/openid-configuration").await;
    let discovery: Value = serde_json::from_str(&discovery).unwrap();
    assert_eq!(discovery["jwks_uri"], url);
    assert_eq!(
        discovery["issuer"], ISSUER,
        "the issuer stays what tokens carry"
    );
    app.stop().await;
}
