//! The TLS files are trusted as the key-set file is: one that group or
//! others may write (or replace, through its directory) is refused at
//! start-up, in `inkan check` and on every reload. Whoever can write the
//! client CA can mint a certificate for any caller, admin included.
#![cfg(unix)]

use inkan::{
    callers::Permission,
    config::Settings,
    server::Server,
    tls::{ClientCertificates, TlsSettings},
};

use crate::{
    common::{
        self, chmod, issue_request, metrics_showing, with_key, Backend, Options, TestApp,
        ISSUER_KEY,
    },
    tls::{
        assert_refused_in_handshake, cert_caller, issue_as, tls_client, tls_server_settings, Ca,
        Mount,
    },
};

fn with_client_ca(mount: &Mount) -> TlsSettings {
    mount.settings(Some(ClientCertificates::Optional))
}

/// What `Server::build` says about `mount`'s files, client CA included.
async fn startup_refusal(mount: &Mount) -> String {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        tls: Some(with_client_ca(mount)),
        ..tls_server_settings(dir.path(), mount)
    };
    match Server::build(settings.validate().unwrap()).await {
        Ok(_) => panic!("the server started"),
        Err(err) => err.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_world_writable_client_ca_stops_start_up_naming_the_file() {
    let ca = Ca::new("inkan test CA");
    let mount = Mount::new(&ca.server(), &ca.pem());
    chmod(&mount.real("ca.crt"), 0o666);
    let message = startup_refusal(&mount).await;
    assert!(
        message.contains(&mount.path("ca.crt").display().to_string())
            && message.contains("writable by group and others")
            && message.contains("chmod go-w"),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");

    // The server's own certificate and key, likewise.
    chmod(&mount.real("ca.crt"), 0o644);
    chmod(&mount.real("tls.key"), 0o620);
    let message = startup_refusal(&mount).await;
    assert!(
        message.contains(&mount.path("tls.key").display().to_string())
            && message.contains("writable by its group"),
        "{message}"
    );
    chmod(&mount.real("tls.key"), 0o600);
    chmod(&mount.real("tls.crt"), 0o646);
    let message = startup_refusal(&mount).await;
    assert!(
        message.contains(&mount.path("tls.crt").display().to_string())
            && message.contains("writable by others"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_file_in_a_directory_others_may_write_stops_start_up() {
    let ca = Ca::new("inkan test CA");
    let mount = Mount::new(&ca.server(), &ca.pem());
    let generation = mount.real("ca.crt").parent().unwrap().to_owned();
    chmod(&generation, 0o777);
    let message = startup_refusal(&mount).await;
    assert!(
        message.contains(&mount.path("tls.crt").display().to_string())
            && message.contains(&generation.display().to_string())
            && message.contains("sticky"),
        "{message}"
    );
    chmod(&generation, 0o755);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_to_a_world_writable_client_ca_is_refused_and_the_old_material_serves() {
    let ca = Ca::new("inkan test CA");
    let server = ca.server();
    let mut mount = Mount::new(&server, &ca.pem());
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            tls: Some(with_client_ca(&mount)),
            callers: vec![cert_caller(
                "admin-by-cert",
                Some("CN=root"),
                None,
                vec![Permission::Admin, Permission::Issue],
            )],
            ..Options::default()
        },
    )
    .await;
    let ca_pem = ca.pem();

    // Someone who may write ca.crt puts their own CA in it, and signs a
    // certificate for the admin caller.
    let theirs = Ca::new("attacker CA");
    let forged = theirs.client("root", vec![]);
    mount.update_then(&server, &theirs.pem(), |generation| {
        chmod(&generation.join("ca.crt"), 0o666)
    });
    metrics_showing(&app, "inkan_tls_reloads_total{outcome=\"refused\"} 1").await;
    let refused = issue_as(&app, &ca_pem, Some(&forged))
        .await
        .expect_err("a certificate from the planted CA is refused");
    assert_refused_in_handshake(&refused);
    issue_as(&app, &ca_pem, Some(&ca.client("root", vec![])))
        .await
        .expect("the client CA in force still serves");
    let mut client = tls_client(&app, &ca_pem, None).await.unwrap();
    client
        .issue(with_key(issue_request("user-1"), ISSUER_KEY))
        .await
        .expect("the server certificate in force still serves");

    // Fixed by its owner, the same content is looked at again and taken:
    // it was refused for who may write it, not for what it says.
    chmod(&mount.real("ca.crt"), 0o644);
    metrics_showing(&app, "inkan_tls_reloads_total{outcome=\"applied\"} 1").await;
    issue_as(&app, &ca_pem, Some(&forged))
        .await
        .expect("the CA now in the file, trusted, is in force");
    app.stop().await;
}

#[test]
fn check_refuses_a_world_writable_client_ca_and_warns_of_a_readable_key() {
    let ca = Ca::new("inkan test CA");
    let mount = Mount::new(&ca.server(), &ca.pem());
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("l.db").display());
    let config = common::server_config(
        dir.path(),
        &url,
        &format!(
            "[tls]\ncert_file = {:?}\nkey_file = {:?}\nclient_ca_file = {:?}\n",
            mount.path("tls.crt").display().to_string(),
            mount.path("tls.key").display().to_string(),
            mount.path("ca.crt").display().to_string(),
        ),
    );
    common::migrate_with(config.to_str().unwrap(), dir.path());
    let check = || common::run_inkan(&["check", "--config", config.to_str().unwrap()], dir.path());
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).into_owned();

    // A private key others may read is served, with a warning.
    chmod(&mount.real("tls.key"), 0o644);
    let out = check();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "warning: TLS private key {} is readable by others",
            mount.path("tls.key").display()
        )),
        "{}",
        stderr(&out)
    );
    chmod(&mount.real("tls.key"), 0o600);
    let out = check();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));

    chmod(&mount.real("ca.crt"), 0o666);
    let out = check();
    assert!(!out.status.success(), "a client CA anyone may write passed");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&mount.path("ca.crt").display().to_string())
            && err.contains("writable by group and others"),
        "{err}"
    );
}
