//! The operator's path through the binary, as the README's "Running it for
//! real" walks it: a config file beside its files and a mounted database
//! URL, read the same way by every command from any working directory;
//! `check --output json` that says why it failed; misspelt `INKAN_*`
//! variables named; clap's list of missing arguments kept; `keys` commands
//! that take `--config`.

use std::path::Path;

use crate::common::{run_inkan, run_inkan_with_env, server_config, stderr};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A config in `dir/etc` naming its key set and its database-URL file by
/// relative paths, as mounted next to it; returns the config's path.
fn config_beside_its_files(dir: &Path) -> std::path::PathBuf {
    let etc = dir.join("etc");
    std::fs::create_dir_all(etc.join("secrets")).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("ledger.db").display());
    std::fs::write(etc.join("secrets/database-url"), format!("{url}\n")).unwrap();
    let written = server_config(&etc, "unused", "");
    // The same file, with relative paths and the URL in its own file.
    let text = std::fs::read_to_string(&written).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("keys_file") && !l.starts_with("database_url"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(
        &written,
        format!("keys_file = \"keys.json\"\ndatabase_url_file = \"secrets/database-url\"\n{text}"),
    )
    .unwrap();
    written
}

#[test]
fn every_command_reads_the_files_a_config_names_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_beside_its_files(dir.path());
    let config = config.to_str().unwrap();
    // Run from elsewhere: the working directory holds none of the files.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();

    let migrated = run_inkan(&["migrate", "--config", config], &elsewhere);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let checked = run_inkan(&["check", "--config", config], &elsewhere);
    assert!(checked.status.success(), "{}", stderr(&checked));
    assert!(stdout(&checked).contains("configuration is valid"));

    let shown = run_inkan(&["keys", "show", "--config", config], &elsewhere);
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert!(stdout(&shown).contains("active"), "{}", stdout(&shown));

    // The import finds the ledger through database_url_file as well.
    let export = elsewhere.join("export.csv");
    std::fs::write(
        &export,
        format!(
            "sha256,subject,expires_at\n{},user-1,4102444800\n",
            "b".repeat(64)
        ),
    )
    .unwrap();
    let imported = run_inkan(
        &[
            "legacy",
            "import-refresh-tokens",
            "export.csv",
            "--config",
            config,
        ],
        &elsewhere,
    );
    let err = stderr(&imported);
    assert!(!err.contains("no ledger database"), "{err}");
    assert!(imported.status.success(), "{err}");
}

#[test]
fn a_failed_check_says_why_on_standard_output_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("ledger.db").display()
    );
    let config = server_config(dir.path(), &url, "");
    // Not migrated: the check fails on the schema.
    let out = run_inkan(
        &[
            "check",
            "--output",
            "json",
            "--config",
            config.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    let printed: serde_json::Value = serde_json::from_str(stdout(&out).trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {:?}", stdout(&out)));
    assert_eq!(printed["valid"], false);
    let why = printed["error"].as_str().unwrap();
    assert!(why.contains("run `inkan migrate`"), "{why}");

    // A configuration that does not even load fails the same way.
    let out = run_inkan(
        &["check", "--output", "json", "--config", "no-such.toml"],
        dir.path(),
    );
    let printed: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(printed["valid"], false);
    assert!(printed["error"].as_str().unwrap().contains("no-such.toml"));
}

#[test]
fn a_misspelt_inkan_variable_is_named_with_the_setting_it_resembles() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("ledger.db").display()
    );
    let config = server_config(dir.path(), &url, "");
    let out = run_inkan_with_env(
        &["migrate", "--config", config.to_str().unwrap()],
        &[
            ("INKAN_ISUER", "https://auth.example.com"),
            ("INKAN_ISSUER", ""),
        ],
        dir.path(),
    );
    let err = stderr(&out);
    assert!(
        err.contains("INKAN_ISUER is not an inkan setting") && err.contains("INKAN_ISSUER?"),
        "{err}"
    );
    assert!(
        !err.contains("auth.example.com"),
        "a value was printed: {err}"
    );
    assert!(!err.contains("INKAN_ISSUER is not"), "{err}");
}

#[test]
fn missing_arguments_are_listed_on_the_one_line_of_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_inkan(&["keys", "add-legacy", "--keys", "keys.json"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("not provided:") && err.contains("--secret-file") && err.contains("--sunset"),
        "{err}"
    );
}

#[test]
fn keys_generate_writes_the_key_set_a_config_names() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    let config = dir.path().join("etc/inkan.toml");
    std::fs::write(&config, "keys_file = \"keys.json\"\n").unwrap();
    let out = run_inkan(
        &["keys", "generate", "--config", config.to_str().unwrap()],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "the key set was printed");
    assert!(inkan::keys::KeySet::load(&dir.path().join("etc/keys.json")).is_ok());
}
