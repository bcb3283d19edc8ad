//! Start-up against a ledger that is not ready: no schema, a schema from
//! another version, a database that is not there. Each refusal names the
//! cause as the driver reported it and the command that fixes it.

use std::path::Path;

use crate::common::{run_inkan, server_config, stderr};

/// A production-shaped config over `database_url`.
fn config(dir: &Path, database_url: &str) -> std::path::PathBuf {
    server_config(dir, database_url, "")
}

#[test]
fn an_unmigrated_ledger_is_refused_by_check_and_serve_until_migrate_runs() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("ledger.db").display()
    );
    let config = config(dir.path(), &url);
    let config = config.to_str().unwrap();

    for command in ["check", "serve"] {
        let out = run_inkan(&[command, "--config", config], dir.path());
        let err = stderr(&out);
        assert!(!out.status.success(), "{command} accepted an empty ledger");
        assert!(
            err.contains("no inkan schema") && err.contains("run `inkan migrate`"),
            "{command}: {err}"
        );
        // The driver's own words about the missing table reach the operator.
        assert!(err.contains("inkan_migrations"), "{command}: {err}");
        assert!(!err.contains("configuration is valid"), "{err}");
    }

    let out = run_inkan(&["migrate", "--config", config], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_inkan(&["check", "--config", config], dir.path());
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(printed.contains("schema is current"), "{printed}");
}

#[test]
fn a_schema_newer_than_this_build_is_refused_naming_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let config = config(dir.path(), &url);
    let config = config.to_str().unwrap();
    assert!(run_inkan(&["migrate", "--config", config], dir.path())
        .status
        .success());
    // A later inkan migrated this database further.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use sea_orm::{ConnectionTrait, Database};
        let db = Database::connect(&url).await.unwrap();
        db.execute_unprepared(
            "INSERT INTO inkan_migrations (version, applied_at) VALUES ('m20991231_000000_from_the_future', 0)",
        )
        .await
        .unwrap();
    });
    for command in ["check", "serve"] {
        let out = run_inkan(&[command, "--config", config], dir.path());
        let err = stderr(&out);
        assert!(!out.status.success(), "{command} served a newer schema");
        assert!(
            err.contains("newer than this inkan")
                && err.contains("m20991231_000000_from_the_future"),
            "{command}: {err}"
        );
    }
}

/// The one-shot commands fail at once; `serve` waits for the database
/// instead (`db_absent.rs`).
#[test]
fn an_unreachable_database_shows_the_drivers_own_message() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1.
    let config = config(dir.path(), "postgres://inkan@127.0.0.1:1/inkan");
    let config = config.to_str().unwrap();
    for command in ["check", "migrate"] {
        let out = run_inkan(&[command, "--config", config], dir.path());
        let err = stderr(&out);
        assert!(!out.status.success());
        assert!(
            err.to_ascii_lowercase().contains("connection refused"),
            "{command} hid the cause: {err}"
        );
        assert!(err.contains("database_url"), "{command}: {err}");
    }
}
