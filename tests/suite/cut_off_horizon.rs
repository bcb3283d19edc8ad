//! A subject's cut-off refuses every token and session that began before
//! it, for as long as any of them can live: a former system's refresh
//! token up to its legacy key's sunset, and inkan's own sessions for their
//! whole lifetime, whatever the process remembers. The server's clock is a
//! test's, moved a day and more on; nothing here waits a day.

use std::time::{Duration, SystemTime};

use crate::common::{self, admin, assert_refused, issue_request, Backend, Options, TestApp};
use inkan::{
    clock::Clock,
    ids::Subject,
    keys::{rotation, KeyAlgorithm, KeySetFile},
    ledger::LegacyImportRow,
    proto::v1::{revoke_request::Target, ListSessionsRequest, RefreshRequest, RevokeRequest},
};
use sha2::{Digest, Sha256};

const SECRET: &[u8] = b"Xq7LmR2pT9vB4nK8sW1cZ6yH3jF5gDaE";
const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

/// A former system's refresh JWT for `user`, issued a minute ago and
/// valid for 30 days.
fn former_refresh_token(user: i64) -> String {
    let now = inkan::clock::now();
    let claims = serde_json::json!({
        "user_id": user, "type": "refresh", "iat": now - 60, "exp": now + 30 * DAY,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A server on `clock` whose legacy key exchanges refresh tokens until a
/// sunset 60 days away.
async fn with_legacy_refresh(backend: Backend, clock: &Clock) -> TestApp {
    let mut file = KeySetFile::generate(KeyAlgorithm::EdDSA).unwrap();
    let sunset = SystemTime::now() + Duration::from_secs(60 * 86_400);
    rotation::add_legacy_mapped(
        &mut file,
        "monolith",
        SECRET,
        sunset,
        None,
        None,
        rotation::LegacyMapping {
            subject_claim: Some("user_id".into()),
            refresh: true,
            session_audience: vec!["orders".into()],
            ..Default::default()
        },
    )
    .unwrap();
    TestApp::spawn_with(
        backend,
        Options {
            keys_json: Some(file.to_json()),
            clock: Some(clock.clone()),
            ..Options::default()
        },
    )
    .await
}

/// Long enough for the revocation feed to poll (every 500 ms) and forget
/// what its clock says no longer matters: a real wait, as the feed is a
/// real task on a real ticker.
async fn let_the_feed_run() {
    tokio::time::sleep(Duration::from_millis(1200)).await;
}

async fn a_former_refresh_token_stays_cut_off_past_a_day(backend: Backend) {
    let clock = Clock::manual();
    let app = with_legacy_refresh(backend, &clock).await;
    let (stolen, kept) = (former_refresh_token(42), former_refresh_token(7));
    let rows =
        [(&stolen, "42", 2), (&kept, "7", 3)].map(|(token, subject, line)| LegacyImportRow {
            token_hash: digest(token),
            subject: subject.into(),
            expires_at: inkan::clock::now() + 30 * DAY,
            line,
        });
    app.ledger
        .import_legacy_refresh_tokens(&rows, inkan::clock::now())
        .await
        .unwrap()
        .unwrap();
    let mut client = app.client().await;
    client
        .revoke(admin(RevokeRequest {
            target: Some(Target::Subject("42".into())),
            reason: "account compromised".into(),
        }))
        .await
        .unwrap();

    clock.advance(25 * HOUR);
    let_the_feed_run().await;
    let answer = client
        .refresh(admin(RefreshRequest {
            refresh_token: stolen.clone(),
        }))
        .await;
    assert_refused(answer, "SESSION_REVOKED");
    // A replica started now has never seen the revocation in memory.
    let fresh = app
        .replica_with(Options {
            clock: Some(clock.clone()),
            ..Options::default()
        })
        .await;
    let answer = fresh
        .client()
        .await
        .refresh(admin(RefreshRequest {
            refresh_token: stolen,
        }))
        .await;
    assert_refused(answer, "SESSION_REVOKED");
    // Another subject's former token is untouched by the cut-off.
    fresh
        .client()
        .await
        .refresh(admin(RefreshRequest {
            refresh_token: kept,
        }))
        .await
        .expect("a token of a subject never revoked is exchanged");
    fresh.stop().await;
    app.stop().await;
}

async fn a_session_older_than_its_subjects_cut_off_never_refreshes(backend: Backend) {
    let clock = Clock::manual();
    let app = TestApp::spawn_with(
        backend,
        Options {
            clock: Some(clock.clone()),
            ..Options::default()
        },
    )
    .await;
    let mut client = app.client().await;
    let pair = client
        .issue(admin(issue_request("user-9")))
        .await
        .unwrap()
        .into_inner();
    // A subject revoke that wrote its cut-off and failed before ending the
    // sessions (the cut-off is written first), a moment after the login.
    clock.advance(2);
    app.ledger
        .cut_off_subject(&Subject::parse("user-9").unwrap(), clock.now())
        .await
        .unwrap();
    clock.advance(25 * HOUR);
    let_the_feed_run().await;
    let answer = client
        .refresh(admin(RefreshRequest {
            refresh_token: pair.refresh_token,
        }))
        .await;
    assert_refused(answer, "SESSION_REVOKED");
    let sessions = client
        .list_sessions(admin(ListSessionsRequest {
            subject: "user-9".into(),
        }))
        .await
        .unwrap()
        .into_inner()
        .sessions;
    assert_eq!(sessions.len(), 1);
    assert!(
        sessions[0].revoked_at.is_some(),
        "the session the cut-off covers is ended for good"
    );
    // A login after the cut-off refreshes as ever.
    let later = client
        .issue(admin(issue_request("user-9")))
        .await
        .unwrap()
        .into_inner();
    client
        .refresh(admin(RefreshRequest {
            refresh_token: later.refresh_token,
        }))
        .await
        .expect("a session opened after the cut-off refreshes");
    app.stop().await;
}

backend_fns!(
    a_former_refresh_token_stays_cut_off_past_a_day,
    a_session_older_than_its_subjects_cut_off_never_refreshes,
);
