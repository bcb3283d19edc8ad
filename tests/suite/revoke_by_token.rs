//! Revoke by access token: a valid token ends its own session, with no
//! caller needed; an expired one (which any log line or resource server
//! that ever saw it may hold) only in an administrator's hands.

use crate::common;

use common::{
    admin, assert_refused, claims_for, forge, header_for, issue_request, verify, with_key, TestApp,
    ISSUER_KEY, VERIFIER_KEY,
};
use inkan::proto::v1::{revoke_request::Target, RevokeRequest};

fn by_access_token(token: &str) -> RevokeRequest {
    RevokeRequest {
        target: Some(Target::AccessToken(token.into())),
        reason: "logout".into(),
    }
}

/// An access token of `session` that expired `ago` seconds ago, as the
/// server signed it.
fn expired(app: &TestApp, session: &str, ago: i64) -> String {
    let now = inkan::clock::now();
    let mut claims = claims_for(session);
    claims["iat"] = (now - ago - 900).into();
    claims["nbf"] = (now - ago - 900).into();
    claims["exp"] = (now - ago).into();
    forge(app, &header_for(app), &claims)
}

backend_tests! {
    async fn an_expired_access_token_ends_its_session_only_for_an_admin(app: TestApp) {
        let mut client = app.client().await;
        let pair = client.issue(admin(issue_request("user-old"))).await.unwrap().into_inner();
        // The session's access token from an hour ago, as a log kept it.
        let old = expired(&app, &pair.session_id, 3600);
        assert_refused(client.revoke(by_access_token(&old)).await, "TOKEN_EXPIRED");
        assert_refused(client.revoke(with_key(by_access_token(&old), VERIFIER_KEY)).await, "TOKEN_EXPIRED");
        assert_refused(client.revoke(with_key(by_access_token(&old), ISSUER_KEY)).await, "TOKEN_EXPIRED");
        client.verify(verify(&pair.access_token)).await.expect("the session lives on");

        let ended = client.revoke(admin(by_access_token(&old))).await.unwrap().into_inner();
        assert_eq!(ended.sessions_revoked, 1, "an administrator may end it");
        assert_refused(client.verify(verify(&pair.access_token)).await, "SESSION_REVOKED");
        app.stop().await;
    }

    async fn a_valid_access_token_ends_its_own_session_without_a_caller(app: TestApp) {
        let mut client = app.client().await;
        let one = client.issue(admin(issue_request("user-a"))).await.unwrap().into_inner();
        let ended = client.revoke(by_access_token(&one.access_token)).await.unwrap().into_inner();
        assert_eq!(ended.sessions_revoked, 1);
        // Expired by less than the 30 s leeway is still valid.
        let two = client.issue(admin(issue_request("user-b"))).await.unwrap().into_inner();
        let just_expired = expired(&app, &two.session_id, 10);
        let ended = client.revoke(by_access_token(&just_expired)).await.unwrap().into_inner();
        assert_eq!(ended.sessions_revoked, 1);
        assert_refused(client.verify(verify(&two.access_token)).await, "SESSION_REVOKED");
        app.stop().await;
    }
}
