//! Gateways known by their client certificate on the HTTP port: with a
//! client CA configured, introspection and forward-auth take the caller
//! the TLS handshake's verified certificate names, as gRPC does, while
//! the JWKS stays public even where gRPC requires a certificate.

use std::sync::Arc;

use inkan::{callers::Permission, tls::ClientCertificates};
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName};

use crate::{
    common::{http_exchange, Backend, HttpAnswer as Answer, Options, TestApp, VERIFIER_KEY},
    tls::{cert_caller, issue_as, spiffe, Ca, Leaf, Mount},
};

const GATEWAY_SAN: &str = "spiffe://cluster/ns/edge/sa/gateway";

/// One HTTP/1.1 request over a fresh TLS connection to the HTTP port,
/// trusting `ca` and presenting `leaf` (or no certificate).
async fn https(
    app: &TestApp,
    ca: &str,
    leaf: Option<&Leaf>,
    head: &str,
    extra_headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(inkan::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match leaf {
        Some(leaf) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(leaf.cert.as_bytes())
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_slice(leaf.key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(app.http_addr).await.unwrap();
    let stream = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("the HTTP port's handshake, with or without a certificate");
    http_exchange(stream, "localhost", head, extra_headers, body).await
}

async fn introspect(
    app: &TestApp,
    ca: &str,
    leaf: Option<&Leaf>,
    headers: &[(&str, &str)],
    token: &str,
) -> Answer {
    let mut all = vec![("content-type", "application/x-www-form-urlencoded")];
    all.extend_from_slice(headers);
    https(
        app,
        ca,
        leaf,
        "POST /oauth2/introspect",
        &all,
        &format!("token={token}"),
    )
    .await
}

/// gRPC requires a certificate here; HTTP asks for one and takes the
/// caller it names, and serves the JWKS to anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_caller_introspects_over_https_and_the_jwks_stays_public() {
    let ca = Ca::new("inkan test CA");
    let mount = Mount::new(&ca.server(), &ca.pem());
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            tls: Some(mount.settings(Some(ClientCertificates::Required))),
            verify_requires_permission: true,
            callers: vec![
                cert_caller("orders", Some("CN=orders"), None, vec![Permission::Issue]),
                cert_caller("gateway", None, Some(GATEWAY_SAN), vec![Permission::Verify]),
            ],
            ..Options::default()
        },
    )
    .await;
    let ca_pem = ca.pem();
    let orders = ca.client("orders", vec![]);
    let gateway = ca.client("edge-gateway-pod", vec![spiffe(GATEWAY_SAN)]);
    let stranger = ca.client("stranger", vec![spiffe("spiffe://cluster/ns/x/sa/y")]);
    let pair = issue_as(&app, &ca_pem, Some(&orders))
        .await
        .expect("orders may issue over mutual TLS")
        .into_inner();
    let token = pair.access_token.as_str();

    let active = introspect(&app, &ca_pem, Some(&gateway), &[], token).await;
    assert_eq!(active.status, 200, "{}", active.body);
    let body = active.json();
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["sub"], "user-1", "{body}");

    // No certificate and no key: nobody, refused as on any HTTP port.
    let anonymous = introspect(&app, &ca_pem, None, &[], token).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert_eq!(anonymous.json()["error"], "invalid_client");
    assert_eq!(
        anonymous.header("www-authenticate"),
        Some("Basic realm=\"inkan\"")
    );
    assert_eq!(anonymous.json().get("active"), None);

    // A certificate the CA signed that names no caller is refused, not
    // taken for anonymous; one naming a caller without `verify` is 403.
    let unknown = introspect(&app, &ca_pem, Some(&stranger), &[], token).await;
    assert_eq!(unknown.status, 401, "{}", unknown.body);
    let forbidden = introspect(&app, &ca_pem, Some(&orders), &[], token).await;
    assert_eq!(forbidden.status, 403, "{}", forbidden.body);

    // As on gRPC, an API key decides over the certificate beside it: the
    // verifier key's caller lacks `verify`.
    let keyed = introspect(
        &app,
        &ca_pem,
        Some(&gateway),
        &[("x-api-key", VERIFIER_KEY)],
        token,
    )
    .await;
    assert_eq!(keyed.status, 403, "{}", keyed.body);

    // Forward-auth takes the certificate too; `Authorization` stays the
    // user's.
    let bearer = format!("Bearer {token}");
    let passed = https(
        &app,
        &ca_pem,
        Some(&gateway),
        "GET /auth/verify?audience=orders",
        &[("authorization", bearer.as_str())],
        "",
    )
    .await;
    assert_eq!(passed.status, 200, "{}", passed.body);
    assert_eq!(passed.header("x-auth-subject"), Some("user-1"));

    let jwks = https(&app, &ca_pem, None, "GET /.well-known/jwks.json", &[], "").await;
    assert_eq!(jwks.status, 200, "{}", jwks.body);
    assert_eq!(
        jwks.json()["keys"][0]["kid"],
        app.keys.active().kid().to_string()
    );
    app.stop().await;
}
