//! A key-set file is trusted only when nobody but its owner can write it,
//! at start-up and on every reload, and a reload never starts signing with
//! a key nobody has seen.

use crate::common;

#[cfg(unix)]
use common::chmod;
use common::{
    admin, assert_refused, issue_request, kid_of, metrics_showing, stderr, verify, TestApp,
};
use inkan::{
    config::Settings,
    keys::{rotation, KeyAlgorithm, KeySet, KeySetFile, KeyState},
    proto::v1::GetJwksRequest,
    server::Server,
};
use secrecy::SecretString;

fn refused(count: u32) -> String {
    format!("inkan_key_reloads_total{{outcome=\"refused\"}} {count}")
}

fn applied(count: u32) -> String {
    format!("inkan_key_reloads_total{{outcome=\"applied\"}} {count}")
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_world_writable_key_file_stops_start_up_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    KeySetFile::generate(KeyAlgorithm::EdDSA)
        .unwrap()
        .write(&keys)
        .unwrap();
    chmod(&keys, 0o666);
    let settings = Settings {
        keys_file: Some(keys.clone()),
        database_url: Some(SecretString::from(format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("ledger.db").display()
        ))),
        issuer: Some(common::ISSUER.into()),
        grpc_addr: Some("127.0.0.1:0".parse().unwrap()),
        http_addr: Some("127.0.0.1:0".parse().unwrap()),
        allow_open_issue: true,
        migrate_on_start: Some(true),
        ..Settings::default()
    };
    let err = match Server::build(settings.validate().unwrap()).await {
        Ok(_) => panic!("a key file anyone may write was trusted"),
        Err(err) => err.to_string(),
    };
    assert!(
        err.contains(keys.to_str().unwrap())
            && err.contains("writable by group and others")
            && err.contains("chmod 600"),
        "{err}"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_from_a_file_others_may_write_is_refused_until_it_is_fixed() {
    let app = TestApp::spawn(common::Backend::Sqlite).await;
    let mut client = app.client().await;
    // A valid next step, arriving in a file anyone may write: the content
    // is not to be trusted, whatever it says. Renamed into place, so the
    // watcher sees content and permissions change at once.
    let mut file = KeySetFile::read(&app.keys_path).unwrap();
    let next = rotation::add_next(&mut file, None).unwrap();
    let planted = app.keys_path.with_file_name("planted.json");
    std::fs::write(&planted, file.to_json()).unwrap();
    chmod(&planted, 0o666);
    std::fs::rename(&planted, &app.keys_path).unwrap();

    metrics_showing(&app, &refused(1)).await;
    let jwks = client
        .get_jwks(GetJwksRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        !jwks.jwks_json.contains(&next),
        "a key from a writable file was published"
    );

    // Fixed by its owner, the same content is looked at again and taken.
    chmod(&app.keys_path, 0o600);
    metrics_showing(&app, &applied(1)).await;
    let jwks = client
        .get_jwks(GetJwksRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(jwks.jwks_json.contains(&next), "{}", jwks.jwks_json);
    app.stop().await;
}

#[cfg(unix)]
#[test]
fn check_warns_of_a_key_file_others_can_read_and_refuses_one_they_can_write() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite://{}/ledger.db?mode=rwc", dir.path().display());
    let config = common::server_config(dir.path(), &ledger, "");
    let keys = dir.path().join("keys.json");
    common::migrate_with(config.to_str().unwrap(), dir.path());
    let check = || common::run_inkan(&["check", "--config", config.to_str().unwrap()], dir.path());

    chmod(&keys, 0o644);
    let out = check();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "warning: key set {} is readable by others",
            keys.display()
        )) && stderr(&out).contains("chmod 600"),
        "{}",
        stderr(&out)
    );

    chmod(&keys, 0o646);
    let out = check();
    assert!(!out.status.success(), "a key file others may write passed");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(keys.to_str().unwrap()) && err.contains("writable by others"),
        "{err}"
    );
}

/// An attacker's key set: one key of their own, `evil-1`, active.
fn attackers_set() -> KeySetFile {
    let mut file = KeySetFile::generate(KeyAlgorithm::EdDSA).unwrap();
    file.keys[0].kid = "evil-1".into();
    file
}

/// A token for the server's issuer, signed with `file`'s active key.
fn signed_with(file: &KeySetFile) -> String {
    let set = KeySet::from_file_contents(file).unwrap();
    let key = set.active();
    let mut header = jsonwebtoken::Header::new(key.alg().jws());
    header.typ = Some("at+jwt".into());
    header.kid = Some(key.kid().to_string());
    let claims = common::claims_for(&uuid::Uuid::new_v4().to_string());
    jsonwebtoken::encode(&header, &claims, key.encoding_key()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_file_overwritten_with_an_unpublished_key_never_signs() {
    let app = TestApp::spawn(common::Backend::Sqlite).await;
    let mut client = app.client().await;
    let ours = app.keys.active().kid().to_string();

    // The attacker's set alone, then with our key kept beside theirs (so
    // our tokens would still verify and nobody would notice).
    let original = KeySetFile::read(&app.keys_path).unwrap();
    let alone = attackers_set();
    alone.write(&app.keys_path).unwrap();
    metrics_showing(&app, &refused(1)).await;
    let mut beside = original;
    beside.keys[0].state = KeyState::VerifyOnly;
    beside.keys.extend(attackers_set().keys);
    beside.write(&app.keys_path).unwrap();
    metrics_showing(&app, &refused(2)).await;

    let pair = client
        .issue(admin(issue_request("user-1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        kid_of(&pair.access_token),
        ours,
        "still signing with our key"
    );
    client.verify(verify(&pair.access_token)).await.unwrap();
    for evil in [signed_with(&alone), signed_with(&beside)] {
        assert_eq!(kid_of(&evil), "evil-1");
        assert_refused(client.verify(verify(&evil)).await, "KEY_UNKNOWN");
    }
    let jwks = client
        .get_jwks(GetJwksRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(!jwks.jwks_json.contains("evil-1"), "{}", jwks.jwks_json);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_swap_to_an_unpublished_key_needs_the_key_files_say_so() {
    let app = TestApp::spawn(common::Backend::Sqlite).await;
    let mut client = app.client().await;
    let before = client
        .issue(admin(issue_request("user-1")))
        .await
        .unwrap()
        .into_inner();

    // The old key is compromised: sign with a fresh one at once, keeping
    // the old one only to verify what it signed.
    let mut swap = KeySetFile::read(&app.keys_path).unwrap();
    swap.keys[0].state = KeyState::VerifyOnly;
    let mut fresh = KeySetFile::generate(KeyAlgorithm::EdDSA).unwrap();
    fresh.keys[0].allow_unpublished = true;
    let fresh_kid = fresh.keys[0].kid.clone();
    swap.keys.extend(fresh.keys);
    swap.write(&app.keys_path).unwrap();
    metrics_showing(&app, &applied(1)).await;

    let after = client
        .issue(admin(issue_request("user-2")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kid_of(&after.access_token), fresh_kid);
    client.verify(verify(&after.access_token)).await.unwrap();
    client.verify(verify(&before.access_token)).await.unwrap();
    app.stop().await;
}
