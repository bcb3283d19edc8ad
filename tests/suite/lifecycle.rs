//! The life of a session as a client sees it: Issue, Verify, Refresh,
//! replay, Revoke; and rotation under concurrency.

use crate::common;

use std::time::Duration;

use common::{admin, assert_refused, eventually, issue_request, verify_for, Options, TestApp};
use inkan::proto::v1::{revoke_request::Target, RefreshRequest, RevokeRequest, VerifyRequest};
use prost_types::{value::Kind, Struct, Value};

/// A Verify of `token` for the orders API, needing `orders:read`.
fn verify_orders(token: &str) -> tonic::Request<VerifyRequest> {
    verify_for(token, "orders", &["orders:read"])
}

fn refresh(token: &str) -> RefreshRequest {
    RefreshRequest {
        refresh_token: token.into(),
    }
}

/// Verify until the session's revocation shows, for at most `limit`; how
/// long that took. Any other answer than success or SESSION_REVOKED fails
/// the test.
async fn until_revoked(app: &TestApp, token: &str, limit: Duration) -> Duration {
    let client = app.client().await;
    let start = std::time::Instant::now();
    eventually("the revocation reaches Verify", limit, || async {
        match client.clone().verify(verify_orders(token)).await {
            Ok(_) => false,
            Err(status) => {
                let (_, reason, _) = common::failure(&status);
                assert_eq!(reason, "SESSION_REVOKED", "{}", status.message());
                true
            }
        }
    })
    .await;
    start.elapsed()
}

/// How many rotations the ledger recorded: refresh tokens past the first.
async fn rotations(app: &TestApp) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let db = app.ledger.connection();
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM inkan_refresh_tokens WHERE generation > 0",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

