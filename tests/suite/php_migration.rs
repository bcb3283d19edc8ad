//! A PHP system moved onto inkan end to end, through the real `inkan`
//! binary and a real PostgreSQL: nobody who was logged in is logged out.
//!
//! The former system is two PHP apps as they are commonly written: the
//! API signs with firebase/php-jwt under `bin2hex(random_bytes(32))` (the
//! 64 hex digits themselves are the HMAC key), puts the user's integer id
//! in `sub`, names no `aud`, and issues refresh JWTs; the shop signs under
//! `bin2hex(random_bytes(16))`, puts the id in `user_id`, and keeps its
//! refresh tokens as `bin2hex(random_bytes(32))` strings in a table. The
//! ledger goes into the database the app already uses, which holds
//! Laravel's own `sessions` table.
//!
//! The operator adds both secrets as legacy keys saying which audience
//! their tokens stand for, imports both kinds of refresh token, and serves.
//! Then: former access tokens verify for their audience and no other;
//! each kind of former refresh token is exchanged once, and presented again
//! is reuse, which ends only the session it opened; every other user, and
//! the app's own sessions, are untouched.

use std::time::{Duration, SystemTime};

use crate::common::{
    assert_refused, fresh_database, migrate_with, run_inkan, server_config, sha256_hex, verify_for,
    with_key, Backend, Served,
};
use inkan::proto::v1::{token_service_client::TokenServiceClient, RefreshRequest, TokenPair};
use sea_orm::{ConnectionTrait, Database};
use serde_json::json;
use tonic::transport::Channel;

/// The API key of the services in this test (they verify and refresh).
const SERVICE_KEY: &str = "php-migration-service-key-0123";
const DAY: i64 = 86_400;

