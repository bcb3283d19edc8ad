//! inkan-client's `Verifier` against real servers: it gives the answers
//! inkan's Verify gives, sees a key rotation through WatchKeys with no
//! failure, and turns a flood of unknown kids into one refetch.

use crate::{client_support, common, hostile};

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, SystemTime},
};

use client_support::{metric, FakeServer};
use common::{
    admin, edit_keys, eventually, issue_request, kid_of, verify_for, Backend, Options, TestApp,
    ISSUER, VERIFIER_KEY,
};
use hostile::{cases, Expect, Forge};
use inkan::{
    keys::rotation,
    proto::v1::{revoke_request::Target, RevocationBatch, RevokeRequest, RevokedSession},
};
use inkan_client::{Requirements, Verifier};
use inkan_core::ids::Scope;

/// The bound on waiting for something the verifier or server does next.
const WAIT: Duration = Duration::from_secs(10);

/// A started verifier, ready within a bound.
async fn ready(verifier: &Verifier) {
    tokio::time::timeout(Duration::from_secs(10), verifier.ready())
        .await
        .expect("the verifier got its keys (and revocations) in time");
}

/// One row of the agreement table.
struct Row {
    name: String,
    token: String,
    audience: Option<&'static str>,
    scopes: Vec<&'static str>,
    expect: Expect,
}

fn answer(result: Result<(), String>) -> String {
    match result {
        Ok(()) => "accepted".into(),
        Err(reason) => reason,
    }
}

