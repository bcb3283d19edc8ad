//! inkan-client against an inkan that serves TLS only, as the documented
//! Kubernetes deployment does: the JWKS over HTTPS under an internal CA,
//! and `WatchKeys` with `WatchRevocations` on a TLS channel whose client
//! certificate names the caller (no API key).

use std::time::Duration;

use inkan::{
    callers::Permission,
    proto::v1::{revoke_request::Target, RevokeRequest},
    tls::ClientCertificates,
};
use inkan_client::{
    tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity},
    BuildError, Reason, Requirements, Verifier,
};

use crate::{
    common::{eventually, issue_request, with_key, Backend, Options, TestApp, ISSUER, ISSUER_KEY},
    tls::{cert_caller, tls_client, Ca, Mount},
};

const WAIT: Duration = Duration::from_secs(10);

async fn tls_app(mount: &Mount) -> TestApp {
    TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            tls: Some(mount.settings(Some(ClientCertificates::Optional))),
            callers: vec![cert_caller(
                "orders",
                Some("CN=orders"),
                None,
                vec![Permission::Verify],
            )],
            ..Options::default()
        },
    )
    .await
}

async fn issued(app: &TestApp, ca: &str) -> inkan::proto::v1::TokenPair {
    tls_client(app, ca, None)
        .await
        .unwrap()
        .issue(with_key(issue_request("user-7"), ISSUER_KEY))
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verifier_follows_an_https_jwks_under_the_ca_it_is_given() {
    let ca = Ca::new("inkan test CA");
    let mount = Mount::new(&ca.server(), &ca.pem());
    let app = tls_app(&mount).await;
    let token = issued(&app, &ca.pem()).await.access_token;
    let url = format!(
        "https://localhost:{}/.well-known/jwks.json",
        app.http_addr.port()
    );

    let verifier = Verifier::polling_jwks(&url, ISSUER)
        .jwks_ca_certificate(ca.pem())
        .start()
        .unwrap();
    tokio::time::timeout(WAIT, verifier.ready())
        .await
        .expect("keys from the HTTPS JWKS");
    let claims = verifier
        .verify(&token, &Requirements::new().audience("orders"))
        .await
        .expect("a token of the JWKS's key is accepted");
    assert_eq!(claims.subject.to_string(), "user-7");

    // Under the public roots (no CA given), inkan's certificate is not
    // trusted: no key set is taken, so the token's kid stays unknown
    // (the refetch it triggers fails its handshake).
    let untrusting = Verifier::polling_jwks(&url, ISSUER).start().unwrap();
    let refused = untrusting
        .verify(&token, &Requirements::new())
        .await
        .expect_err("no key from a server it does not trust");
    assert_eq!(refused.reason(), Reason::KeyUnknown);
    assert!(!untrusting.health().keys_loaded);

    // Nor under another CA.
    let other = Ca::new("another CA");
    let wrong = Verifier::polling_jwks(&url, ISSUER)
        .jwks_ca_certificate(other.pem())
        .start()
        .unwrap();
    let refused = wrong
        .verify(&token, &Requirements::new())
        .await
        .unwrap_err();
    assert_eq!(refused.reason(), Reason::KeyUnknown);
    app.stop().await;
}

#[tokio::test]
async fn jwks_urls_and_cas_that_cannot_work_are_refused_at_start() {
    for url in ["ftp://inkan/jwks.json", "https:///jwks.json", "not a url"] {
        let started = Verifier::polling_jwks(url, ISSUER).start();
        assert!(matches!(started, Err(BuildError::JwksUrl)), "{url}");
    }
    for pem in [
        "",
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nAAAA\n",
    ] {
        let started = Verifier::polling_jwks("https://inkan/jwks.json", ISSUER)
            .jwks_ca_certificate(pem)
            .start();
        assert!(matches!(started, Err(BuildError::JwksCa)), "{pem:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_revocations_follow_a_tls_channel_named_by_its_client_certificate() {
    let ca = Ca::new("inkan test CA");
    let mount = Mount::new(&ca.server(), &ca.pem());
    let app = tls_app(&mount).await;
    let orders = ca.client("orders", Vec::new());
    let channel = Channel::from_shared(format!("https://{}", app.grpc_addr))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(ca.pem()))
                .identity(Identity::from_pem(&orders.cert, &orders.key))
                .domain_name("localhost"),
        )
        .unwrap()
        .connect_lazy();
    let verifier = Verifier::watching(channel.clone(), ISSUER)
        .follow_revocations_by_certificate(channel)
        .start()
        .unwrap();
    // Ready means keys arrived and the revocation stream caught up: the
    // certificate alone named a caller inkan lets follow it.
    tokio::time::timeout(WAIT, verifier.ready())
        .await
        .expect("keys and revocations over mutual TLS");
    assert_eq!(verifier.health().revocations_current, Some(true));

    let pair = issued(&app, &ca.pem()).await;
    verifier
        .verify(&pair.access_token, &Requirements::new())
        .await
        .expect("accepted before its revocation");
    tls_client(&app, &ca.pem(), None)
        .await
        .unwrap()
        .revoke(RevokeRequest {
            target: Some(Target::RefreshToken(pair.refresh_token.clone())),
            reason: "logout".into(),
        })
        .await
        .unwrap();
    eventually("the revocation reaches the verifier", WAIT, || async {
        matches!(
            verifier.verify(&pair.access_token, &Requirements::new()).await,
            Err(refused) if refused.reason() == Reason::SessionRevoked
        )
    })
    .await;
    app.stop().await;
}
