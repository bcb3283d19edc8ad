//! Tokens a test makes by hand: inkan-shaped ones signed with the server's
//! own key (forgeries only the key-set file could make), and a former
//! system's HS256 tokens, with the server that takes them.

use std::time::{Duration, SystemTime};

use inkan::keys::{rotation, KeyAlgorithm, KeySetFile};
use sha2::{Digest, Sha256};

use super::{Backend, Options, TestApp, ISSUER};

/// Claims of a well-formed access token for `session`, as inkan signs them.
pub(crate) fn claims_for(session: &str) -> serde_json::Value {
    let now = inkan::clock::now();
    serde_json::json!({
        "iss": ISSUER,
        "sub": "user-42",
        "aud": "orders",
        "exp": now + 600,
        "iat": now,
        "nbf": now,
        "jti": uuid::Uuid::new_v4().to_string(),
        "sid": session,
        "client_id": "web",
        "scope": "orders:read",
    })
}

/// The header inkan puts on access tokens signed by the active key.
pub(crate) fn header_for(app: &TestApp) -> jsonwebtoken::Header {
    let key = app.keys.active();
    let mut header = jsonwebtoken::Header::new(key.alg().jws());
    header.typ = Some("at+jwt".into());
    header.kid = Some(key.kid().to_string());
    header
}

/// Signs `claims` under `header` with the server's own active key: a token
/// only the server (or its key-set file) could have made.
pub(crate) fn forge(
    app: &TestApp,
    header: &jsonwebtoken::Header,
    claims: &serde_json::Value,
) -> String {
    jsonwebtoken::encode(header, claims, app.keys.active().encoding_key()).unwrap()
}

/// The `kid` in `token`'s header.
pub(crate) fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Rewrites the server's key-set file through `change`, as an operator's
/// `inkan keys rotate` would.
pub(crate) fn edit_keys(app: &TestApp, change: impl FnOnce(&mut KeySetFile)) {
    let mut file = KeySetFile::read(&app.keys_path).unwrap();
    change(&mut file);
    file.write(&app.keys_path).unwrap();
}

/// The SHA-256 of `text`, in lowercase hex: how API keys are configured
/// and how a former system's refresh tokens are imported.
pub(crate) fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `claims` signed as a former system (PyJWT) signs them: HS256 under
/// `secret`, with no `kid`.
pub(crate) fn legacy_token(secret: &[u8], claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

/// A former system's refresh JWT for `user` (in `user_id`), with `jti`,
/// issued a minute ago and expiring `lifetime` seconds from now.
pub(crate) fn former_refresh_token(secret: &[u8], user: i64, jti: &str, lifetime: i64) -> String {
    let now = inkan::clock::now();
    let claims = serde_json::json!({
        "user_id": user, "jti": jti, "type": "refresh", "iat": now - 60, "exp": now + lifetime,
    });
    legacy_token(secret, &claims)
}

/// A server with `options` whose legacy key `monolith` (a former system's
/// `secret`, its subject in `user_id`) exchanges refresh tokens until a
/// sunset 60 days away.
pub(crate) async fn with_legacy_refresh(
    backend: Backend,
    secret: &[u8],
    options: Options,
) -> TestApp {
    let mut file = KeySetFile::generate(KeyAlgorithm::EdDSA).unwrap();
    let sunset = SystemTime::now() + Duration::from_secs(60 * 86_400);
    rotation::add_legacy_mapped(
        &mut file,
        "monolith",
        secret,
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
    let options = Options {
        keys_json: Some(file.to_json()),
        ..options
    };
    TestApp::spawn_with(backend, options).await
}