async fn agreement(backend: Backend) {
    let mut forge = Forge::new();
    let options = Options {
        keys_json: Some(forge.file.to_json()),
        ..Options::default()
    };
    let app = TestApp::spawn_with(backend, options).await;
    let mut client = app.client().await;

    // A real session, revoked on the server. Its revocation reaches the
    // local verifier through WatchRevocations; here a fake relays exactly
    // what the server recorded, so the table stays about verification
    // (client_live_revocations follows the live stream across replicas).
    let revoked = client
        .issue(admin(issue_request("user-9")))
        .await
        .unwrap()
        .into_inner();
    client
        .revoke(admin(RevokeRequest {
            target: Some(Target::SessionId(revoked.session_id.clone())),
            reason: "test".into(),
        }))
        .await
        .unwrap();
    let live = client
        .issue(admin(issue_request("user-42")))
        .await
        .unwrap()
        .into_inner();
    let mut fake = FakeServer::start().await;
    let stream = fake.fake.revocations_connection().await;
    let now = inkan::clock::now();
    stream
        .send(Ok(RevocationBatch {
            sessions: vec![RevokedSession {
                session_id: revoked.session_id.clone(),
                revoked_at: Some(prost_types::Timestamp {
                    seconds: now,
                    nanos: 0,
                }),
                forget_after: Some(prost_types::Timestamp {
                    seconds: now + 3600,
                    nanos: 0,
                }),
            }],
            subjects: vec![],
            cursor: "1".into(),
            caught_up: true,
        }))
        .await
        .unwrap();

    let verifier = Verifier::watching(app.channel().await, ISSUER)
        .legacy_keys(forge.set.verifying_keys().legacy().to_vec())
        .follow_revocations(fake.channel(), VERIFIER_KEY.to_owned().into())
        .start()
        .unwrap();
    ready(&verifier).await;
    forge.now = inkan::clock::now();

    let mut rows: Vec<Row> = cases(&forge)
        .into_iter()
        .filter(|case| !case.exact_time)
        .map(|case| Row {
            name: format!("[{}] {}", case.class, case.name),
            token: case.token,
            audience: None,
            scopes: vec![],
            expect: case.expect,
        })
        .collect();
    let real = |name: &str, token: &str, audience, scopes: Vec<&'static str>, expect| Row {
        name: format!("[issued] {name}"),
        token: token.to_owned(),
        audience,
        scopes,
        expect,
    };
    rows.extend([
        real(
            "a live session's token",
            &live.access_token,
            Some("orders"),
            vec!["orders:read"],
            Expect::Accepted,
        ),
        real(
            "a revoked session's token",
            &revoked.access_token,
            None,
            vec![],
            Expect::Refused("SESSION_REVOKED"),
        ),
        real(
            "a scope it lacks",
            &live.access_token,
            None,
            vec!["orders:read", "admin"],
            Expect::Refused("INSUFFICIENT_SCOPE"),
        ),
        real(
            "another audience",
            &live.access_token,
            Some("billing"),
            vec![],
            Expect::Refused("AUDIENCE_MISMATCH"),
        ),
    ]);
    let reasons: std::collections::BTreeSet<&str> = rows
        .iter()
        .filter_map(|row| match row.expect {
            Expect::Refused(reason) => Some(reason),
            Expect::Accepted => None,
        })
        .collect();
    assert_eq!(
        reasons.into_iter().collect::<Vec<_>>(),
        [
            "ALGORITHM_MISMATCH",
            "AUDIENCE_MISMATCH",
            "INSUFFICIENT_SCOPE",
            "ISSUER_MISMATCH",
            "KEY_UNKNOWN",
            "SESSION_REVOKED",
            "SIGNATURE_INVALID",
            "TOKEN_EXPIRED",
            "TOKEN_MALFORMED",
            "TOKEN_NOT_YET_VALID",
            "TOKEN_TYPE_INVALID",
        ],
        "the table covers every reason the contract has for an access token"
    );

    let mut wrong = Vec::new();
    for row in &rows {
        let request = verify_for(&row.token, row.audience.unwrap_or_default(), &row.scopes);
        let remote = client.verify(request).await;
        let remote = answer(remote.map(drop).map_err(|status| {
            let (code, reason, action) = common::failure(&status);
            assert_eq!(
                (code, action.as_str()),
                common::contract(&reason),
                "{}",
                row.name
            );
            reason
        }));
        let mut required = Requirements::new();
        if let Some(audience) = row.audience {
            required = required.audience(audience);
        }
        for scope in &row.scopes {
            required = required.scope(Scope::parse(scope).unwrap());
        }
        let local = verifier.verify(&row.token, &required).await;
        let local = answer(local.map(drop).map_err(|refusal| {
            // The status the layer would send is the contract's too.
            let status = inkan_client::status::refusal_status(&refusal);
            let (code, reason, action) = common::failure(&status);
            assert_eq!(
                (code, action.as_str()),
                common::contract(&reason),
                "{}",
                row.name
            );
            reason
        }));
        let expected = answer(match row.expect {
            Expect::Accepted => Ok(()),
            Expect::Refused(reason) => Err(reason.to_owned()),
        });
        if remote != expected || local != expected {
            wrong.push(format!(
                "{}: expected {expected}, Verify said {remote}, locally {local}",
                row.name
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} rows disagree:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );
    fake.stop().await;
    app.stop().await;
}

async fn rotation_under_load(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let verifier = Verifier::watching(app.channel().await, ISSUER)
        .start()
        .unwrap();
    ready(&verifier).await;
    let first_kid = app.keys.active().kid().to_string();

    // Load: tokens issued by the server, verified locally at once.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let new_kid_seen = Arc::new(AtomicUsize::new(0));
    let next_kid = Arc::new(std::sync::Mutex::new(String::new()));
    let mut load = Vec::new();
    for n in 0..2 {
        let (mut client, verifier) = (app.client().await, verifier.clone());
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        let (new_kid_seen, next_kid) = (new_kid_seen.clone(), next_kid.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let pair = client
                    .issue(admin(issue_request(&format!("user-{n}"))))
                    .await
                    .unwrap()
                    .into_inner();
                if kid_of(&pair.access_token) == *next_kid.lock().unwrap() {
                    new_kid_seen.fetch_add(1, Ordering::Relaxed);
                }
                match verifier
                    .verify(&pair.access_token, &Requirements::new())
                    .await
                {
                    Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }

    // Step 1: publish the next key; the verifier holds it before it signs.
    edit_keys(&app, |file| {
        *next_kid.lock().unwrap() = rotation::add_next(file, None).unwrap();
    });
    let next = next_kid.lock().unwrap().clone();
    eventually("the verifier holds the next key", WAIT, || async {
        verifier.kids().contains(&next)
    })
    .await;
    // Step 2: it signs.
    edit_keys(&app, |file| {
        rotation::promote(file, SystemTime::now(), Duration::from_secs(300), true).unwrap();
    });
    eventually(
        "tokens signed by the new key were verified",
        WAIT,
        || async { new_kid_seen.load(Ordering::Relaxed) >= 20 },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "a local verification failed during the rotation"
    );
    assert!(ok.load(Ordering::Relaxed) >= 20);
    assert_eq!(
        metric(&verifier, "inkan_client_key_refetches_total", None),
        0.0,
        "the new key came through WatchKeys, not through an unknown-kid refetch"
    );
    assert!(verifier.kids().contains(&first_kid) && !verifier.is_stale());
    app.stop().await;
}

backend_fns!(agreement, rotation_under_load);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_an_unknown_kid_flood_refetches_once_per_interval() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let verifier = Verifier::watching(app.channel().await, ISSUER)
        .refetch_interval(Duration::from_secs(3600))
        .start()
        .unwrap();
    ready(&verifier).await;
    let attacker = Forge::attacker();
    let flood: Vec<_> = (0..200)
        .map(|n| {
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
            header.typ = Some("at+jwt".into());
            header.kid = Some(format!("random-{n}-{}", uuid::Uuid::new_v4().simple()));
            let token = jsonwebtoken::encode(
                &header,
                &common::claims_for(&uuid::Uuid::new_v4().to_string()),
                attacker.set.active().encoding_key(),
            )
            .unwrap();
            let verifier = verifier.clone();
            tokio::spawn(async move { verifier.verify(&token, &Requirements::new()).await })
        })
        .collect();
    for task in flood {
        let refused = task.await.unwrap().expect_err("a random kid is refused");
        assert_eq!(refused.reason().as_str(), "KEY_UNKNOWN");
    }
    assert_eq!(
        metric(&verifier, "inkan_client_key_refetches_total", None),
        1.0
    );
    assert_eq!(
        metric(
            &verifier,
            "inkan_client_verifications_total",
            Some(("outcome", "KEY_UNKNOWN"))
        ),
        200.0
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_a_jwks_verifier_refetches_a_new_kid_and_retries_once() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut client = app.client().await;
    let url = format!("http://{}/.well-known/jwks.json", app.http_addr);
    let verifier = Verifier::polling_jwks(&url, ISSUER).start().unwrap();
    ready(&verifier).await;
    assert_eq!(verifier.kids(), [app.keys.active().kid().to_string()]);

    // A rotation done faster than the JWKS's max-age: the verifier's copy
    // lacks the new key when its first token arrives.
    let mut next = String::new();
    edit_keys(&app, |file| next = rotation::add_next(file, None).unwrap());
    let mut watch = client
        .watch_keys(inkan::proto::v1::WatchKeysRequest {})
        .await
        .unwrap()
        .into_inner();
    tokio::time::timeout(Duration::from_secs(10), async {
        while watch.message().await.unwrap().unwrap().keys.len() < 2 {}
    })
    .await
    .expect("the server published the next key");
    edit_keys(&app, |file| {
        rotation::promote(file, SystemTime::now(), Duration::from_secs(300), true).unwrap();
    });
    let issue = || async {
        let pair = client.clone().issue(admin(issue_request("user-1"))).await;
        pair.unwrap().into_inner().access_token
    };
    eventually("the new key signs", WAIT, || async {
        kid_of(&issue().await) == next
    })
    .await;
    let token = issue().await;
    assert!(!verifier.kids().contains(&next));

    verifier
        .verify(&token, &Requirements::new())
        .await
        .expect("verified after one refetch");
    verifier
        .verify(&token, &Requirements::new())
        .await
        .expect("and again, with no refetch");
    assert_eq!(
        metric(&verifier, "inkan_client_key_refetches_total", None),
        1.0
    );
    assert_eq!(
        metric(
            &verifier,
            "inkan_client_verifications_total",
            Some(("outcome", "accepted"))
        ),
        2.0
    );
    app.stop().await;
}
