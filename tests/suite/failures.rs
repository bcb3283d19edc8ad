//! Every failure reason the core service can produce, each with the code and
//! action DESIGN.md binds to it, and a message a person can act on.

use crate::common;

use std::time::Duration;

use common::{
    admin, assert_refused, claims_for, forge, header_for, issue_request, verify, verify_for,
    with_key, Options, TestApp, ISSUER_KEY, VERIFIER_KEY,
};
use inkan::{
    clock::Clock,
    keys::{KeyAlgorithm, KeySet, KeySetFile},
    proto::v1::{
        revoke_request::Target, IssueRequest, ListSessionsRequest, RefreshRequest, RevokeRequest,
        VerifyRequest,
    },
};
use prost_types::{value::Kind, Struct, Value};
use sea_orm::ConnectionTrait;

fn session() -> String {
    uuid::Uuid::new_v4().to_string()
}

backend_tests! {
    async fn access_tokens_are_refused_with_the_reason_that_applies(app: TestApp) {
        let mut client = app.client().await;
        let pair = client.issue(admin(issue_request("user-42"))).await.unwrap().into_inner();
        let header = header_for(&app);
        let now = inkan::clock::now();
        let with = |changes: serde_json::Value| {
            let mut claims = claims_for(&session());
            for (k, v) in changes.as_object().unwrap() {
                claims[k] = v.clone();
            }
            forge(&app, &header, &claims)
        };

        // Well-formed but expired beyond the 30 s leeway: refresh it.
        let msg = assert_refused(client.verify(verify(&with(serde_json::json!({"exp": now - 100})))).await, "TOKEN_EXPIRED");
        assert!(msg.starts_with("access token expired 10") && msg.ends_with("s ago; refresh it"), "{msg}");
        // Within the leeway it still passes.
        client.verify(verify(&with(serde_json::json!({"exp": now - 10})))).await.unwrap();

        assert_refused(client.verify(verify(&with(serde_json::json!({"nbf": now + 120})))).await, "TOKEN_NOT_YET_VALID");
        assert_refused(client.verify(verify(&with(serde_json::json!({"iat": now + 120})))).await, "TOKEN_NOT_YET_VALID");
        client.verify(verify(&with(serde_json::json!({"nbf": now + 10})))).await.unwrap();

        assert_refused(client.verify(verify(&with(serde_json::json!({"iss": "https://inkan.test/"})))).await, "ISSUER_MISMATCH");
        assert_refused(client.verify(verify(&with(serde_json::json!({"iss": "https://INKAN.test"})))).await, "ISSUER_MISMATCH");

        let msg = assert_refused(client.verify(verify_for(&pair.access_token, "billing", &[])).await, "AUDIENCE_MISMATCH");
        assert!(msg.contains("billing"), "{msg}");
        let msg = assert_refused(
            client.verify(verify_for(&pair.access_token, "orders", &["orders:read", "orders:admin"])).await,
            "INSUFFICIENT_SCOPE",
        );
        assert!(msg.ends_with("orders:admin"), "{msg}");

        for garbage in ["", "garbage", "a.b.c", "a.b", "eyJhbGciOiJub25lIn0.e30."] {
            let result = client.verify(verify(garbage)).await;
            let reason = if garbage.is_empty() { "INVALID_REQUEST" } else { "TOKEN_MALFORMED" };
            assert_refused(result, reason);
        }
        let huge = format!("{}.{}.{}", "a".repeat(5000), "b".repeat(5000), "c");
        let msg = assert_refused(client.verify(verify(&huge)).await, "TOKEN_MALFORMED");
        assert!(msg.contains("8 KiB"), "{msg}");
        let mut crit = header.clone();
        crit.crit = Some(vec!["exp".into()]);
        assert_refused(client.verify(verify(&forge(&app, &crit, &claims_for(&session())))).await, "TOKEN_MALFORMED");
        app.stop().await;
    }

    async fn tokens_not_signed_by_a_known_key_are_refused(app: TestApp) {
        let mut client = app.client().await;
        let claims = claims_for(&session());
        let header = header_for(&app);

        // Same kid, different key: the signature does not verify.
        let stranger = KeySet::from_file_contents(&KeySetFile::generate(KeyAlgorithm::EdDSA).unwrap()).unwrap();
        let forged = jsonwebtoken::encode(&header, &claims, stranger.active().encoding_key()).unwrap();
        assert_refused(client.verify(verify(&forged)).await, "SIGNATURE_INVALID");

        // A valid token with its payload swapped.
        let genuine = forge(&app, &header, &claims);
        let parts: Vec<&str> = genuine.split('.').collect();
        let mut tampered = claims.clone();
        tampered["sub"] = "admin".into();
        let payload = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, tampered.to_string());
        let swapped = format!("{}.{payload}.{}", parts[0], parts[2]);
        assert_refused(client.verify(verify(&swapped)).await, "SIGNATURE_INVALID");

        let mut unknown = header.clone();
        unknown.kid = Some("retired-key-2019".into());
        let msg = assert_refused(client.verify(verify(&forge(&app, &unknown, &claims))).await, "KEY_UNKNOWN");
        assert!(msg.contains("\"retired-key-2019\"") && msg.contains(app.keys.active().kid().as_str()), "{msg}");
        let mut no_kid = header.clone();
        no_kid.kid = None;
        assert_refused(client.verify(verify(&forge(&app, &no_kid, &claims))).await, "KEY_UNKNOWN");

        // The classic confusion: HS256 "signed" with the public key as the
        // HMAC secret, under the EdDSA key's kid.
        let jwk = serde_json::to_vec(app.keys.active().public_jwk().unwrap()).unwrap();
        let mut hs = header.clone();
        hs.alg = jsonwebtoken::Algorithm::HS256;
        let confused = jsonwebtoken::encode(&hs, &claims, &jsonwebtoken::EncodingKey::from_secret(&jwk)).unwrap();
        let msg = assert_refused(client.verify(verify(&confused)).await, "ALGORITHM_MISMATCH");
        assert!(msg.contains("HS256") && msg.contains("EdDSA"), "{msg}");
        app.stop().await;
    }

    async fn only_access_tokens_pass_verify_and_only_refresh_tokens_refresh(app: TestApp) {
        let mut client = app.client().await;
        let pair = client.issue(admin(issue_request("user-42"))).await.unwrap().into_inner();
        let claims = claims_for(&pair.session_id);

        for typ in [Some("JWT"), None, Some("id+jwt")] {
            let mut header = header_for(&app);
            header.typ = typ.map(str::to_owned);
            assert_refused(client.verify(verify(&forge(&app, &header, &claims))).await, "TOKEN_TYPE_INVALID");
        }
        let msg = assert_refused(client.verify(verify(&pair.refresh_token)).await, "TOKEN_TYPE_INVALID");
        assert!(msg.contains("refresh token"), "{msg}");

        let refresh = |token: &str| RefreshRequest { refresh_token: token.into() };
        let msg = assert_refused(client.refresh(refresh(&pair.access_token)).await, "REFRESH_TOKEN_INVALID");
        assert!(msg.contains("access token"), "{msg}");
        assert_refused(client.refresh(refresh("")).await, "INVALID_REQUEST");
        for garbage in ["inkan_rt_short", "not-a-token"] {
            assert_refused(client.refresh(refresh(garbage)).await, "REFRESH_TOKEN_INVALID");
        }
        // Well-formed, never issued.
        let unknown = inkan::token::RefreshToken::generate();
        assert_refused(client.refresh(refresh(unknown.expose())).await, "REFRESH_TOKEN_INVALID");
        app.stop().await;
    }

    async fn callers_are_authenticated_and_held_to_their_permissions(app: TestApp) {
        let mut client = app.client().await;
        assert_refused(client.issue(issue_request("user-42")).await, "CALLER_UNAUTHENTICATED");
        // Who is calling is settled before what is asked: a bad body from an
        // unknown caller learns nothing about what a good body looks like.
        let empty = IssueRequest::default();
        assert_refused(client.issue(empty.clone()).await, "CALLER_UNAUTHENTICATED");
        assert_refused(client.issue(with_key(empty, VERIFIER_KEY)).await, "CALLER_FORBIDDEN");
        assert_refused(client.issue(with_key(issue_request("user-42"), "a-guessed-key")).await, "CALLER_UNAUTHENTICATED");
        let msg = assert_refused(client.issue(with_key(issue_request("user-42"), VERIFIER_KEY)).await, "CALLER_FORBIDDEN");
        assert!(msg.contains("issue permission"), "{msg}");

        let pair = client.issue(with_key(issue_request("user-42"), ISSUER_KEY)).await.unwrap().into_inner();
        assert_refused(
            client.verify(VerifyRequest { access_token: pair.access_token.clone(), ..Default::default() }).await,
            "CALLER_UNAUTHENTICATED",
        );
        let by_subject = RevokeRequest { target: Some(Target::Subject("user-42".into())), reason: String::new() };
        assert_refused(client.revoke(with_key(by_subject, ISSUER_KEY)).await, "CALLER_FORBIDDEN");
        let by_session = RevokeRequest { target: Some(Target::SessionId(pair.session_id.clone())), reason: String::new() };
        assert_refused(client.revoke(by_session).await, "CALLER_UNAUTHENTICATED");
        assert_refused(
            client.list_sessions(with_key(ListSessionsRequest { subject: "user-42".into() }, VERIFIER_KEY)).await,
            "CALLER_FORBIDDEN",
        );
        // Holding the token is proof enough to end its own session.
        let own = RevokeRequest { target: Some(Target::AccessToken(pair.access_token)), reason: "logout".into() };
        assert_eq!(client.revoke(own).await.unwrap().into_inner().sessions_revoked, 1);
        app.stop().await;
    }

    async fn bad_requests_are_invalid_arguments_that_say_what_is_wrong(app: TestApp) {
        let mut client = app.client().await;
        let cases: Vec<(IssueRequest, &str)> = vec![
            (IssueRequest { subject: String::new(), ..issue_request("x") }, "subject is required"),
            (IssueRequest { audience: vec![], ..issue_request("x") }, "audience needs at least one entry"),
            (IssueRequest { client_id: String::new(), ..issue_request("x") }, "client_id is required"),
            (IssueRequest { scopes: vec!["a b".into()], ..issue_request("x") }, "scopes may not contain spaces"),
            (IssueRequest { scopes: (0..65).map(|i| format!("s{i}")).collect(), ..issue_request("x") }, "more than 64"),
            (IssueRequest { subject: "x".repeat(300), ..issue_request("x") }, "longer than 255 bytes"),
            (
                IssueRequest {
                    claims: Some(Struct { fields: [("sub".to_owned(), Value { kind: Some(Kind::StringValue("admin".into())) })].into() }),
                    ..issue_request("x")
                },
                "reserved claim \"sub\"",
            ),
            (
                IssueRequest {
                    claims: Some(Struct { fields: [("blob".to_owned(), Value { kind: Some(Kind::StringValue("x".repeat(5000))) })].into() }),
                    ..issue_request("x")
                },
                "at most 4096",
            ),
        ];
        for (request, expected) in cases {
            let msg = assert_refused(client.issue(admin(request)).await, "INVALID_REQUEST");
            assert!(msg.contains(expected), "{msg:?} should mention {expected:?}");
        }
        let msg = assert_refused(client.revoke(admin(RevokeRequest::default())).await, "INVALID_REQUEST");
        assert!(msg.contains("name what to revoke"), "{msg}");
        let bad_id = RevokeRequest { target: Some(Target::SessionId("42".into())), reason: String::new() };
        assert_refused(client.revoke(admin(bad_id)).await, "INVALID_REQUEST");
        // Unknown but well-formed targets are simply nothing to revoke.
        let unknown = RevokeRequest { target: Some(Target::SessionId(session())), reason: String::new() };
        assert_eq!(client.revoke(admin(unknown)).await.unwrap().into_inner().sessions_revoked, 0);
        let unknown = RevokeRequest { target: Some(Target::RefreshToken(inkan::token::RefreshToken::generate().expose().to_owned())), reason: String::new() };
        assert_eq!(client.revoke(unknown).await.unwrap().into_inner().sessions_revoked, 0);
        app.stop().await;
    }

    async fn a_broken_ledger_is_storage_unavailable_and_verify_keeps_working(app: TestApp) {
        let mut client = app.client().await;
        let pair = client.issue(admin(issue_request("user-42"))).await.unwrap().into_inner();
        app.ledger.connection().execute_unprepared("DROP TABLE inkan_refresh_tokens").await.unwrap();

        let refresh = RefreshRequest { refresh_token: pair.refresh_token.clone() };
        let msg = assert_refused(client.refresh(refresh).await, "STORAGE_UNAVAILABLE");
        assert_eq!(msg, "token storage is unavailable; retry shortly");
        let msg = assert_refused(client.issue(admin(issue_request("user-43"))).await, "STORAGE_UNAVAILABLE");
        assert!(!msg.to_lowercase().contains("table"), "driver text leaked: {msg}");
        // Verify needs no database.
        client.verify(verify(&pair.access_token)).await.unwrap();
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_refresh_token_expires_and_says_log_in_again() {
    let clock = Clock::manual();
    let options = Options {
        refresh_token_idle_ttl: Duration::from_secs(1),
        session_lifetime: Duration::from_secs(60),
        clock: Some(clock.clone()),
        ..Options::default()
    };
    let app = TestApp::spawn_with(common::Backend::Sqlite, options).await;
    let mut client = app.client().await;
    let pair = client
        .issue(admin(issue_request("user-42")))
        .await
        .unwrap()
        .into_inner();
    clock.advance(2);
    let msg = assert_refused(
        client
            .refresh(RefreshRequest {
                refresh_token: pair.refresh_token,
            })
            .await,
        "REFRESH_TOKEN_EXPIRED",
    );
    assert!(msg.contains("log in again"), "{msg}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_never_extends_a_session_past_its_lifetime() {
    let clock = Clock::manual();
    let options = Options {
        refresh_token_idle_ttl: Duration::from_secs(3),
        session_lifetime: Duration::from_secs(3),
        access_token_ttl: Duration::from_secs(900),
        clock: Some(clock.clone()),
        ..Options::default()
    };
    let app = TestApp::spawn_with(common::Backend::Sqlite, options).await;
    let mut client = app.client().await;
    let pair = client
        .issue(admin(issue_request("user-42")))
        .await
        .unwrap()
        .into_inner();
    // The access token is capped at the session's end, not 15 minutes.
    let ttl = pair.access_token_expires_at.unwrap().seconds - clock.now();
    assert!(ttl <= 3, "access token outlives its session by {ttl} s");
    clock.advance(1);
    let next = client
        .refresh(RefreshRequest {
            refresh_token: pair.refresh_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        next.refresh_token_expires_at.unwrap().seconds
            <= pair.refresh_token_expires_at.unwrap().seconds
    );
    // Past the session's end, though not past the idle TTL of a successor
    // that rotation had wrongly extended.
    clock.advance(2);
    assert_refused(
        client
            .refresh(RefreshRequest {
                refresh_token: next.refresh_token,
            })
            .await,
        "REFRESH_TOKEN_EXPIRED",
    );
    app.stop().await;
}
