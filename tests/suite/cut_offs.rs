//! Revoking a subject cuts off its tokens issued before then: a former
//! system's tokens (which name no session) as well as inkan's, on every
//! replica, while tokens issued afterwards pass.

use crate::common;

use std::time::{Duration, SystemTime};

use common::{
    admin, assert_refused, eventually, issue_request, legacy_token, verify, Backend, Options,
    TestApp,
};
use inkan::{
    keys::{rotation, KeyAlgorithm, KeySetFile},
    proto::v1::{revoke_request::Target, RevokeRequest},
};

const SECRET: &[u8] = b"a-former-systems-hs256-secret-of-40-bytes";

/// An access token the former system made for `subject`, issued at `iat`.
fn former_access_token(subject: &str, iat: i64) -> String {
    legacy_token(
        SECRET,
        &serde_json::json!({"sub": subject, "iat": iat, "exp": iat + 600}),
    )
}

/// A server whose key set also takes the former system's tokens.
async fn with_legacy_key(backend: Backend) -> TestApp {
    let mut file = KeySetFile::generate(KeyAlgorithm::EdDSA).unwrap();
    let sunset = SystemTime::now() + Duration::from_secs(86_400);
    rotation::add_legacy(&mut file, "monolith", SECRET, sunset, None, None).unwrap();
    let options = Options {
        keys_json: Some(file.to_json()),
        ..Options::default()
    };
    TestApp::spawn_with(backend, options).await
}

async fn a_subjects_cut_off_refuses_its_older_tokens_everywhere(backend: Backend) {
    let app = with_legacy_key(backend).await;
    let replica = app.replica().await;
    let (mut client, mut other) = (app.client().await, replica.client().await);
    let now = inkan::clock::now();
    let old_legacy = former_access_token("user-42", now - 5);
    let bystander = former_access_token("user-7", now - 5);
    let before = client
        .issue(admin(issue_request("user-42")))
        .await
        .unwrap()
        .into_inner();
    for token in [&old_legacy, &bystander, &before.access_token] {
        client.verify(verify(token)).await.unwrap();
        other.verify(verify(token)).await.unwrap();
    }

    let revoked = client
        .revoke(admin(RevokeRequest {
            target: Some(Target::Subject("user-42".into())),
            reason: "account compromised".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revoked.sessions_revoked, 1);
    let cut_off = app
        .ledger
        .subject_cut_off(&inkan::ids::Subject::parse("user-42").unwrap())
        .await
        .unwrap()
        .expect("the cut-off is in the ledger");
    assert!(cut_off >= now);

    assert_refused(client.verify(verify(&old_legacy)).await, "SESSION_REVOKED");
    assert_refused(
        client.verify(verify(&before.access_token)).await,
        "SESSION_REVOKED",
    );
    // Tokens issued from the cut-off on, and other subjects', pass.
    let new_legacy = former_access_token("user-42", cut_off);
    let after = client
        .issue(admin(issue_request("user-42")))
        .await
        .unwrap()
        .into_inner();
    for token in [&new_legacy, &bystander, &after.access_token] {
        client.verify(verify(token)).await.unwrap();
    }

    // The other replica learns of the cut-off from the ledger.
    eventually(
        "the replica refuses the cut-off token",
        Duration::from_secs(2),
        || async {
            match other.clone().verify(verify(&old_legacy)).await {
                Ok(_) => false,
                Err(status) => {
                    assert_refused::<()>(Err(status), "SESSION_REVOKED");
                    true
                }
            }
        },
    )
    .await;
    for token in [&new_legacy, &bystander, &after.access_token] {
        other.verify(verify(token)).await.unwrap();
    }
    replica.stop().await;
    app.stop().await;
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_subjects_cut_off_refuses_its_older_tokens_everywhere() {
        super::a_subjects_cut_off_refuses_its_older_tokens_everywhere(super::Backend::Sqlite).await
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_subjects_cut_off_refuses_its_older_tokens_everywhere() {
        if super::Backend::Postgres.available() {
            super::a_subjects_cut_off_refuses_its_older_tokens_everywhere(super::Backend::Postgres)
                .await
        }
    }
}

mod mysql {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_subjects_cut_off_refuses_its_older_tokens_everywhere() {
        if super::Backend::Mysql.available() {
            super::a_subjects_cut_off_refuses_its_older_tokens_everywhere(super::Backend::Mysql)
                .await
        }
    }
}
