//! Dev mode makes every caller an admin, so it must never ride along with a
//! production configuration: only `serve --dev` switches it on, and it
//! refuses anything that belongs to a real deployment.

use crate::common::{self, stderr};

use std::{path::Path, process::Output};

use inkan::keys::{KeyAlgorithm, KeySetFile};

/// A production configuration (key set, ledger, issuer, one caller) in
/// `dir`, with `extra` lines at its top; returns its path.
fn production_config(dir: &Path, extra: &str) -> String {
    let keys = dir.join("keys.json");
    if !keys.exists() {
        KeySetFile::generate(KeyAlgorithm::EdDSA)
            .unwrap()
            .write(&keys)
            .unwrap();
    }
    let config = dir.join("inkan.toml");
    std::fs::write(
        &config,
        format!(
            "{extra}\nkeys_file = {:?}\ndatabase_url = \"sqlite://{}/ledger.db?mode=rwc\"\n\
             issuer = \"https://auth.example\"\n\n\
             [[callers]]\nname = \"login\"\napi_key_sha256 = \"{}\"\npermissions = [\"issue\"]\n",
            keys.to_str().unwrap(),
            dir.display(),
            "ab".repeat(32)
        ),
    )
    .unwrap();
    config.to_str().unwrap().to_owned()
}

/// Asserts that `output` is a refusal: a failed exit and one line on
/// standard error holding each of `expected`.
fn assert_refused(output: &Output, expected: &[&str], case: &str) {
    let err = stderr(output);
    assert!(!output.status.success(), "{case}: accepted: {err}");
    assert_eq!(err.lines().count(), 1, "{case}: one line: {err}");
    for part in expected {
        assert!(err.contains(part), "{case}: {err:?} does not name {part:?}");
    }
}

#[test]
fn a_config_file_saying_dev_true_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = production_config(dir.path(), "dev = true");
    // `check` is what an operator runs before serving; it used to answer
    // "configuration is valid" with every caller made an admin.
    let out = common::run_inkan(&["check", "--config", &config], dir.path());
    assert_refused(
        &out,
        &["inkan.toml sets dev", "only `inkan serve --dev`"],
        "dev = true",
    );
    let out = common::run_inkan(&["migrate", "--config", &config], dir.path());
    assert_refused(&out, &["sets dev"], "dev = true, migrate");
}

#[test]
fn inkan_dev_in_the_environment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = production_config(dir.path(), "");
    common::migrate_with(&config, dir.path());
    let out = common::run_inkan(&["check", "--config", &config], dir.path());
    assert!(
        out.status.success(),
        "the config is valid: {}",
        stderr(&out)
    );
    let out = common::run_inkan_with_env(
        &["check", "--config", &config],
        &[("INKAN_DEV", "true")],
        dir.path(),
    );
    assert_refused(
        &out,
        &["INKAN_DEV is set", "only `inkan serve --dev`"],
        "INKAN_DEV",
    );
}

#[test]
fn serve_dev_refuses_callers_a_public_address_a_database_or_an_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let config = production_config(dir.path(), "");
    // The key file does not exist: were a refusal to regress, the server
    // would stop at loading its keys instead of listening on 0.0.0.0 or
    // reaching for a database.
    let missing = dir.path().join("missing-keys.json");
    let missing = missing.to_str().unwrap();
    let serve_dev = |extra: &[&str]| {
        let mut args = vec!["serve", "--dev", "--keys", missing];
        args.extend_from_slice(extra);
        common::run_inkan(&args, dir.path())
    };
    let cases: [(&str, Vec<&str>, &[&str]); 5] = [
        ("callers", vec!["--config", &config], &["[[callers]]"]),
        (
            "public gRPC address",
            vec!["--grpc-addr", "0.0.0.0:50051"],
            &["loopback only", "grpc_addr is 0.0.0.0:50051"],
        ),
        (
            "public HTTP address",
            vec!["--http-addr", "0.0.0.0:8080"],
            &["loopback only", "http_addr is 0.0.0.0:8080"],
        ),
        (
            "database",
            vec!["--database-url", "postgres://inkan@db.example/inkan"],
            &["database_url", "inkan-dev.db"],
        ),
        (
            "issuer",
            vec!["--issuer", "https://auth.example.com"],
            &["an issuer"],
        ),
    ];
    for (case, extra, expected) in cases {
        let out = serve_dev(&extra);
        assert_refused(&out, expected, case);
        assert!(stderr(&out).contains("serve --dev"), "{case}");
        assert!(
            !stderr(&out).contains("db.example"),
            "{case}: a database URL may hold a password: {}",
            stderr(&out)
        );
    }

    // A key file is allowed: this one fails only because it is missing.
    let out = serve_dev(&["--grpc-addr", "127.0.0.1:0", "--http-addr", "[::1]:0"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("missing-keys.json"),
        "{}",
        stderr(&out)
    );
}
