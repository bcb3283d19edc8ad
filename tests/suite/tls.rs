//! TLS and callers named by their client certificate: who gets to Issue
//! over plain TCP (API keys) and over mutual TLS (certificates), the JWKS
//! over HTTPS, certificates replaced under a running server, and
//! certificates that must not be served.

use std::{sync::Arc, time::Duration};

use inkan::{
    callers::{CallerConfig, Permission},
    config::Settings,
    proto::v1::{token_service_client::TokenServiceClient, VerifyRequest},
    server::Server,
    tls::{ClientCertificates, TlsSettings},
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::common::{
    self, assert_refused, eventually, issue_request, metrics_showing, with_key, Backend, Options,
    TestApp, ISSUER_KEY, VERIFIER_KEY,
};

/// A certificate authority made for one test.
pub(crate) struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, PEM.
#[derive(Clone)]
pub(crate) struct Leaf {
    pub(crate) cert: String,
    pub(crate) key: String,
}

impl Ca {
    pub(crate) fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    pub(crate) fn pem(&self) -> String {
        self.issuer.pem()
    }

    pub(crate) fn sign(&self, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// A server certificate for 127.0.0.1 and localhost.
    pub(crate) fn server(&self) -> Leaf {
        self.sign(server_params())
    }

    /// A client certificate with `common_name` as its subject and `sans`.
    pub(crate) fn client(&self, common_name: &str, sans: Vec<SanType>) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }
}

fn server_params() -> CertificateParams {
    let mut params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, "inkan");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params
}

pub(crate) fn spiffe(id: &str) -> SanType {
    SanType::URI(id.try_into().unwrap())
}

/// Where the server's TLS files live, laid out as Kubernetes mounts a
/// Secret: each file a symlink through `..data`, which an update swaps.
pub(crate) struct Mount {
    dir: tempfile::TempDir,
    generation: u32,
}

impl Mount {
    pub(crate) fn new(server: &Leaf, client_ca: &str) -> Self {
        let mut mount = Self {
            dir: tempfile::tempdir().unwrap(),
            generation: 0,
        };
        mount.update(server, client_ca);
        for name in ["tls.crt", "tls.key", "ca.crt"] {
            std::os::unix::fs::symlink(format!("..data/{name}"), mount.dir.path().join(name))
                .unwrap();
        }
        mount
    }

    /// Writes a new generation and swaps `..data` to it in one rename.
    pub(crate) fn update(&mut self, server: &Leaf, client_ca: &str) {
        self.update_then(server, client_ca, |_| {});
    }

    /// [`Mount::update`], with `before_swap` given the new generation's
    /// directory before `..data` points at it (to set its files' modes).
    pub(crate) fn update_then(
        &mut self,
        server: &Leaf,
        client_ca: &str,
        before_swap: impl FnOnce(&std::path::Path),
    ) {
        self.generation += 1;
        let generation = format!("..gen{}", self.generation);
        let target = self.dir.path().join(&generation);
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("tls.crt"), &server.cert).unwrap();
        std::fs::write(target.join("tls.key"), &server.key).unwrap();
        std::fs::write(target.join("ca.crt"), client_ca).unwrap();
        before_swap(&target);
        let link = self.dir.path().join("..data_tmp");
        std::os::unix::fs::symlink(&generation, &link).unwrap();
        std::fs::rename(&link, self.dir.path().join("..data")).unwrap();
    }

    pub(crate) fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// The file `name`'s link resolves to now, in the current generation.
    pub(crate) fn real(&self, name: &str) -> std::path::PathBuf {
        self.dir
            .path()
            .join(format!("..gen{}", self.generation))
            .join(name)
    }

    pub(crate) fn settings(&self, client_certificates: Option<ClientCertificates>) -> TlsSettings {
        TlsSettings {
            cert_file: self.path("tls.crt"),
            key_file: self.path("tls.key"),
            client_ca_file: client_certificates.map(|_| self.path("ca.crt")),
            client_certificates,
            reload_interval: Some(Duration::from_millis(50)),
        }
    }
}