/// `bin2hex(random_bytes(n))`.
fn bin2hex_random(n: usize) -> String {
    (0..n)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// What firebase/php-jwt's `JWT::encode($claims, $secret, 'HS256')` makes:
/// header `{"typ":"JWT","alg":"HS256"}`, keyed with the secret's text.
fn php_jwt(secret: &str, claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// One user of the former system: a live access token and a refresh token.
struct User {
    id: i64,
    access: String,
    refresh: String,
}

fn api_user(secret: &str, id: i64, now: i64) -> User {
    User {
        id,
        access: php_jwt(
            secret,
            json!({"sub": id, "iat": now - 60, "exp": now + 3600}),
        ),
        refresh: php_jwt(
            secret,
            json!({"sub": id, "type": "refresh", "iat": now - 60, "exp": now + 30 * DAY}),
        ),
    }
}

fn shop_user(secret: &str, id: i64, now: i64) -> User {
    User {
        id,
        access: php_jwt(
            secret,
            json!({"user_id": id, "iat": now - 60, "exp": now + 3600}),
        ),
        refresh: bin2hex_random(32),
    }
}

fn succeeded(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn verify(
    client: &mut TokenServiceClient<Channel>,
    token: &str,
    audience: &str,
) -> Result<inkan::proto::v1::VerifyResponse, tonic::Status> {
    let mut request = verify_for(token, audience, &[]);
    request
        .metadata_mut()
        .insert("x-api-key", SERVICE_KEY.parse().unwrap());
    client
        .verify(request)
        .await
        .map(tonic::Response::into_inner)
}

async fn refresh(
    client: &mut TokenServiceClient<Channel>,
    token: &str,
) -> Result<TokenPair, tonic::Status> {
    client
        .refresh(with_key(
            RefreshRequest {
                refresh_token: token.into(),
            },
            SERVICE_KEY,
        ))
        .await
        .map(tonic::Response::into_inner)
}

/// The application's own table, as Laravel's `php artisan session:table`
/// makes it, with a user's session in it.
const LARAVEL_SESSIONS: &str = "CREATE TABLE sessions (id varchar(255) PRIMARY KEY, \
     user_id bigint NULL, ip_address varchar(45) NULL, user_agent text NULL, \
     payload text NOT NULL, last_activity integer NOT NULL); \
     CREATE INDEX sessions_user_id_index ON sessions (user_id); \
     CREATE INDEX sessions_last_activity_index ON sessions (last_activity); \
     INSERT INTO sessions VALUES ('laravel-session-1', 1001, '10.0.0.7', 'Firefox', \
     'YTozOntzOjY6Il90b2tlbiI7fQ==', 1800000000)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_php_system_moves_over_and_nobody_is_logged_out() {
    // A real PostgreSQL, or a message saying why not (a failure when
    // INKAN_REQUIRE_BACKENDS names postgres).
    if !Backend::Postgres.available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let url = fresh_database(Backend::Postgres, path).await;
    let app_db = Database::connect(url.clone()).await.unwrap();
    app_db.execute_unprepared(LARAVEL_SESSIONS).await.unwrap();
    let config = server_config(
        path,
        &url,
        &format!(
            "[[callers]]\nname = \"services\"\napi_key_sha256 = \"{}\"\n\
             permissions = [\"refresh\"]\n",
            sha256_hex(SERVICE_KEY)
        ),
    );
    let config_arg = config.to_str().unwrap();

    // The former system and its users.
    let now = inkan::clock::now();
    let (api_secret, shop_secret) = (bin2hex_random(32), bin2hex_random(16));
    let [alice, bob] = [1001, 1002].map(|id| api_user(&api_secret, id, now));
    let [carol, dave] = [2001, 2002].map(|id| shop_user(&shop_secret, id, now));

    // The operator adds each secret as a legacy key, saying which audience
    // (and scopes) its tokens stand for and what the sessions its refresh
    // tokens open carry.
    std::fs::write(path.join("api.secret"), format!("{api_secret}\n")).unwrap();
    std::fs::write(path.join("shop.secret"), &shop_secret).unwrap();
    let sunset =
        humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(60 * 86_400))
            .to_string();
    for (label, secret, audience, scope, subject_claim) in [
        ("api", "api.secret", "orders", "orders:read", None),
        ("shop", "shop.secret", "shop", "cart:write", Some("user_id")),
    ] {
        let mut args = vec![
            "keys",
            "add-legacy",
            "--keys",
            "keys.json",
            "--secret-file",
            secret,
            "--sunset",
            &sunset,
            "--label",
            label,
            "--access-audience",
            audience,
            "--access-scope",
            scope,
            "--refresh",
            "--session-audience",
            audience,
            "--session-scope",
            scope,
        ];
        if let Some(claim) = subject_claim {
            args.extend(["--subject-claim", claim]);
        }
        succeeded(&run_inkan(&args, path));
    }
    // The app's `sessions` table is no obstacle to the ledger.
    migrate_with(config_arg, path);

    // An export holding a JWT that no legacy key verifies is refused,
    // named by its line, and nothing is imported.
    let stranger = php_jwt(
        &bin2hex_random(32),
        json!({"sub": 9, "type": "refresh", "iat": now, "exp": now + DAY}),
    );
    let expires = now + 30 * DAY;
    std::fs::write(
        path.join("bad.csv"),
        format!(
            "token,subject,expires_at\n{},1001,{expires}\n{stranger},9,{expires}\n",
            alice.refresh
        ),
    )
    .unwrap();
    let import = |file: &'static str| {
        let args = [
            "legacy",
            "import-refresh-tokens",
            file,
            "--config",
            config_arg,
            "--legacy-key",
            "shop",
        ];
        run_inkan(&args, path)
    };
    let refused = import("bad.csv");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{said}");
    assert!(
        said.contains("line 3: it is a JWT, and no legacy key marked for refresh verifies it")
            && said.contains("nothing was imported"),
        "{said}"
    );
    assert!(!said.contains("eyJ"), "a token was quoted: {said}");
    let ledger = inkan::ledger::Ledger::connect(&url).await.unwrap();
    assert_eq!(ledger.legacy_refresh_tokens_left(0).await.unwrap(), 0);

    // The real export: both apps' refresh tokens, each line's kind by its
    // shape; the shop's table also says which app and device.
    let mut export = String::from("token,subject,expires_at,client_id,device\n");
    for user in [&alice, &bob] {
        export.push_str(&format!("{},{},{expires},,\n", user.refresh, user.id));
    }
    for user in [&carol, &dave] {
        export.push_str(&format!(
            "{},{},{expires},shop-ios,iPhone 15\n",
            user.refresh, user.id
        ));
    }
    std::fs::write(path.join("refresh_tokens.csv"), export).unwrap();
    let first = succeeded(&import("refresh_tokens.csv"));
    assert_eq!(
        first.trim(),
        "imported 4 legacy refresh tokens; 0 already present (lines by kind: 2 jwt, 2 opaque)"
    );
    let again = succeeded(&import("refresh_tokens.csv"));
    assert_eq!(
        again.trim(),
        "imported 0 legacy refresh tokens; 4 already present (lines by kind: 2 jwt, 2 opaque)"
    );

    let server = tokio::task::spawn_blocking({
        let config = config.clone();
        move || Served::start(&config)
    })
    .await
    .unwrap();
    let mut client = server.client().await;

    // Former access tokens, which name no audience, verify for the one
    // their key stands for, with its scopes, and for no other.
    for (user, audience, other, scope) in [
        (&alice, "orders", "shop", "orders:read"),
        (&carol, "shop", "orders", "cart:write"),
    ] {
        let verified = verify(&mut client, &user.access, audience).await.unwrap();
        assert_eq!(verified.subject, user.id.to_string());
        assert_eq!(verified.scopes, [scope]);
        assert_refused(
            verify(&mut client, &user.access, other).await,
            "AUDIENCE_MISMATCH",
        );
    }

    // Each kind of former refresh token is exchanged once...
    let alice_pair = refresh(&mut client, &alice.refresh).await.unwrap();
    let carol_pair = refresh(&mut client, &carol.refresh).await.unwrap();
    let verified = verify(&mut client, &alice_pair.access_token, "orders")
        .await
        .unwrap();
    assert_eq!(
        (verified.subject.as_str(), verified.client_id.as_str()),
        ("1001", "api")
    );
    let verified = verify(&mut client, &carol_pair.access_token, "shop")
        .await
        .unwrap();
    assert_eq!(
        (verified.subject.as_str(), verified.client_id.as_str()),
        ("2001", "shop-ios")
    );
    // ...and presented again is reuse, which ends the session it opened.
    for (former, pair) in [(&alice.refresh, &alice_pair), (&carol.refresh, &carol_pair)] {
        assert_refused(refresh(&mut client, former).await, "REFRESH_TOKEN_REUSED");
        assert_refused(
            refresh(&mut client, &pair.refresh_token).await,
            "SESSION_REVOKED",
        );
    }

    // Nobody else was logged out: the other users' former access tokens
    // still verify, their former refresh tokens still open sessions that
    // refresh as any inkan session does, and the former access tokens of
    // the users whose tokens were replayed are untouched too (they name no
    // session).
    for (user, audience) in [
        (&bob, "orders"),
        (&dave, "shop"),
        (&alice, "orders"),
        (&carol, "shop"),
    ] {
        verify(&mut client, &user.access, audience).await.unwrap();
    }
    for (user, audience) in [(&bob, "orders"), (&dave, "shop")] {
        let pair = refresh(&mut client, &user.refresh).await.unwrap();
        let next = refresh(&mut client, &pair.refresh_token).await.unwrap();
        let verified = verify(&mut client, &next.access_token, audience)
            .await
            .unwrap();
        assert_eq!(verified.subject, user.id.to_string());
    }
    // Nor was anyone logged out of the application itself.
    let row = app_db
        .query_one(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT COUNT(*) AS n, MIN(payload) AS payload FROM sessions",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1);
    assert_eq!(
        row.try_get::<String>("", "payload").unwrap(),
        "YTozOntzOjY6Il90b2tlbiI7fQ=="
    );

    // No former token, of either kind, reached the log.
    let logged = server.logged(|_| true);
    for user in [&alice, &bob, &carol, &dave] {
        for token in [&user.access, &user.refresh] {
            assert!(
                !logged
                    .iter()
                    .any(|e| e.to_string().contains(token.as_str())),
                "a former token of user {} reached the log",
                user.id
            );
        }
    }
}
