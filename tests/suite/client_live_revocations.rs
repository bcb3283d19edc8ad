//! Revocations reaching a local verifier across replicas: a session (or a
//! whole subject) revoked through one server process is refused by an
//! `inkan_client::Verifier` that follows another process's
//! `WatchRevocations`, within 2 s of the Revoke returning, with no call to
//! inkan on the verification itself.

use std::time::{Duration, Instant};

use inkan::proto::v1::{revoke_request::Target, RevokeRequest};
use inkan_client::{Requirements, Verifier};
use inkan_core::Reason;

use crate::common::{self, admin, eventually, issue_request, TestApp, ISSUER, VERIFIER_KEY};

/// How long a revocation may take to reach a consumer, by the contract.
const PROPAGATION: Duration = Duration::from_secs(2);

/// Verifies `token` locally until it is refused as revoked; fails the test
/// if that has not happened `PROPAGATION` after `since`.
async fn refused_within(verifier: &Verifier, token: &str, since: Instant) {
    eventually(
        "the local verifier refuses a revoked token",
        PROPAGATION.saturating_sub(since.elapsed()),
        || async {
            match verifier.verify(token, &Requirements::new()).await {
                Err(err) if err.reason() == Reason::SessionRevoked => true,
                Err(err) => panic!("refused for another reason: {err}"),
                Ok(_) => false,
            }
        },
    )
    .await;
}

backend_tests! {
    async fn a_revocation_on_one_replica_reaches_a_verifier_on_another(app: TestApp) {
        let other = app.replica().await;
        let verifier = Verifier::watching(other.channel().await, ISSUER)
            .follow_revocations(other.channel().await, VERIFIER_KEY.to_owned().into())
            .start()
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), verifier.ready())
            .await
            .expect("the verifier has keys and has caught up with revocations");

        let mut client = app.client().await;
        let one = client.issue(admin(issue_request("user-1"))).await.unwrap().into_inner();
        let two = client.issue(admin(issue_request("user-2"))).await.unwrap().into_inner();
        let three = client.issue(admin(issue_request("user-2"))).await.unwrap().into_inner();
        for token in [&one.access_token, &two.access_token, &three.access_token] {
            verifier
                .verify(token, &Requirements::new())
                .await
                .expect("accepted before any revocation");
        }

        // One session, ended by its refresh token (no caller needed).
        client
            .revoke(RevokeRequest {
                target: Some(Target::RefreshToken(one.refresh_token.clone())),
                reason: "logout".into(),
            })
            .await
            .unwrap();
        refused_within(&verifier, &one.access_token, Instant::now()).await;
        verifier
            .verify(&two.access_token, &Requirements::new())
            .await
            .expect("another subject's token is untouched");

        // A whole subject: every token issued to it before now.
        client
            .revoke(admin(RevokeRequest {
                target: Some(Target::Subject("user-2".into())),
                reason: "account closed".into(),
            }))
            .await
            .unwrap();
        let revoked = Instant::now();
        refused_within(&verifier, &two.access_token, revoked).await;
        refused_within(&verifier, &three.access_token, revoked).await;
        assert!(!verifier.is_stale(), "{:?}", verifier.health());
        other.stop().await;
        app.stop().await;
    }
}