backend_tests! {
    async fn a_session_lives_refreshes_and_ends(app: TestApp) {
        let mut client = app.client().await;
        let mut request = issue_request("user-42");
        request.claims = Some(Struct {
            fields: [("tenant".to_owned(), Value { kind: Some(Kind::StringValue("acme".into())) })].into(),
        });
        let first = client.issue(admin(request)).await.unwrap().into_inner();
        assert_eq!(first.token_type, "Bearer");
        assert!(first.refresh_token.starts_with("inkan_rt_"));
        assert!(first.access_token_expires_at.unwrap().seconds < first.refresh_token_expires_at.unwrap().seconds);

        let claims = client.verify(verify_orders(&first.access_token)).await.unwrap().into_inner();
        assert_eq!(claims.subject, "user-42");
        assert_eq!(claims.session_id, first.session_id);
        assert_eq!(claims.audience, ["orders"]);
        assert_eq!(claims.scopes, ["orders:read", "orders:write"]);
        assert_eq!(claims.client_id, "web");
        assert_eq!(claims.key_id, app.keys.active().kid().as_str());
        let tenant = &claims.claims.unwrap().fields["tenant"];
        assert_eq!(tenant.kind, Some(Kind::StringValue("acme".into())));

        let second = client.refresh(refresh(&first.refresh_token)).await.unwrap().into_inner();
        assert_eq!(second.session_id, first.session_id);
        assert_ne!(second.refresh_token, first.refresh_token);
        assert_ne!(second.access_token, first.access_token);
        let again = client.verify(verify_orders(&second.access_token)).await.unwrap().into_inner();
        assert_eq!(again.scopes, claims.scopes, "a refresh keeps what the session was granted");
        assert_ne!(again.token_id, claims.token_id);

        let revoked = client
            .revoke(RevokeRequest { target: Some(Target::RefreshToken(second.refresh_token.clone())), reason: "logout".into() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(revoked.sessions_revoked, 1);
        assert_refused(client.verify(verify_orders(&second.access_token)).await, "SESSION_REVOKED");
        assert_refused(client.verify(verify_orders(&first.access_token)).await, "SESSION_REVOKED");
        assert_refused(client.refresh(refresh(&second.refresh_token)).await, "SESSION_REVOKED");

        let twice = client
            .revoke(RevokeRequest { target: Some(Target::RefreshToken(second.refresh_token)), reason: String::new() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(twice.sessions_revoked, 0, "revoking again is a no-op");
        app.stop().await;
    }

    async fn a_retry_within_the_grace_window_gets_the_same_successor(app: TestApp) {
        let mut client = app.client().await;
        let first = client.issue(admin(issue_request("user-1"))).await.unwrap().into_inner();
        let a = client.refresh(refresh(&first.refresh_token)).await.unwrap().into_inner();
        let b = client.refresh(refresh(&first.refresh_token)).await.unwrap().into_inner();
        assert_eq!(a.refresh_token, b.refresh_token, "a retry must not open a second branch");
        // The successor is live, and the session is not revoked.
        client.verify(verify_orders(&b.access_token)).await.unwrap();
        client.refresh(refresh(&a.refresh_token)).await.unwrap();
        // Its successor is spent now, so the first token is no longer the
        // immediate predecessor of the live one: replaying it is reuse.
        assert_refused(client.refresh(refresh(&first.refresh_token)).await, "REFRESH_TOKEN_REUSED");
        assert_refused(client.verify(verify_orders(&b.access_token)).await, "SESSION_REVOKED");
        app.stop().await;
    }

    async fn subjects_are_matched_exactly(app: TestApp) {
        let mut client = app.client().await;
        let lower = client.issue(admin(issue_request("user-a"))).await.unwrap().into_inner();
        let upper = client.issue(admin(issue_request("User-A"))).await.unwrap().into_inner();
        let listed = client
            .list_sessions(admin(inkan::proto::v1::ListSessionsRequest { subject: "user-a".into() }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.sessions.len(), 1);
        assert_eq!(listed.sessions[0].id, lower.session_id);
        let ended = client
            .revoke(admin(RevokeRequest { target: Some(Target::Subject("user-a".into())), reason: String::new() }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(ended.sessions_revoked, 1);
        client.verify(verify_orders(&upper.access_token)).await.expect("another subject's session is untouched");
        // Full Unicode survives every backend.
        let mut request = issue_request("用户-ü");
        request.device = "iPhone von Jürgen 📱".into();
        let pair = client.issue(admin(request)).await.unwrap().into_inner();
        let listed = client
            .list_sessions(admin(inkan::proto::v1::ListSessionsRequest { subject: "用户-ü".into() }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.sessions[0].id, pair.session_id);
        assert_eq!(listed.sessions[0].device, "iPhone von Jürgen 📱");
        app.stop().await;
    }

    async fn a_revoked_session_is_reported_as_revoked_whatever_else_is_wrong(app: TestApp) {
        let mut client = app.client().await;
        let pair = client.issue(admin(issue_request("user-x"))).await.unwrap().into_inner();
        client
            .revoke(RevokeRequest { target: Some(Target::RefreshToken(pair.refresh_token)), reason: String::new() })
            .await
            .unwrap();
        let wrong = verify_for(&pair.access_token, "billing", &["admin"]);
        assert_refused(client.verify(wrong).await, "SESSION_REVOKED");
        app.stop().await;
    }

    async fn revoking_a_subject_ends_all_its_sessions_everywhere(app: TestApp) {
        let mut client = app.client().await;
        let one = client.issue(admin(issue_request("user-7"))).await.unwrap().into_inner();
        let two = client.issue(admin(issue_request("user-7"))).await.unwrap().into_inner();
        let other = client.issue(admin(issue_request("user-8"))).await.unwrap().into_inner();
        let listed = client
            .list_sessions(admin(inkan::proto::v1::ListSessionsRequest { subject: "user-7".into() }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.sessions.len(), 2);
        assert!(listed.sessions.iter().all(|s| s.revoked_at.is_none() && s.device == "Firefox on Linux"));

        let ended = client
            .revoke(admin(RevokeRequest { target: Some(Target::Subject("user-7".into())), reason: "password reset".into() }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(ended.sessions_revoked, 2);
        assert_refused(client.verify(verify_orders(&one.access_token)).await, "SESSION_REVOKED");
        assert_refused(client.verify(verify_orders(&two.access_token)).await, "SESSION_REVOKED");
        client.verify(verify_orders(&other.access_token)).await.unwrap();
        let listed = client
            .list_sessions(admin(inkan::proto::v1::ListSessionsRequest { subject: "user-7".into() }))
            .await
            .unwrap()
            .into_inner();
        assert!(listed.sessions.iter().all(|s| s.revoked_at.is_some()));
        app.stop().await;
    }

    async fn a_revocation_in_the_ledger_reaches_verify_within_a_second(app: TestApp) {
        // A revocation written by another replica arrives only through the
        // ledger: write it there directly, bypassing this server's cache.
        let mut client = app.client().await;
        let pair = client.issue(admin(issue_request("user-9"))).await.unwrap().into_inner();
        client.verify(verify_orders(&pair.access_token)).await.expect("valid before the revocation");
        let id = inkan::ids::SessionId::parse(&pair.session_id).unwrap();
        assert_eq!(app.ledger.revoke_session(id, inkan::clock::now(), "other replica").await.unwrap(), 1);
        let waited = until_revoked(&app, &pair.access_token, Duration::from_secs(3)).await;
        assert!(waited <= Duration::from_millis(2000), "took {waited:?}");
        app.stop().await;
    }

    async fn of_fifty_concurrent_refreshes_exactly_one_rotates(app: TestApp) {
        let mut client = app.client().await;
        let first = client.issue(admin(issue_request("user-c"))).await.unwrap().into_inner();
        let calls = (0..50).map(|_| {
            let mut client = client.clone();
            let token = first.refresh_token.clone();
            tokio::spawn(async move { client.refresh(refresh(&token)).await.map(|r| r.into_inner()) })
        });
        let results: Vec<_> = futures::future::join_all(calls).await.into_iter().map(Result::unwrap).collect();
        // Within the grace window every caller is the same client retrying:
        // all get the one successor that the one winning rotation made.
        let successors: std::collections::HashSet<_> = results
            .iter()
            .map(|r| r.as_ref().expect("retries within the grace window succeed").refresh_token.clone())
            .collect();
        assert_eq!(successors.len(), 1, "every caller got the same successor");
        assert_eq!(rotations(&app).await, 1, "exactly one rotation happened");
        let successor = successors.into_iter().next().unwrap();
        let next = client.refresh(refresh(&successor)).await.unwrap().into_inner();
        client.verify(verify_orders(&next.access_token)).await.unwrap();
        app.stop().await;
    }
}

mod without_grace {
    use super::*;
    use crate::common::Backend;

    async fn app(backend: Backend) -> Option<TestApp> {
        if !backend.available() {
            return None;
        }
        let options = Options {
            reuse_grace: Duration::ZERO,
            ..Options::default()
        };
        Some(TestApp::spawn_with(backend, options).await)
    }

    async fn replay_revokes_the_session(backend: Backend) {
        let Some(app) = app(backend).await else {
            return;
        };
        let mut client = app.client().await;
        let first = client
            .issue(admin(issue_request("user-r")))
            .await
            .unwrap()
            .into_inner();
        let second = client
            .refresh(refresh(&first.refresh_token))
            .await
            .unwrap()
            .into_inner();
        let message = assert_refused(
            client.refresh(refresh(&first.refresh_token)).await,
            "REFRESH_TOKEN_REUSED",
        );
        assert!(message.contains("log in again"), "{message}");
        // The thief's replay killed the session: the legitimate newer token
        // and its access token are dead too.
        assert_refused(
            client.refresh(refresh(&second.refresh_token)).await,
            "SESSION_REVOKED",
        );
        assert_refused(
            client.verify(verify_orders(&second.access_token)).await,
            "SESSION_REVOKED",
        );
        app.stop().await;
    }

    async fn one_of_fifty_wins_and_the_rest_are_reuse(backend: Backend) {
        let Some(app) = app(backend).await else {
            return;
        };
        let client = app.client().await;
        let first = client
            .clone()
            .issue(admin(issue_request("user-d")))
            .await
            .unwrap()
            .into_inner();
        let calls = (0..50).map(|_| {
            let mut client = client.clone();
            let token = first.refresh_token.clone();
            tokio::spawn(async move { client.refresh(refresh(&token)).await })
        });
        let results: Vec<_> = futures::future::join_all(calls)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        // Exactly one call spends the token in the ledger. Its caller may
        // still hear SESSION_REVOKED: the other 49 are reuse, which revokes
        // the session, and a pair for a revoked session is never handed out.
        assert_eq!(
            rotations(&app).await,
            1,
            "exactly one concurrent refresh may spend the token"
        );
        let wins = results.iter().filter(|r| r.is_ok()).count();
        assert!(wins <= 1, "{wins} calls got a pair");
        let mut reused = 0;
        for result in results.into_iter().filter(Result::is_err) {
            let status = result.unwrap_err();
            let (_, reason, _) = common::failure(&status);
            assert!(
                reason == "REFRESH_TOKEN_REUSED" || reason == "SESSION_REVOKED",
                "{reason}"
            );
            reused += usize::from(reason == "REFRESH_TOKEN_REUSED");
        }
        assert!(reused >= 1);
        app.stop().await;
    }

    backend_fns!(
        replay_revokes_the_session,
        one_of_fifty_wins_and_the_rest_are_reuse
    );
}
