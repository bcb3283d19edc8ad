//! inkan-client against a fake inkan whose streams the test scripts:
//! revocations followed, resumed from the cursor after a break, and counted
//! as current only once caught up; key sets inkan must never send refused
//! with the previous set kept; verification going on from cached keys
//! while inkan is unreachable, saying it is stale.

use crate::{client_support, common};

use std::time::Duration;

use client_support::{metric, FakeServer, Signer};
use common::{claims_for, eventually, ISSUER};
// The fake serves the server crate's generated types.
use inkan::proto::v1::{GetJwksResponse, RevocationBatch, RevokedSession, SubjectCutOff};
use inkan_client::{Requirements, Verifier};
use prost_types::Timestamp;
use tonic::Status;

/// The bound on waiting for the verifier to take in what it was sent.
const WAIT: Duration = Duration::from_secs(10);

fn at(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos: 0 })
}

fn keys(jwks_json: &str) -> Result<GetJwksResponse, Status> {
    Ok(GetJwksResponse {
        jwks_json: jwks_json.to_owned(),
        ..Default::default()
    })
}

fn session() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_revocations_are_followed_resumed_from_the_cursor_and_caught_up() {
    let signer = Signer::new();
    let mut server = FakeServer::start().await;
    let key_stream = server.fake.keys_connection().await;
    key_stream.send(keys(&signer.jwks_json())).await.unwrap();
    let first = server.fake.revocations_connection().await;
    let second = server.fake.revocations_connection().await;

    let verifier = Verifier::watching(server.channel(), ISSUER)
        .follow_revocations(server.channel(), "a-verifier-key".to_owned().into())
        .reconnect_wait(Duration::from_millis(20))
        .start()
        .unwrap();
    let now = inkan::clock::now();
    let (a, b, c) = (session(), session(), session());
    let sign = |session: &str, subject: &str, iat: i64| {
        let mut claims = claims_for(session);
        claims["sub"] = subject.into();
        claims["iat"] = iat.into();
        claims["nbf"] = iat.into();
        signer.sign(&claims)
    };
    let (token_a, token_b, token_c) = (
        sign(&a, "user-1", now),
        sign(&b, "user-2", now),
        sign(&c, "user-3", now),
    );
    let cut_off_early = sign(&session(), "user-7", now - 20);
    let after_cut_off = sign(&session(), "user-7", now);
    let revoked = |session: &str| RevokedSession {
        session_id: session.to_owned(),
        revoked_at: at(now),
        forget_after: at(now + 3600),
    };
    let refused = |token: String| {
        let verifier = verifier.clone();
        async move {
            match verifier.verify(&token, &Requirements::new()).await {
                Ok(_) => "accepted".to_owned(),
                Err(refusal) => refusal.reason().as_str().to_owned(),
            }
        }
    };

    // The snapshot, in two batches: not current until the one caught_up.
    first
        .send(Ok(RevocationBatch {
            sessions: vec![revoked(&a)],
            cursor: "1".into(),
            ..Default::default()
        }))
        .await
        .unwrap();
    eventually("the first batch is applied", WAIT, || async {
        verifier.revocations().is_some_and(|set| set.len() == 1)
    })
    .await;
    assert_eq!(verifier.health().revocations_current, Some(false));
    assert!(verifier.is_stale(), "not caught up yet");
    first
        .send(Ok(RevocationBatch {
            cursor: "2".into(),
            caught_up: true,
            ..Default::default()
        }))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), verifier.ready())
        .await
        .unwrap();
    assert!(!verifier.is_stale(), "{:?}", verifier.health());
    assert_eq!(refused(token_a.clone()).await, "SESSION_REVOKED");
    assert_eq!(refused(token_b.clone()).await, "accepted");

    // A live batch: a subject cut off 10 s ago.
    first
        .send(Ok(RevocationBatch {
            subjects: vec![SubjectCutOff {
                subject: "user-7".into(),
                not_before: at(now - 10),
                forget_after: at(now + 3600),
            }],
            cursor: "3".into(),
            ..Default::default()
        }))
        .await
        .unwrap();
    eventually("the cut-off is applied", WAIT, || async {
        verifier.revocations().is_some_and(|set| set.len() == 2)
    })
    .await;
    assert_eq!(refused(cut_off_early).await, "SESSION_REVOKED");
    assert_eq!(refused(after_cut_off).await, "accepted");

    // The stream breaks; the follower resumes from cursor 3 and is current
    // again only with the next caught_up.
    first
        .send(Err(Status::unavailable("inkan restarts")))
        .await
        .unwrap();
    eventually("the break is noticed", WAIT, || async {
        verifier.health().revocations_current == Some(false)
    })
    .await;
    second
        .send(Ok(RevocationBatch {
            sessions: vec![revoked(&b)],
            cursor: "4".into(),
            caught_up: true,
            ..Default::default()
        }))
        .await
        .unwrap();
    eventually("caught up again", WAIT, || async {
        verifier.health().revocations_current == Some(true)
    })
    .await;
    assert_eq!(*server.fake.cursors.lock().unwrap(), ["", "3"]);
    assert_eq!(
        refused(token_a).await,
        "SESSION_REVOKED",
        "kept across the reconnection"
    );
    assert_eq!(refused(token_b).await, "SESSION_REVOKED");
    assert_eq!(refused(token_c).await, "accepted");
    assert_eq!(
        metric(&verifier, "inkan_client_revocations_held", None),
        3.0
    );
    assert_eq!(
        metric(&verifier, "inkan_client_revocations_current", None),
        1.0
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_refuses_bad_key_sets_and_verifies_from_cache_while_inkan_is_down() {
    let signer = Signer::new();
    let mut server = FakeServer::start().await;
    let key_stream = server.fake.keys_connection().await;
    key_stream.send(keys(&signer.jwks_json())).await.unwrap();
    let verifier = Verifier::watching(server.channel(), ISSUER)
        .reconnect_wait(Duration::from_millis(20))
        .start()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), verifier.ready())
        .await
        .unwrap();
    let kids = verifier.kids();
    let token = signer.sign(&claims_for(&session()));
    verifier.verify(&token, &Requirements::new()).await.unwrap();

    let good: serde_json::Value = serde_json::from_str(&signer.jwks_json()).unwrap();
    let mut private = good.clone();
    private["keys"][0]["d"] = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A".into();
    let oct = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","kid":"hs","alg":"HS256"}]}"#;
    for bad in ["{ not json", &private.to_string(), oct] {
        key_stream.send(keys(bad)).await.unwrap();
    }
    eventually("three key sets were refused", WAIT, || async {
        metric(
            &verifier,
            "inkan_client_key_updates_total",
            Some(("outcome", "refused")),
        ) == 3.0
    })
    .await;
    assert_eq!(
        verifier.kids(),
        kids,
        "the previous key set stays in service"
    );
    assert!(
        verifier.health().keys_stale,
        "inkan's latest set is not the one in service"
    );
    verifier.verify(&token, &Requirements::new()).await.unwrap();

    // A good set again, then inkan goes away: the verifier says it is
    // stale and goes on verifying with the keys it holds.
    key_stream.send(keys(&signer.jwks_json())).await.unwrap();
    eventually("the good set is applied", WAIT, || async {
        !verifier.is_stale()
    })
    .await;
    server.stop().await;
    drop(key_stream);
    eventually("the verifier notices inkan is gone", WAIT, || async {
        verifier.is_stale()
    })
    .await;
    assert_eq!(metric(&verifier, "inkan_client_keys_stale", None), 1.0);
    verifier
        .verify(&token, &Requirements::new())
        .await
        .expect("cached keys still verify");
}
