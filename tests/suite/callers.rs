//! An operator makes a caller's API key with `inkan callers add`, pastes
//! the printed stanza into the configuration, and the caller gets in with
//! the key, and only with its permissions.

use crate::common;

use common::{assert_refused, issue_request, with_key};
use inkan::{
    config::Settings,
    keys::{KeyAlgorithm, KeySetFile},
    proto::v1::ListSessionsRequest,
    server::Server,
};
use sha2::{Digest, Sha256};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_from_callers_add_lets_its_caller_issue() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::run_inkan(
        &[
            "callers",
            "add",
            "--name",
            "login-service",
            "--permission",
            "issue",
            "--permission",
            "refresh",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.contains("shown this once"), "{printed}");
    let key = printed
        .lines()
        .find(|l| l.starts_with("inkan_"))
        .expect("the key is printed")
        .to_owned();
    let stanza = &printed[printed.find("[[callers]]").expect("the stanza")..];
    let hash: String = Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        stanza.contains(&format!("api_key_sha256 = \"{hash}\"")),
        "{stanza}"
    );
    assert!(
        !stanza.contains(&key),
        "the configuration never holds the key"
    );

    let keys = dir.path().join("keys.json");
    KeySetFile::generate(KeyAlgorithm::EdDSA)
        .unwrap()
        .write(&keys)
        .unwrap();
    let config = dir.path().join("inkan.toml");
    std::fs::write(
        &config,
        format!(
            "keys_file = {:?}\ndatabase_url = \"sqlite://{}/ledger.db?mode=rwc\"\n\
             issuer = \"{}\"\ngrpc_addr = \"127.0.0.1:0\"\nhttp_addr = \"127.0.0.1:0\"\n\
             migrate_on_start = true\n\n{stanza}",
            keys.to_str().unwrap(),
            dir.path().display(),
            common::ISSUER,
        ),
    )
    .unwrap();
    common::migrate_with(config.to_str().unwrap(), dir.path());
    let checked = common::run_inkan(&["check", "--config", config.to_str().unwrap()], dir.path());
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );

    let settings = Settings::load(Some(&config)).unwrap();
    let server = Server::build(settings.validate().unwrap()).await.unwrap();
    let addr = server.grpc_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = inkan::proto::v1::token_service_client::TokenServiceClient::new(channel);

    let pair = client
        .issue(with_key(issue_request("user-42"), &key))
        .await
        .expect("the new key may Issue")
        .into_inner();
    assert!(!pair.access_token.is_empty());
    // Only what it was given: no admin.
    assert_refused(
        client
            .list_sessions(with_key(
                ListSessionsRequest {
                    subject: "user-42".into(),
                },
                &key,
            ))
            .await,
        "CALLER_FORBIDDEN",
    );
    assert_refused(
        client
            .issue(with_key(issue_request("user-42"), "inkan_not-the-key"))
            .await,
        "CALLER_UNAUTHENTICATED",
    );
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}
