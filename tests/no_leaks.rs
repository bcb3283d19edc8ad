//! Logs hold no token, key or secret: a whole life cycle, with failures and
//! a refresh-token reuse, runs with every crate logging at TRACE into a
//! buffer, which is then searched for every secret the run handled.

mod common;

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{
    admin, issue_request, with_key, Options, TestApp, ADMIN_KEY, ISSUER_KEY, VERIFIER_KEY,
};
use inkan::proto::v1::{revoke_request::Target, RefreshRequest, RevokeRequest, VerifyRequest};
use secrecy::ExposeSecret;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_secret_reaches_a_log_line() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init()
        .expect("this test binary owns the global subscriber");

    let app = TestApp::spawn_with(
        common::Backend::Sqlite,
        Options {
            reuse_grace: Duration::ZERO,
            ..Options::default()
        },
    )
    .await;
    let mut client = app.client().await;
    let mut secrets: Vec<String> = vec![ADMIN_KEY.into(), ISSUER_KEY.into(), VERIFIER_KEY.into()];
    let file = inkan::keys::KeySetFile::read(&app.keys_path).unwrap();
    for key in &file.keys {
        let pem = key.private_key_pem.as_ref().unwrap().expose_secret();
        // Every base64 line of the private key.
        secrets.extend(
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .map(str::to_owned),
        );
    }

    let first = client
        .issue(admin(issue_request("user-42")))
        .await
        .unwrap()
        .into_inner();
    let verify = |token: &str| {
        with_key(
            VerifyRequest {
                access_token: token.into(),
                ..Default::default()
            },
            VERIFIER_KEY,
        )
    };
    client.verify(verify(&first.access_token)).await.unwrap();
    let second = client
        .refresh(RefreshRequest {
            refresh_token: first.refresh_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    // Reuse, a refused token, a refused caller, a revocation: the paths
    // that log warnings and errors.
    client
        .refresh(RefreshRequest {
            refresh_token: first.refresh_token.clone(),
        })
        .await
        .unwrap_err();
    client
        .verify(verify(&second.access_token))
        .await
        .unwrap_err();
    let tampered = format!("{}x", first.access_token);
    client.verify(verify(&tampered)).await.unwrap_err();
    client
        .issue(with_key(issue_request("user-43"), "wrong-key-0123456789"))
        .await
        .unwrap_err();
    let third = client
        .issue(admin(issue_request("user-44")))
        .await
        .unwrap()
        .into_inner();
    client
        .revoke(RevokeRequest {
            target: Some(Target::AccessToken(third.access_token.clone())),
            reason: "logout".into(),
        })
        .await
        .unwrap();
    app.stop().await;

    // Over mutual TLS: a caller named by its certificate. Neither private
    // key may reach a log, whatever rustls logs at TRACE.
    let tls_dir = tempfile::tempdir().unwrap();
    let (server_key, client_key) = mtls_issue(tls_dir.path()).await;
    for pem in [&server_key, &client_key] {
        secrets.extend(
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .map(str::to_owned),
        );
    }

    for pair in [&first, &second, &third] {
        secrets.push(pair.access_token.clone());
        // The signature alone identifies a token.
        secrets.push(pair.access_token.rsplit('.').next().unwrap().to_owned());
        secrets.push(pair.refresh_token["inkan_rt_".len()..].to_owned());
    }
    secrets.push(tampered);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("session issued") && text.contains("reuse detected"),
        "the logs were not captured"
    );
    // One line per RPC, with its method, outcome and latency.
    let answered = |method: &str, outcome: &str| {
        text.lines().any(|l| {
            l.contains("call answered")
                && l.contains(&format!("method=\"{method}\""))
                && l.contains(&format!("outcome=\"{outcome}\""))
                && l.contains("latency_ms=")
                && l.contains("caller=")
        })
    };
    for (method, outcome) in [
        ("Issue", "ok"),
        ("Verify", "ok"),
        ("Refresh", "ok"),
        ("Refresh", "REFRESH_TOKEN_REUSED"),
        ("Issue", "CALLER_UNAUTHENTICATED"),
        ("Revoke", "ok"),
    ] {
        assert!(
            answered(method, outcome),
            "no per-RPC line for {method} {outcome}"
        );
    }
    assert!(
        text.lines().any(|l| l.contains("call answered")
            && l.contains("method=\"Issue\"")
            && l.contains("caller=\"orders-by-cert\"")),
        "the certificate caller is named in its call's line"
    );
    assert!(
        text.lines().count() > 50,
        "TRACE logging produced too little to be meaningful"
    );
    for secret in secrets.iter().filter(|s| s.len() >= 16) {
        assert!(
            !text.contains(secret.as_str()),
            "a secret reached the logs: {}…",
            &secret[..8]
        );
    }
}

/// Starts a server with mutual TLS whose caller `orders-by-cert` is named by
/// its certificate, and issues a session as that caller. Returns the
/// server's and the client's private keys (PEM).
async fn mtls_issue(dir: &std::path::Path) -> (String, String) {
    use inkan::{
        callers::{CallerConfig, Permission},
        tls::{ClientCertificates, TlsSettings},
    };
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
        ExtendedKeyUsagePurpose, IsCa, KeyPair,
    };
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let leaf = |names: Vec<String>, cn: &str, usage| {
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(
        vec!["localhost".into()],
        "inkan",
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) = leaf(vec![], "orders", ExtendedKeyUsagePurpose::ClientAuth);
    for (name, content) in [
        ("tls.crt", &server_cert),
        ("tls.key", &server_key),
        ("ca.crt", &ca.pem()),
    ] {
        std::fs::write(dir.join(name), content).unwrap();
    }
    let app = TestApp::spawn_with(
        common::Backend::Sqlite,
        Options {
            tls: Some(TlsSettings {
                cert_file: dir.join("tls.crt"),
                key_file: dir.join("tls.key"),
                client_ca_file: Some(dir.join("ca.crt")),
                client_certificates: Some(ClientCertificates::Optional),
                reload_interval: None,
            }),
            callers: vec![CallerConfig {
                name: "orders-by-cert".into(),
                certificate_subject: Some("CN=orders".into()),
                permissions: vec![Permission::Issue],
                ..CallerConfig::default()
            }],
            ..Options::default()
        },
    )
    .await;
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca.pem()))
        .domain_name("localhost")
        .identity(Identity::from_pem(&client_cert, &client_key));
    let channel = Endpoint::from_shared(format!("https://{}", app.grpc_addr))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    inkan::proto::v1::token_service_client::TokenServiceClient::new(channel)
        .issue(issue_request("user-45"))
        .await
        .expect("the certificate caller may issue");
    app.stop().await;
    (server_key, client_key)
}
