//! A former system's refresh tokens in the ledger: the import is all or
//! nothing and idempotent, and an exchange is once only, however many
//! clients race for it.

use crate::common::{
    self, admin, assert_refused, former_refresh_token, legacy_token, sha256_hex,
    with_legacy_refresh, Backend, Options, TestApp,
};
use inkan::{
    ledger::{ImportConflict, LegacyImportRow},
    proto::v1::{revoke_request::Target, ListSessionsRequest, RefreshRequest, RevokeRequest},
};

/// The former system's secret.
const SECRET: &[u8] = b"Rk2v9WmQ0tLx7pZ4sYb1nC8fH3jD6gAe";
const DAY: i64 = 86_400;

fn row(token: &str, subject: &str, line: usize) -> LegacyImportRow {
    LegacyImportRow {
        token_hash: sha256_hex(token),
        subject: subject.into(),
        expires_at: inkan::clock::now() + DAY,
        line,
        ..Default::default()
    }
}

async fn an_import_is_idempotent_and_all_or_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let now = inkan::clock::now();
    let (a, b, c) = (
        former_refresh_token(SECRET, 1, "a", DAY),
        former_refresh_token(SECRET, 2, "b", DAY),
        former_refresh_token(SECRET, 3, "c", DAY),
    );
    let first = app
        .ledger
        .import_legacy_refresh_tokens(&[row(&a, "1", 2), row(&b, "2", 3)], now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.imported, first.already_present), (2, 0));
    // The same export again, with one new token and one repeated line.
    let again = app
        .ledger
        .import_legacy_refresh_tokens(
            &[
                row(&a, "1", 2),
                row(&b, "2", 3),
                row(&c, "3", 4),
                row(&c, "3", 5),
            ],
            now,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.imported, again.already_present), (1, 3));
    assert_eq!(app.ledger.legacy_refresh_tokens_left(now).await.unwrap(), 3);
    // A token already imported for another subject: nothing of this run
    // is stored, the new token on the line before included.
    let d = former_refresh_token(SECRET, 4, "d", DAY);
    let conflict = app
        .ledger
        .import_legacy_refresh_tokens(&[row(&d, "4", 2), row(&a, "someone-else", 3)], now)
        .await
        .unwrap();
    assert_eq!(conflict, Err(ImportConflict::OtherSubject { line: 3 }));
    assert_eq!(app.ledger.legacy_refresh_tokens_left(now).await.unwrap(), 3);
    app.stop().await;
}

