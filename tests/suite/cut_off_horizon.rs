//! A subject's cut-off refuses every token and session that began before
//! it, for as long as any of them can live: a former system's refresh
//! token up to its legacy key's sunset, and inkan's own sessions for their
//! whole lifetime, whatever the process remembers. The server's clock is a
//! test's, moved a day and more on; nothing here waits a day.

use crate::common::{
    self, admin, assert_refused, feed_polls, former_refresh_token, issue_request, sha256_hex,
    with_legacy_refresh, Backend, Options, TestApp,
};
use inkan::{
    clock::Clock,
    ids::Subject,
    ledger::LegacyImportRow,
    proto::v1::{revoke_request::Target, ListSessionsRequest, RefreshRequest, RevokeRequest},
};

const SECRET: &[u8] = b"Xq7LmR2pT9vB4nK8sW1cZ6yH3jF5gDaE";
const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

async fn a_former_refresh_token_stays_cut_off_past_a_day(backend: Backend) {
    let clock = Clock::manual();
    let app = with_legacy_refresh(
        backend,
        SECRET,
        Options {
            clock: Some(clock.clone()),
            ..Options::default()
        },
    )
    .await;
    let (stolen, kept) = (
        former_refresh_token(SECRET, 42, "stolen", 30 * DAY),
        former_refresh_token(SECRET, 7, "kept", 30 * DAY),
    );
    let rows =
        [(&stolen, "42", 2), (&kept, "7", 3)].map(|(token, subject, line)| LegacyImportRow {
            token_hash: sha256_hex(token),
            subject: subject.into(),
            expires_at: inkan::clock::now() + 30 * DAY,
            line,
            ..Default::default()
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
    feed_polls().await;
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
    feed_polls().await;
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
