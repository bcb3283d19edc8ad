//! Revoking a subject cuts off its tokens issued before then: a former
//! system's tokens (which name no session) as well as inkan's, on every
//! replica, while tokens issued afterwards pass.

use crate::common;

use std::time::{Duration, Instant, SystemTime};

use common::{
    admin, assert_refused, issue_request, with_key, Backend, Options, TestApp, VERIFIER_KEY,
};
use inkan::{
    keys::{rotation, KeyAlgorithm, KeySetFile},
    proto::v1::{revoke_request::Target, RevokeRequest, VerifyRequest},
};

const SECRET: &[u8] = b"a-former-systems-hs256-secret-of-40-bytes";

fn verify(token: &str) -> tonic::Request<VerifyRequest> {
    with_key(
        VerifyRequest {
            access_token: token.into(),
            ..Default::default()
        },
        VERIFIER_KEY,
    )
}

/// A token the former system made for `subject`, issued at `iat`.
fn legacy_token(subject: &str, iat: i64) -> String {
    let claims = serde_json::json!({"sub": subject, "iat": iat, "exp": iat + 600});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .unwrap()
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
    let old_legacy = legacy_token("user-42", now - 5);
    let bystander = legacy_token("user-7", now - 5);
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
    let new_legacy = legacy_token("user-42", cut_off);
    let after = client
        .issue(admin(issue_request("user-42")))
        .await
        .unwrap()
        .into_inner();
    for token in [&new_legacy, &bystander, &after.access_token] {
        client.verify(verify(token)).await.unwrap();
    }

    // The other replica learns of the cut-off from the ledger.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match other.verify(verify(&old_legacy)).await {
            Ok(_) => assert!(
                Instant::now() < deadline,
                "the replica still accepts the cut-off token"
            ),
            Err(status) => {
                assert_refused::<()>(Err(status), "SESSION_REVOKED");
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