/// A gRPC client over TLS trusting `ca`, presenting `identity` if given.
pub(crate) async fn tls_client(
    app: &TestApp,
    ca: &str,
    identity: Option<&Leaf>,
) -> Result<TokenServiceClient<Channel>, tonic::transport::Error> {
    Ok(TokenServiceClient::new(
        tls_channel(app, ca, identity).await?,
    ))
}

async fn tls_channel(
    app: &TestApp,
    ca: &str,
    identity: Option<&Leaf>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some(leaf) = identity {
        tls = tls.identity(Identity::from_pem(&leaf.cert, &leaf.key));
    }
    Endpoint::from_shared(format!("https://{}", app.grpc_addr))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await
}

pub(crate) fn cert_caller(
    name: &str,
    subject: Option<&str>,
    san: Option<&str>,
    p: Vec<Permission>,
) -> CallerConfig {
    CallerConfig {
        name: name.into(),
        certificate_subject: subject.map(Into::into),
        certificate_san: san.map(Into::into),
        permissions: p,
        ..CallerConfig::default()
    }
}

/// A call the server's TLS handshake refused: it never reached inkan, so
/// it carries no inkan reason. In TLS 1.3 the client finishes its side of
/// the handshake before the server checks the client's certificate, so a
/// gRPC client sees, depending on timing, a failed connect (UNAVAILABLE),
/// the server's alert on its first call (UNKNOWN) or the connection closed
/// under that call (CANCELLED): a transport failure, never inkan's answer.
/// [`server_alert`] shows the alert itself.
pub(crate) fn assert_refused_in_handshake(refused: &tonic::Status) {
    assert!(
        !matches!(
            refused.code(),
            tonic::Code::Ok | tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
        ),
        "{refused:?}"
    );
    assert!(
        tonic_types::StatusExt::get_details_error_info(refused).is_none(),
        "refused at the handshake, not by inkan: {refused:?}"
    );
}

