//! The SQLite ledger holds every session, refresh-token hash and sealed
//! successor: only its owner may read the file.

#![cfg(unix)]

use crate::common;

use std::{os::unix::fs::PermissionsExt, path::Path};

use common::{admin, issue_request, Backend, TestApp};
use inkan::ledger::Ledger;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_sqlite_ledger_is_readable_by_its_owner_only() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.client()
        .await
        .issue(admin(issue_request("user-file")))
        .await
        .unwrap();
    let file = app
        .database_url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let file = Path::new(&file);
    assert_eq!(mode(file), 0o600, "the ledger file is {:o}", mode(file));
    // Journal and WAL files, when SQLite keeps any, follow the database.
    let dir = file.parent().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().starts_with(&*file.to_string_lossy()) {
            assert_eq!(
                mode(&path),
                0o600,
                "{} is {:o}",
                path.display(),
                mode(&path)
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn an_existing_ledger_file_keeps_its_mode_and_memory_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kept.db");
    std::fs::write(&file, b"").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let ledger = Ledger::connect(&format!("sqlite://{}?mode=rwc", file.display()))
        .await
        .unwrap();
    ledger.migrate().await.unwrap();
    assert_eq!(mode(&file), 0o640, "an operator's choice is left alone");

    for url in ["sqlite::memory:", "sqlite://?mode=memory"] {
        let ledger = Ledger::connect(url).await.unwrap();
        ledger.migrate().await.unwrap();
    }
}
