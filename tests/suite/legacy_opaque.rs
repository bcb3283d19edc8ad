//! A former system's opaque refresh tokens (random strings kept in its
//! table, as many PHP apps do) and its access tokens that name no
//! audience: an opaque token is exchanged once by its digest, its imported
//! row the authority for whom it belongs to, when it ends and what it was
//! issued to; reuse, races and logouts behave as for a former JWT. A
//! former access token without `aud` stands for the audiences its key
//! names, and for no other.

use crate::common::{
    self, admin, assert_refused, edit_keys, legacy_token, sha256_hex, verify_for,
    with_legacy_refresh, Backend, Options, TestApp,
};
use std::time::{Duration, SystemTime};

use inkan::{
    keys::{rotation, KeyAlgorithm, KeySetFile},
    ledger::{LegacyImportRow, LegacyTokenKind},
    proto::v1::{revoke_request::Target, ListSessionsRequest, RefreshRequest, RevokeRequest},
};
use tonic::{transport::Channel, Status};

/// The former system's secret.
const SECRET: &[u8] = b"Qm8vT2xLr5Wp0Zc3Hn7Bd1Kf4Gj6Sa9E";
const DAY: i64 = 86_400;

/// A token as a PHP app makes one: `bin2hex(random_bytes(32))`.
fn opaque_token() -> String {
    rand::random::<[u8; 32]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn opaque_row(token: &str, subject: &str, line: usize) -> LegacyImportRow {
    LegacyImportRow {
        token_hash: sha256_hex(token),
        kind: LegacyTokenKind::Opaque,
        subject: subject.into(),
        expires_at: inkan::clock::now() + 30 * DAY,
        legacy_key: Some("monolith".into()),
        line,
        ..Default::default()
    }
}

async fn import(app: &TestApp, rows: &[LegacyImportRow]) {
    app.ledger
        .import_legacy_refresh_tokens(rows, inkan::clock::now())
        .await
        .unwrap()
        .unwrap();
}

async fn refresh(
    client: &mut inkan::proto::v1::token_service_client::TokenServiceClient<Channel>,
    token: &str,
) -> Result<inkan::proto::v1::TokenPair, Status> {
    client
        .refresh(RefreshRequest {
            refresh_token: token.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn sessions_of(app: &TestApp, subject: &str) -> Vec<inkan::proto::v1::Session> {
    app.client()
        .await
        .list_sessions(admin(ListSessionsRequest {
            subject: subject.into(),
        }))
        .await
        .unwrap()
        .into_inner()
        .sessions
}

async fn an_opaque_token_is_exchanged_once_on_its_rows_word(backend: Backend) {
    let app = with_legacy_refresh(backend, SECRET, Options::default()).await;
    let (token, other) = (opaque_token(), opaque_token());
    let mut described = opaque_row(&token, "42", 2);
    described.client_id = Some("shop-app".into());
    described.device = Some("iPhone 12".into());
    described.expires_at = inkan::clock::now() + 3 * DAY;
    import(&app, &[described, opaque_row(&other, "43", 3)]).await;
    let mut client = app.client().await;

    let pair = refresh(&mut client, &token).await.unwrap();
    assert!(pair.refresh_token.starts_with("inkan_rt_"));
    // The row said whom it belongs to and what it was issued to; the key
    // says what the session carries; the row's expiry caps the session.
    let verified = client
        .verify(verify_for(&pair.access_token, "orders", &[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verified.subject, "42");
    assert_eq!(verified.client_id, "shop-app");
    let sessions = sessions_of(&app, "42").await;
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].device, "iPhone 12");
    let ends = sessions[0].expires_at.as_ref().unwrap().seconds;
    assert!(ends <= inkan::clock::now() + 3 * DAY, "{ends}");
    // From then on it refreshes as any inkan client does.
    let next = refresh(&mut client, &pair.refresh_token).await.unwrap();
    assert_eq!(next.session_id, pair.session_id);

    // Replayed: reuse, which ends the session it opened, and nothing else.
    assert_refused(refresh(&mut client, &token).await, "REFRESH_TOKEN_REUSED");
    assert_refused(
        refresh(&mut client, &next.refresh_token).await,
        "SESSION_REVOKED",
    );
    let theirs = refresh(&mut client, &other).await.unwrap();
    let verified = client
        .verify(verify_for(&theirs.access_token, "orders", &[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (verified.subject.as_str(), verified.client_id.as_str()),
        ("43", "monolith")
    );

    // A string that was never imported, and one imported as a JWT digest,
    // open nothing.
    let message = assert_refused(
        refresh(&mut client, &opaque_token()).await,
        "REFRESH_TOKEN_INVALID",
    );
    assert!(message.contains("not imported"), "{message}");
    let mislabelled = opaque_token();
    import(
        &app,
        &[LegacyImportRow {
            kind: LegacyTokenKind::Jwt,
            ..opaque_row(&mislabelled, "44", 2)
        }],
    )
    .await;
    assert_refused(
        refresh(&mut client, &mislabelled).await,
        "REFRESH_TOKEN_INVALID",
    );
    app.stop().await;
}

async fn two_simultaneous_opaque_exchanges_open_one_session(backend: Backend) {
    let app = with_legacy_refresh(backend, SECRET, Options::default()).await;
    let token = opaque_token();
    import(&app, &[opaque_row(&token, "42", 2)]).await;
    let exchange = |token: String| {
        let addr = app.grpc_addr;
        async move {
            let channel = Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap();
            let mut client =
                inkan::proto::v1::token_service_client::TokenServiceClient::new(channel);
            refresh(&mut client, &token).await
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
    assert_refused(lost, "REFRESH_TOKEN_REUSED");
    let sessions = sessions_of(&app, "42").await;
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0].id, won.unwrap().session_id);
    assert!(sessions[0].revoked_at.is_some());
    app.stop().await;
}

async fn logging_out_with_an_opaque_token_ends_it(backend: Backend) {
    let app = with_legacy_refresh(backend, SECRET, Options::default()).await;
    let (unused, exchanged) = (opaque_token(), opaque_token());
    import(
        &app,
        &[
            opaque_row(&unused, "42", 2),
            opaque_row(&exchanged, "43", 3),
        ],
    )
    .await;
    let mut client = app.client().await;
    let logout = |token: &str| RevokeRequest {
        target: Some(Target::RefreshToken(token.into())),
        reason: "logout".into(),
    };
    let ended = client.revoke(logout(&unused)).await.unwrap().into_inner();
    assert_eq!(ended.sessions_revoked, 1);
    assert_refused(refresh(&mut client, &unused).await, "SESSION_REVOKED");
    let again = client.revoke(logout(&unused)).await.unwrap().into_inner();
    assert_eq!(again.sessions_revoked, 0, "ended once");

    let pair = refresh(&mut client, &exchanged).await.unwrap();
    let ended = client
        .revoke(logout(&exchanged))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ended.sessions_revoked, 1);
    assert_refused(
        refresh(&mut client, &pair.refresh_token).await,
        "SESSION_REVOKED",
    );
    let unknown = client
        .revoke(logout(&opaque_token()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unknown.sessions_revoked, 0);
    app.stop().await;
}

async fn an_opaque_token_is_refused_after_its_keys_sunset(backend: Backend) {
    let app = with_legacy_refresh(backend, SECRET, Options::default()).await;
    let token = opaque_token();
    import(&app, &[opaque_row(&token, "42", 2)]).await;
    let ended = SystemTime::now() - Duration::from_secs(1);
    edit_keys(&app, |file| {
        for key in file.keys.iter_mut().filter(|k| k.legacy) {
            key.sunset = Some(humantime::format_rfc3339_seconds(ended).to_string());
        }
    });
    let mut client = app.client().await;
    // Probed with a former access token of the same key, which the sunset
    // refuses too, so the refresh token is presented only once.
    let now = inkan::clock::now();
    let probe = legacy_token(
        SECRET,
        &serde_json::json!({"user_id": 42, "iat": now, "exp": now + 600}),
    );
    common::eventually("the sunset is in service", Duration::from_secs(10), || {
        let mut client = client.clone();
        let probe = probe.clone();
        async move { client.verify(verify_for(&probe, "", &[])).await.is_err() }
    })
    .await;
    assert_refused(refresh(&mut client, &token).await, "REFRESH_TOKEN_EXPIRED");
    app.stop().await;
}

/// Without a legacy key for refresh, a string that is not inkan's is
/// refused as before, without asking the ledger.
async fn without_a_legacy_refresh_key_a_string_is_not_a_refresh_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let answer = refresh(&mut app.client().await, &opaque_token()).await;
    let message = assert_refused(answer, "REFRESH_TOKEN_INVALID");
    assert!(message.contains("not one inkan issued"), "{message}");
    app.stop().await;
}

async fn a_former_access_token_without_aud_stands_for_its_keys_audiences(backend: Backend) {
    let mut file = KeySetFile::generate(KeyAlgorithm::EdDSA).unwrap();
    rotation::add_legacy_mapped(
        &mut file,
        "monolith",
        SECRET,
        SystemTime::now() + Duration::from_secs(60 * 86_400),
        None,
        None,
        rotation::LegacyMapping {
            subject_claim: Some("user_id".into()),
            access_audience: vec!["orders".into(), "billing".into()],
            access_scopes: vec!["orders:read".into()],
            ..Default::default()
        },
    )
    .unwrap();
    let options = Options {
        keys_json: Some(file.to_json()),
        ..Options::default()
    };
    let app = TestApp::spawn_with(backend, options).await;
    // A PHP token: integer user_id, no aud, no scope.
    let now = inkan::clock::now();
    let php = legacy_token(
        SECRET,
        &serde_json::json!({"user_id": 42, "iat": now, "exp": now + 600}),
    );
    let mut client = app.client().await;
    for audience in ["orders", "billing"] {
        let verified = client
            .verify(verify_for(&php, audience, &["orders:read"]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(verified.subject, "42");
        assert_eq!(verified.audience, ["orders", "billing"]);
    }
    assert_refused(
        client.verify(verify_for(&php, "payroll", &[])).await,
        "AUDIENCE_MISMATCH",
    );
    assert_refused(
        client
            .verify(verify_for(&php, "orders", &["orders:write"]))
            .await,
        "INSUFFICIENT_SCOPE",
    );
    // A token that names its own audience keeps it.
    let own = legacy_token(
        SECRET,
        &serde_json::json!({"user_id": 42, "aud": "payroll", "iat": now, "exp": now + 600}),
    );
    assert_refused(
        client.verify(verify_for(&own, "orders", &[])).await,
        "AUDIENCE_MISMATCH",
    );
    client
        .verify(verify_for(&own, "payroll", &[]))
        .await
        .unwrap();
    app.stop().await;
}

backend_fns!(
    an_opaque_token_is_exchanged_once_on_its_rows_word,
    two_simultaneous_opaque_exchanges_open_one_session,
    logging_out_with_an_opaque_token_ends_it,
    an_opaque_token_is_refused_after_its_keys_sunset,
    without_a_legacy_refresh_key_a_string_is_not_a_refresh_token,
    a_former_access_token_without_aud_stands_for_its_keys_audiences
);