/// The error a raw TLS client trusting `ca` and presenting `leaf` (or
/// nothing) reads from the gRPC port once its side of the handshake is
/// done: the alert the server answers a refused certificate with.
pub(crate) async fn server_alert(app: &TestApp, ca: &str, leaf: Option<&Leaf>) -> String {
    use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(inkan::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match leaf {
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
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(app.grpc_addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut stream = match connector.connect(name, tcp).await {
        Ok(stream) => stream,
        Err(err) => return err.to_string(),
    };
    // The HTTP/2 preface, as a gRPC client would send it.
    let _ = stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
    let mut buf = Vec::new();
    match stream.read_to_end(&mut buf).await {
        Ok(_) => "no error".into(),
        Err(err) => err.to_string(),
    }
}

/// What a client presenting `leaf` (or nothing) gets from Issue, over a
/// fresh connection.
pub(crate) async fn issue_as(
    app: &TestApp,
    ca: &str,
    leaf: Option<&Leaf>,
) -> Result<tonic::Response<inkan::proto::v1::TokenPair>, tonic::Status> {
    match tls_client(app, ca, leaf).await {
        Ok(mut client) => client.issue(issue_request("user-1")).await,
        Err(err) => Err(tonic::Status::unavailable(format!("connect failed: {err}"))),
    }
}

async fn who_may_issue_over_tcp_and_mtls(backend: Backend) {
    let ca = Ca::new("inkan test CA");
    let mount = Mount::new(&ca.server(), &ca.pem());
    let app = TestApp::spawn_with(
        backend,
        Options {
            tls: Some(mount.settings(Some(ClientCertificates::Optional))),
            callers: vec![
                cert_caller(
                    "orders",
                    Some("CN=orders,O=Example"),
                    None,
                    vec![Permission::Issue],
                ),
                cert_caller(
                    "billing",
                    None,
                    Some("spiffe://cluster/ns/billing/sa/api"),
                    vec![Permission::Issue],
                ),
                cert_caller(
                    "reports",
                    Some("CN=reports"),
                    None,
                    vec![Permission::Verify],
                ),
            ],
            ..Options::default()
        },
    )
    .await;
    let ca_pem = ca.pem();

    // API keys, over TLS without a client certificate.
    let mut client = tls_client(&app, &ca_pem, None).await.unwrap();
    assert_refused(
        client.issue(issue_request("user-1")).await,
        "CALLER_UNAUTHENTICATED",
    );
    assert_refused(
        client
            .issue(with_key(issue_request("user-1"), "not-a-key"))
            .await,
        "CALLER_UNAUTHENTICATED",
    );
    assert_refused(
        client
            .issue(with_key(issue_request("user-1"), VERIFIER_KEY))
            .await,
        "CALLER_FORBIDDEN",
    );
    client
        .issue(with_key(issue_request("user-1"), ISSUER_KEY))
        .await
        .expect("the issuing API key is accepted over TLS");

    // Certificates.
    let mut orders_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    orders_params.distinguished_name = DistinguishedName::new();
    orders_params
        .distinguished_name
        .push(DnType::OrganizationName, "Example");
    orders_params
        .distinguished_name
        .push(DnType::CommonName, "orders");
    orders_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let orders = ca.sign(orders_params);
    let billing = ca.client(
        "billing-pod-7",
        vec![spiffe("spiffe://cluster/ns/billing/sa/api")],
    );
    let reports = ca.client("reports", vec![]);
    let stranger = ca.client("stranger", vec![spiffe("spiffe://cluster/ns/other/sa/api")]);
    let outsider_ca = Ca::new("someone else's CA");
    let outsider = outsider_ca.client("orders", vec![]);

    let pair = issue_as(&app, &ca_pem, Some(&orders))
        .await
        .expect("orders, named by its subject, may issue")
        .into_inner();
    issue_as(&app, &ca_pem, Some(&billing))
        .await
        .expect("billing, named by its SPIFFE ID, may issue");
    assert_refused(
        issue_as(&app, &ca_pem, Some(&reports)).await,
        "CALLER_FORBIDDEN",
    );
    assert_refused(
        issue_as(&app, &ca_pem, Some(&stranger)).await,
        "CALLER_UNAUTHENTICATED",
    );
    // Signed by a CA the server does not trust: the handshake fails, so
    // the call never reaches inkan and carries no inkan reason.
    let refused = issue_as(&app, &ca_pem, Some(&outsider))
        .await
        .expect_err("a certificate from an unknown CA is refused");
    assert_refused_in_handshake(&refused);
    let alert = server_alert(&app, &ca_pem, Some(&outsider)).await;
    assert!(alert.contains("UnknownCA"), "{alert}");

    // A certificate caller with `verify` only may Verify.
    let mut reports_client = tls_client(&app, &ca_pem, Some(&reports)).await.unwrap();
    reports_client
        .verify(VerifyRequest {
            access_token: pair.access_token,
            ..VerifyRequest::default()
        })
        .await
        .expect("reports may verify");

    app.stop().await;
}

backend_fns!(who_may_issue_over_tcp_and_mtls);

/// `client_certificates = "required"`: no certificate, no connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_client_certificate_refuses_clients_without_one() {
    let ca = Ca::new("inkan test CA");
    let mount = Mount::new(&ca.server(), &ca.pem());
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            tls: Some(mount.settings(Some(ClientCertificates::Required))),
            callers: vec![cert_caller(
                "orders",
                Some("CN=orders"),
                None,
                vec![Permission::Issue],
            )],
            ..Options::default()
        },
    )
    .await;
    let refused = issue_as(&app, &ca.pem(), None)
        .await
        .expect_err("no certificate, no call");
    assert_refused_in_handshake(&refused);
    let alert = server_alert(&app, &ca.pem(), None).await;
    assert!(alert.contains("CertificateRequired"), "{alert}");
    issue_as(&app, &ca.pem(), Some(&ca.client("orders", vec![])))
        .await
        .expect("orders may issue");
    app.stop().await;
}