async fn two_simultaneous_exchanges_open_one_session(backend: Backend) {
    let app = with_legacy_refresh(backend, SECRET, Options::default()).await;
    let token = former_refresh_token(SECRET, 42, "race", DAY);
    app.ledger
        .import_legacy_refresh_tokens(&[row(&token, "42", 2)], inkan::clock::now())
        .await
        .unwrap()
        .unwrap();
    let exchange = |token: String| {
        let app_addr = app.grpc_addr;
        async move {
            let channel = tonic::transport::Channel::from_shared(format!("http://{app_addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap();
            inkan::proto::v1::token_service_client::TokenServiceClient::new(channel)
                .refresh(admin(RefreshRequest {
                    refresh_token: token,
                }))
                .await
        }
    };
    let (one, two) = tokio::join!(
        tokio::spawn(exchange(token.clone())),
        tokio::spawn(exchange(token.clone()))
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    let (won, lost) = match (one.is_ok(), two.is_ok()) {
        (true, false) => (one, two),
        (false, true) => (two, one),
        outcome => panic!("exactly one exchange must win: {outcome:?}"),
    };
    let won = won.unwrap().into_inner();
    // The loser presented a spent token: reuse, which ends the session the
    // winner opened.
    assert_refused(lost, "REFRESH_TOKEN_REUSED");
    let sessions = app
        .client()
        .await
        .list_sessions(admin(ListSessionsRequest {
            subject: "42".into(),
        }))
        .await
        .unwrap()
        .into_inner()
        .sessions;
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0].id, won.session_id);
    assert!(sessions[0].revoked_at.is_some());
    app.stop().await;
}

async fn a_token_imported_for_another_subject_is_not_exchanged(backend: Backend) {
    let app = with_legacy_refresh(backend, SECRET, Options::default()).await;
    let token = former_refresh_token(SECRET, 42, "mismatch", DAY);
    app.ledger
        .import_legacy_refresh_tokens(&[row(&token, "43", 2)], inkan::clock::now())
        .await
        .unwrap()
        .unwrap();
    let answer = app
        .client()
        .await
        .refresh(admin(RefreshRequest {
            refresh_token: token,
        }))
        .await;
    assert_refused(answer, "REFRESH_TOKEN_INVALID");
    app.stop().await;
}

async fn revoking_the_subject_stops_its_former_refresh_tokens(backend: Backend) {
    let app = with_legacy_refresh(backend, SECRET, Options::default()).await;
    let token = former_refresh_token(SECRET, 42, "revoked", DAY);
    app.ledger
        .import_legacy_refresh_tokens(&[row(&token, "42", 2)], inkan::clock::now())
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
    let answer = client
        .refresh(admin(RefreshRequest {
            refresh_token: token,
        }))
        .await;
    assert_refused(answer, "SESSION_REVOKED");
    app.stop().await;
}

async fn logging_out_with_a_former_refresh_token_ends_it(backend: Backend) {
    let app = with_legacy_refresh(backend, SECRET, Options::default()).await;
    let (unused, exchanged) = (
        former_refresh_token(SECRET, 42, "logout-before", DAY),
        former_refresh_token(SECRET, 43, "logout-after", DAY),
    );
    app.ledger
        .import_legacy_refresh_tokens(
            &[row(&unused, "42", 2), row(&exchanged, "43", 3)],
            inkan::clock::now(),
        )
        .await
        .unwrap()
        .unwrap();
    let mut client = app.client().await;
    let logout = |token: &str| RevokeRequest {
        target: Some(Target::RefreshToken(token.into())),
        reason: "logout".into(),
    };
    // Not exchanged yet: the logout ends it, and it never opens a session.
    let ended = client.revoke(logout(&unused)).await.unwrap().into_inner();
    assert_eq!(ended.sessions_revoked, 1);
    let answer = client
        .refresh(RefreshRequest {
            refresh_token: unused.clone(),
        })
        .await;
    assert_refused(answer, "SESSION_REVOKED");
    let again = client.revoke(logout(&unused)).await.unwrap().into_inner();
    assert_eq!(again.sessions_revoked, 0, "ended once");
    // Exchanged already: the logout ends the session it opened.
    let pair = client
        .refresh(RefreshRequest {
            refresh_token: exchanged.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let ended = client
        .revoke(logout(&exchanged))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ended.sessions_revoked, 1);
    let answer = client
        .refresh(RefreshRequest {
            refresh_token: pair.refresh_token,
        })
        .await;
    assert_refused(answer, "SESSION_REVOKED");
    // A well-formed JWT no legacy key signed ends nothing.
    let forged = legacy_token(
        b"not-the-former-systems-secret-at-all",
        &serde_json::json!({"user_id": 44, "type": "refresh", "exp": inkan::clock::now() + 600}),
    );
    let nothing = client.revoke(logout(&forged)).await.unwrap().into_inner();
    assert_eq!(nothing.sessions_revoked, 0);
    app.stop().await;
}

backend_fns!(
    revoking_the_subject_stops_its_former_refresh_tokens,
    logging_out_with_a_former_refresh_token_ends_it,
    a_token_imported_for_another_subject_is_not_exchanged,
    an_import_is_idempotent_and_all_or_nothing,
    two_simultaneous_exchanges_open_one_session
);
