//! What other services rely on without calling Verify: the JWKS over HTTP
//! and gRPC, OpenID discovery, health, and a ledger that holds no raw token.

use crate::common;

use std::time::Duration;

use common::{admin, eventually, http_get, issue_request, TestApp, ISSUER};
use inkan::proto::v1::GetJwksRequest;
use sea_orm::{ConnectionTrait, Statement};
use tonic_health::pb::{
    health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
};

backend_tests! {
    async fn a_consumer_verifies_tokens_with_the_published_jwks_alone(app: TestApp) {
        let (status, headers, body) = http_get(app.http_addr, "/.well-known/jwks.json").await;
        assert!(status.contains("200"), "{status}");
        let cache = headers.iter().find(|(k, _)| k == "cache-control").map(|(_, v)| v.clone()).unwrap();
        assert_eq!(cache, "public, max-age=300");
        assert!(!body.contains("\"d\""), "private key material published: {body}");

        // A consumer with nothing but the JWKS and a JWT library.
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&body).unwrap();
        let mut client = app.client().await;
        let pair = client.issue(admin(issue_request("user-42"))).await.unwrap().into_inner();
        let header = jsonwebtoken::decode_header(&pair.access_token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("the signing key is published");
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&["orders"]);
        let decoded = jsonwebtoken::decode::<serde_json::Value>(
            &pair.access_token,
            &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.claims["sub"], "user-42");
        assert_eq!(decoded.claims["sid"], pair.session_id.as_str());

        let grpc = client.get_jwks(GetJwksRequest {}).await.unwrap().into_inner();
        assert_eq!(grpc.jwks_json, body, "gRPC and HTTP publish the same set");
        assert_eq!(grpc.max_age.unwrap().seconds, 300);
        assert_eq!(grpc.keys.len(), 1);
        assert_eq!((grpc.keys[0].alg.as_str(), grpc.keys[0].state.as_str()), ("EdDSA", "active"));

        let (_, _, discovery) = http_get(app.http_addr, "/.well-known/openid-configuration").await;
        let discovery: serde_json::Value = serde_json::from_str(&discovery).unwrap();
        assert_eq!(discovery["issuer"], ISSUER);
        assert_eq!(discovery["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
        app.stop().await;
    }

    async fn health_reports_each_capability(app: TestApp) {
        let mut health = HealthClient::new(app.channel().await);
        for service in ["", "inkan.v1.TokenService", "inkan.v1.TokenService/Verify"] {
            let status = health
                .check(HealthCheckRequest { service: service.into() })
                .await
                .unwrap()
                .into_inner()
                .status;
            assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
        }
        // The ledger's status comes from its first ping, right after start.
        eventually("the ledger reports SERVING", Duration::from_secs(3), || async {
            let ledger = health
                .clone()
                .check(HealthCheckRequest { service: "inkan.v1.TokenService/Ledger".into() })
                .await
                .unwrap()
                .into_inner()
                .status;
            ledger == ServingStatus::Serving as i32
        })
        .await;
        app.stop().await;
    }

    async fn the_ledger_never_holds_a_raw_refresh_token(app: TestApp) {
        let mut client = app.client().await;
        let first = client.issue(admin(issue_request("user-42"))).await.unwrap().into_inner();
        let second = client
            .refresh(inkan::proto::v1::RefreshRequest { refresh_token: first.refresh_token.clone() })
            .await
            .unwrap()
            .into_inner();
        let db = app.ledger.connection();
        let backend = db.get_database_backend();
        let mut dump = String::new();
        for (table, columns) in [
            ("inkan_sessions", "id, subject, client_id, device, audience, scope, claims"),
            ("inkan_refresh_tokens", "token_hash, session_id, parent_hash, successor_hash"),
            ("inkan_refresh_seals", "token_hash, seal"),
        ] {
            let rows = db
                .query_all(Statement::from_string(backend, format!("SELECT {columns} FROM {table}")))
                .await
                .unwrap();
            assert!(!rows.is_empty());
            for row in rows {
                for i in 0..columns.split(',').count() {
                    let value: Option<String> = row.try_get_by_index(i).unwrap();
                    dump.push_str(&value.unwrap_or_default());
                    dump.push('\n');
                }
            }
        }
        for token in [&first.refresh_token, &second.refresh_token] {
            let secret = &token["inkan_rt_".len()..];
            assert!(!dump.contains(secret), "a raw refresh token is in the ledger");
            // What is there is the SHA-256 of the whole token: the key the
            // ledger looks tokens up by, so no prefix of a token is compared.
            let digest: String = <sha2::Sha256 as sha2::Digest>::digest(token.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert!(dump.contains(&digest), "the ledger does not key tokens by their hash");
        }
        assert!(!dump.contains(&first.access_token));
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_shutdown_the_server_accepts_no_calls() {
    let app = TestApp::spawn(common::Backend::Sqlite).await;
    let addr = app.grpc_addr;
    app.stop().await;
    let refused = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await;
    assert!(
        refused.is_err(),
        "the server still accepts connections after shutdown"
    );
}