/// A SAN names a caller only as the type it is configured as: a URI
/// (a SPIFFE ID) only by a URI SAN, exactly; a DNS name only by a DNS SAN,
/// in any case. A DNS SAN spelled like the SPIFFE ID, an upper-cased one, a
/// URI SAN spelled like the DNS name or one with a trailing newline names
/// nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_san_names_a_caller_only_as_the_type_it_is_configured_as() {
    const BILLING: &str = "spiffe://cluster.local/ns/billing/sa/api";
    let ca = Ca::new("inkan test CA");
    let mount = Mount::new(&ca.server(), &ca.pem());
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            tls: Some(mount.settings(Some(ClientCertificates::Optional))),
            callers: vec![
                cert_caller("billing", None, Some(BILLING), vec![Permission::Issue]),
                cert_caller(
                    "reports",
                    None,
                    Some("reports.internal"),
                    vec![Permission::Issue],
                ),
            ],
            ..Options::default()
        },
    )
    .await;
    let ca_pem = ca.pem();
    let dns = |name: &str| SanType::DnsName(name.try_into().unwrap());
    let uri = |name: &str| SanType::URI(name.try_into().unwrap());

    issue_as(
        &app,
        &ca_pem,
        Some(&ca.client("billing-pod", vec![uri(BILLING)])),
    )
    .await
    .expect("the real URI SAN names billing");
    issue_as(
        &app,
        &ca_pem,
        Some(&ca.client("reports-pod", vec![dns("Reports.Internal")])),
    )
    .await
    .expect("a DNS SAN names reports in any case");

    for (what, san) in [
        ("a DNS SAN spelled like the SPIFFE ID", dns(BILLING)),
        (
            "a DNS SAN spelled like the SPIFFE ID, upper-cased",
            dns(&BILLING.to_ascii_uppercase()),
        ),
        ("an upper-cased URI SAN", uri(&BILLING.to_ascii_uppercase())),
        (
            "a URI SAN with a trailing newline",
            uri(&format!("{BILLING}\n")),
        ),
        (
            "a URI SAN spelled like the DNS name",
            uri("Reports.Internal"),
        ),
        (
            "a URI SAN spelled like the DNS name, as configured",
            uri("reports.internal"),
        ),
        ("a DNS SAN with a trailing space", dns("reports.internal ")),
    ] {
        let leaf = ca.client("impostor", vec![san]);
        let result = issue_as(&app, &ca_pem, Some(&leaf)).await;
        assert!(result.is_err(), "{what} named a caller");
        assert_refused(result, "CALLER_UNAUTHENTICATED");
    }
    app.stop().await;
}

/// `verify_requires_permission`: Verify only for callers with `verify`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_can_be_restricted_to_the_verify_permission() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            verify_requires_permission: true,
            callers: vec![CallerConfig {
                name: "gateway".into(),
                api_key_sha256: Some(inkan::callers::api_key_sha256("gateway-key")),
                permissions: vec![Permission::Verify],
                ..CallerConfig::default()
            }],
            ..Options::default()
        },
    )
    .await;
    let mut client = app.client().await;
    let pair = client
        .issue(with_key(issue_request("user-1"), ISSUER_KEY))
        .await
        .unwrap()
        .into_inner();
    let verify = |key: &str| {
        with_key(
            VerifyRequest {
                access_token: pair.access_token.clone(),
                ..VerifyRequest::default()
            },
            key,
        )
    };
    assert_refused(client.verify(verify(ISSUER_KEY)).await, "CALLER_FORBIDDEN");
    client
        .verify(verify("gateway-key"))
        .await
        .expect("the caller with verify may verify");
    app.stop().await;
}

