//! One key-set file, three readers: start-up, a running server's reload and
//! the command line take the same bytes the same way, because they read
//! them through one loader. (A lossy start-up once took bytes that are not
//! UTF-8, which the reload refused.)

use crate::common;

use std::{path::Path, time::Duration};

use common::{chmod, metrics_showing, Backend, TestApp};
use inkan::{
    config::Settings,
    keys::{rotation, KeySetFile},
    server::Server,
};
use secrecy::SecretString;

/// One file to read: its bytes, its mode, and whether it may be trusted.
struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    mode: u32,
    accepted: bool,
    /// What a refusal says, whoever reads the file.
    refusal: &'static str,
}

/// What the issuer of the added legacy key says, where the cases differ.
const MARK: &str = "MARK";

/// The app's key set with a former system's key added (a change a reload
/// takes: the active key stays), whose issuer holds `MARK` as written, or
/// with a byte that is not UTF-8 in its place: a lossy reading turns it
/// into U+FFFD, an issuer like any other.
fn cases(app: &TestApp) -> Vec<Case> {
    let mut file = KeySetFile::read(&app.keys_path).unwrap();
    let sunset = std::time::SystemTime::now() + Duration::from_secs(86_400);
    let issuer = format!("https://old-{MARK}.example");
    let secret: [u8; 32] = rand::random();
    rotation::add_legacy(&mut file, "old", &secret, sunset, Some(issuer), None).unwrap();
    let valid = file.to_json().into_bytes();
    let at = file.to_json().find(MARK).unwrap();
    let mut not_utf8 = valid.clone();
    not_utf8.splice(at..at + MARK.len(), [0xff]);
    vec![
        Case {
            name: "not-utf8",
            bytes: not_utf8,
            mode: 0o600,
            accepted: false,
            refusal: "is not UTF-8 text",
        },
        Case {
            name: "world-writable",
            bytes: valid.clone(),
            mode: 0o666,
            accepted: false,
            refusal: "writable by group and others",
        },
        Case {
            name: "valid",
            bytes: valid,
            mode: 0o600,
            accepted: true,
            refusal: "",
        },
    ]
}

/// `case`'s bytes and mode at `path`, put there in one rename, so a
/// watcher never sees half of it.
fn install(case: &Case, path: &Path) {
    let staged = path.with_extension("staged");
    std::fs::write(&staged, &case.bytes).unwrap();
    chmod(&staged, case.mode);
    std::fs::rename(&staged, path).unwrap();
}

/// Start-up's verdict: a server built on the key-set file at `keys`.
async fn start_up(keys: &Path, dir: &Path, name: &str) -> Result<(), String> {
    let settings = Settings {
        keys_file: Some(keys.to_owned()),
        database_url: Some(SecretString::from(format!(
            "sqlite://{}?mode=rwc",
            dir.join(format!("{name}.db")).display()
        ))),
        issuer: Some(common::ISSUER.into()),
        grpc_addr: Some("127.0.0.1:0".parse().unwrap()),
        http_addr: Some("127.0.0.1:0".parse().unwrap()),
        allow_open_issue: true,
        migrate_on_start: Some(true),
        ..Settings::default()
    };
    let config = settings.validate().map_err(|e| e.to_string())?;
    Server::build(config)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The command line's verdict: `inkan keys show` on the file at `keys`.
fn keys_show(keys: &Path, dir: &Path) -> Result<(), String> {
    let out = common::run_inkan(&["keys", "show", "--keys", keys.to_str().unwrap()], dir);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok(())
    } else {
        Err(stderr)
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_reload_and_the_cli_take_the_same_bytes_alike() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut applied, mut refused) = (0, 0);
    for case in cases(&app) {
        let path = dir.path().join(format!("{}.json", case.name));
        install(&case, &path);
        let start = start_up(&path, dir.path(), case.name).await;
        let cli = keys_show(&path, dir.path());

        // The running server, its file replaced by the same bytes: each
        // attempt counted once, as applied or refused.
        install(&case, &app.keys_path);
        let outcome = if case.accepted {
            applied += 1;
            format!("inkan_key_reloads_total{{outcome=\"applied\"}} {applied}")
        } else {
            refused += 1;
            format!("inkan_key_reloads_total{{outcome=\"refused\"}} {refused}")
        };
        metrics_showing(&app, &outcome).await;

        for (reader, verdict) in [("start-up", &start), ("keys show", &cli)] {
            match verdict {
                Ok(()) => assert!(case.accepted, "{}: {reader} accepted it", case.name),
                Err(err) => {
                    assert!(!case.accepted, "{}: {reader} refused it: {err}", case.name);
                    assert!(
                        err.contains(case.refusal) && err.contains(path.to_str().unwrap()),
                        "{}: {reader} says why, naming the file: {err}",
                        case.name
                    );
                }
            }
        }
    }
    app.stop().await;
}
