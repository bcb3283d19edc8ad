//! Verify of a token it has seen before answers from its cache of verified
//! tokens; what can change between two calls is still checked on each:
//! revocation (session and subject), audience and scopes.

use crate::common;

use common::{admin, assert_refused, issue_request, verify_for, TestApp};
use inkan::proto::v1::{revoke_request::Target, RevokeRequest};

backend_tests! {
    async fn a_repeated_token_answers_alike_until_its_session_is_revoked(app: TestApp) {
        let mut client = app.client().await;
        let pair = client.issue(admin(issue_request("user-42"))).await.unwrap().into_inner();
        let first = client.verify(verify_for(&pair.access_token, "", &[])).await.unwrap().into_inner();
        // The same token again, now from the cache: the same answer, and
        // each call's own audience and scopes are checked.
        for _ in 0..3 {
            let again = client.verify(verify_for(&pair.access_token, "", &[])).await.unwrap().into_inner();
            assert_eq!(again, first);
        }
        client.verify(verify_for(&pair.access_token, "orders", &["orders:read"])).await.unwrap();
        assert_refused(client.verify(verify_for(&pair.access_token, "billing", &[])).await, "AUDIENCE_MISMATCH");
        assert_refused(
            client.verify(verify_for(&pair.access_token, "orders", &["orders:admin"])).await,
            "INSUFFICIENT_SCOPE",
        );

        let revoked = client
            .revoke(admin(RevokeRequest {
                target: Some(Target::SessionId(pair.session_id.clone())),
                reason: "test".into(),
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(revoked.sessions_revoked, 1);
        // The revocation reaches this replica's cache at once (it revoked).
        assert_refused(client.verify(verify_for(&pair.access_token, "", &[])).await, "SESSION_REVOKED");
        app.stop().await;
    }

    async fn a_subjects_revocation_refuses_its_cached_tokens(app: TestApp) {
        let mut client = app.client().await;
        let pair = client.issue(admin(issue_request("user-7"))).await.unwrap().into_inner();
        client.verify(verify_for(&pair.access_token, "", &[])).await.unwrap();
        client.verify(verify_for(&pair.access_token, "", &[])).await.unwrap();
        client
            .revoke(admin(RevokeRequest {
                target: Some(Target::Subject("user-7".into())),
                reason: "test".into(),
            }))
            .await
            .unwrap();
        assert_refused(client.verify(verify_for(&pair.access_token, "", &[])).await, "SESSION_REVOKED");
        app.stop().await;
    }
}