/// A raw HTTPS GET trusting `ca`: status line and body.
async fn https_get(
    addr: std::net::SocketAddr,
    ca: &str,
    path: &str,
) -> std::io::Result<(String, String)> {
    use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(inkan::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let mut stream = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    Ok((
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwks_is_served_over_tls() {
    let ca = Ca::new("inkan test CA");
    let mount = Mount::new(&ca.server(), &ca.pem());
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            tls: Some(mount.settings(None)),
            ..Options::default()
        },
    )
    .await;
    let (status, body) = https_get(app.http_addr, &ca.pem(), "/.well-known/jwks.json")
        .await
        .expect("HTTPS to the JWKS");
    assert!(status.contains("200"), "{status}");
    let jwks: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        jwks["keys"][0]["kid"],
        app.keys.active().kid().to_string(),
        "{body}"
    );
    // Plain HTTP gets no JWKS from a TLS port.
    let plain = tokio::time::timeout(Duration::from_secs(10), async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = tokio::net::TcpStream::connect(app.http_addr).await.unwrap();
        let _ = tcp
            .write_all(b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        let mut raw = Vec::new();
        let _ = tcp.read_to_end(&mut raw).await;
        raw
    })
    .await
    .expect("the server drops a plaintext client");
    assert!(!String::from_utf8_lossy(&plain).contains("\"keys\""));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_certificate_serves_new_connections_and_keeps_open_ones() {
    let old_ca = Ca::new("old CA");
    let new_ca = Ca::new("new CA");
    let mut mount = Mount::new(&old_ca.server(), &old_ca.pem());
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            tls: Some(mount.settings(None)),
            ..Options::default()
        },
    )
    .await;
    // A connection made with the old certificate, and used.
    let mut open = tls_client(&app, &old_ca.pem(), None).await.unwrap();
    open.issue(with_key(issue_request("user-1"), ISSUER_KEY))
        .await
        .unwrap();
    assert!(
        tls_client(&app, &new_ca.pem(), None).await.is_err(),
        "the new certificate is not served yet"
    );

    // The Secret is updated: a certificate from another CA.
    let new_leaf = new_ca.server();
    mount.update(&new_leaf, &new_ca.pem());
    metrics_showing(&app, "inkan_tls_reloads_total{outcome=\"applied\"} 1").await;
    let mut fresh = tls_client(&app, &new_ca.pem(), None)
        .await
        .expect("the next connection gets the new certificate, no restart");
    fresh
        .issue(with_key(issue_request("user-2"), ISSUER_KEY))
        .await
        .unwrap();
    assert!(
        tls_client(&app, &old_ca.pem(), None).await.is_err(),
        "new connections no longer get the old certificate"
    );
    open.issue(with_key(issue_request("user-3"), ISSUER_KEY))
        .await
        .expect("the connection opened before the reload is not dropped");

    // A bad update: a certificate with another certificate's key. It is
    // refused and counted; the certificate in force stays.
    let other = new_ca.server();
    mount.update(
        &Leaf {
            cert: new_ca.server().cert,
            key: other.key,
        },
        &new_ca.pem(),
    );
    metrics_showing(&app, "inkan_tls_reloads_total{outcome=\"refused\"} 1").await;
    let mut after = tls_client(&app, &new_ca.pem(), None)
        .await
        .expect("the certificate in force stays");
    after
        .issue(with_key(issue_request("user-4"), ISSUER_KEY))
        .await
        .unwrap();
    app.stop().await;
}

/// Settings for a server on 127.0.0.1 with its ledger and keys in `dir`
/// and TLS from `mount`.
pub(crate) fn tls_server_settings(dir: &std::path::Path, mount: &Mount) -> Settings {
    let keys = dir.join("keys.json");
    inkan::keys::KeySetFile::generate(inkan::keys::KeyAlgorithm::EdDSA)
        .unwrap()
        .write(&keys)
        .unwrap();
    Settings {
        keys_file: Some(keys),
        database_url: Some(format!("sqlite://{}?mode=rwc", dir.join("l.db").display()).into()),
        issuer: Some(common::ISSUER.into()),
        allow_open_issue: true,
        migrate_on_start: Some(true),
        grpc_addr: Some("127.0.0.1:0".parse().unwrap()),
        http_addr: Some("127.0.0.1:0".parse().unwrap()),
        metrics_addr: Some("127.0.0.1:0".parse().unwrap()),
        tls: Some(mount.settings(None)),
        ..Settings::default()
    }
}

/// What `Server::build` says about the TLS files in `mount`.
pub(crate) async fn startup_refusal(mount: &Mount) -> String {
    let dir = tempfile::tempdir().unwrap();
    let settings = tls_server_settings(dir.path(), mount);
    match Server::build(settings.validate().unwrap()).await {
        Ok(_) => panic!("the server started"),
        Err(err) => err.to_string(),
    }
}

/// `message` quotes neither the key nor the certificate.
pub(crate) fn assert_no_pem(message: &str, leaf: &Leaf) {
    assert!(!message.contains("PRIVATE KEY-----"), "{message}");
    for pem in [&leaf.key, &leaf.cert] {
        if let Some(body) = pem.lines().nth(1) {
            assert!(!message.contains(body), "{message}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_that_is_not_its_keys_pair_refuses_start_up() {
    let ca = Ca::new("inkan test CA");
    let (one, two) = (ca.server(), ca.server());
    let mismatched = Leaf {
        cert: one.cert,
        key: two.key,
    };
    let mount = Mount::new(&mismatched, &ca.pem());
    let message = startup_refusal(&mount).await;
    assert!(
        message.contains(&mount.path("tls.crt").display().to_string())
            && message.contains("does not match"),
        "{message}"
    );
    assert_no_pem(&message, &mismatched);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_refuses_start_up_and_check() {
    let ca = Ca::new("inkan test CA");
    let mut params = server_params();
    params.not_before = rcgen::date_time_ymd(2019, 1, 1);
    params.not_after = rcgen::date_time_ymd(2020, 1, 1);
    let expired = ca.sign(params);
    let mount = Mount::new(&expired, &ca.pem());
    let message = startup_refusal(&mount).await;
    assert!(
        message.contains(&mount.path("tls.crt").display().to_string())
            && message.contains("expired at 2020-01-01"),
        "{message}"
    );
    assert_no_pem(&message, &expired);

    // `inkan check` reads the same files and says the same.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("l.db").display());
    let config = common::server_config(
        dir.path(),
        &url,
        &format!(
            "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
            mount.path("tls.crt").display().to_string(),
            mount.path("tls.key").display().to_string()
        ),
    );
    let out = common::run_inkan(&["check", "--config", config.to_str().unwrap()], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("expired at 2020-01-01"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_file_that_does_not_parse_is_named() {
    let ca = Ca::new("inkan test CA");
    let good = ca.server();
    let mount = Mount::new(
        &Leaf {
            cert: "not a certificate\n".into(),
            key: good.key.clone(),
        },
        &ca.pem(),
    );
    let message = startup_refusal(&mount).await;
    assert!(
        message.contains(&mount.path("tls.crt").display().to_string())
            && message.contains("no PEM certificate"),
        "{message}"
    );
    assert_no_pem(&message, &good);
}

/// The kubelet's gRPC probes cannot speak TLS: `health_addr` serves health,
/// and only health, in plain text beside the TLS port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_health_is_served_beside_tls_for_probes() {
    let ca = Ca::new("inkan test CA");
    let mount = Mount::new(&ca.server(), &ca.pem());
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        health_addr: Some("127.0.0.1:0".parse().unwrap()),
        ..tls_server_settings(dir.path(), &mount)
    };
    let server = Server::build(settings.validate().unwrap()).await.unwrap();
    let (health, grpc) = (server.health_addr().unwrap(), server.grpc_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    // 1 is SERVING.
    eventually(
        "plain health says SERVING",
        Duration::from_secs(20),
        || async { common::ledger_health(health).await == Some(1) },
    )
    .await;
    let plain = Channel::from_shared(format!("http://{health}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let refused = TokenServiceClient::new(plain)
        .issue(issue_request("user-1"))
        .await
        .expect_err("only health is served in plain text");
    assert_eq!(refused.code(), tonic::Code::Unimplemented, "{refused:?}");
    assert_eq!(
        common::ledger_health(grpc).await,
        None,
        "the gRPC port itself speaks only TLS"
    );
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}
