//! The binary as an operator meets it: key generation, start-up refusals,
//! `check` and `migrate`.

use crate::common::{self, stderr};

use std::{path::Path, process::Output};

fn inkan(args: &[&str], dir: &Path) -> Output {
    common::run_inkan(args, dir)
}

fn generate(dir: &Path, alg: &str) -> std::path::PathBuf {
    let path = dir.join(format!("keys-{alg}.json"));
    let out = inkan(
        &[
            "keys",
            "generate",
            "--alg",
            alg,
            "--keys",
            path.to_str().unwrap(),
        ],
        dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    path
}

#[test]
fn generated_key_sets_are_private_files_with_one_active_key() {
    let dir = tempfile::tempdir().unwrap();
    for alg in ["EdDSA", "ES256", "RS256"] {
        let path = generate(dir.path(), alg);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{alg} key set is readable by others");
        }
        let set: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let keys = set["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0]["alg"], alg);
        assert_eq!(keys[0]["state"], "active");
        assert!(inkan::keys::KeySet::load(&path).is_ok());
    }
    // --out, the flag's former name, still works.
    let again = inkan(
        &[
            "keys",
            "generate",
            "--out",
            dir.path().join("keys-EdDSA.json").to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("will not overwrite"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn keys_generate_defaults_to_the_algorithm_every_verifier_accepts() {
    // ES256: Node's jwks-rsa refuses Ed25519 keys (the consumers stage in
    // CI checks every library of the matrix against it).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    let out = inkan(
        &["keys", "generate", "--keys", path.to_str().unwrap()],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let set: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(set["keys"][0]["alg"], "ES256");
}

#[test]
fn serving_without_keys_issuer_or_database_is_refused_with_the_setting_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = inkan(&["serve"], dir.path());
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("error: no key set") && err.contains("INKAN_KEYS_FILE"),
        "{err}"
    );

    let keys = generate(dir.path(), "EdDSA");
    let out = inkan(&["serve", "--keys", keys.to_str().unwrap()], dir.path());
    assert!(
        stderr(&out).contains("INKAN_DATABASE_URL"),
        "{}",
        stderr(&out)
    );
    let out = inkan(
        &[
            "serve",
            "--keys",
            keys.to_str().unwrap(),
            "--database-url",
            "sqlite://x.db?mode=rwc",
        ],
        dir.path(),
    );
    assert!(stderr(&out).contains("INKAN_ISSUER"), "{}", stderr(&out));
    let out = inkan(
        &[
            // `check` validates the same way and exits even if it passed, so
            // a regression fails this test instead of hanging it.
            "check",
            "--keys",
            keys.to_str().unwrap(),
            "--database-url",
            "sqlite://x.db?mode=rwc",
            "--issuer",
            "https://a.example",
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("issue permission"),
        "Issue must not be open by default: {}",
        stderr(&out)
    );
}

#[test]
fn a_placeholder_secret_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    // The outage: a secret that is just the name of its setting.
    let secret = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        "ACCESS_SECRETACCESS_SECRETACCESS_SECRET",
    );
    std::fs::write(
        &keys,
        format!(
            r#"{{"keys":[{{"kid":"legacy","alg":"HS256","state":"active","secret":"{secret}"}}]}}"#
        ),
    )
    .unwrap();
    let out = inkan(
        &["serve", "--dev", "--keys", keys.to_str().unwrap()],
        dir.path(),
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("placeholder") && err.contains("\"legacy\""),
        "{err}"
    );
    assert!(!err.contains(&secret), "the secret reached the message");
}

#[test]
fn check_prints_kids_and_fingerprints_but_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let keys = generate(dir.path(), "EdDSA");
    let config = dir.path().join("inkan.toml");
    std::fs::write(
        &config,
        format!(
            "keys_file = {:?}\ndatabase_url = \"sqlite://{}/ledger.db?mode=rwc\"\nissuer = \"https://auth.example\"\n\n\
             [[callers]]\nname = \"login\"\napi_key_sha256 = \"{}\"\npermissions = [\"issue\"]\n",
            keys.to_str().unwrap(),
            dir.path().display(),
            "ab".repeat(32)
        ),
    )
    .unwrap();
    let migrate = inkan(
        &["migrate", "--config", config.to_str().unwrap()],
        dir.path(),
    );
    assert!(migrate.status.success(), "{}", stderr(&migrate));

    let out = inkan(&["check", "--config", config.to_str().unwrap()], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}{stdout}", stderr(&out));
    let set = inkan::keys::KeySet::load(&keys).unwrap();
    let key = set.active();
    assert!(stdout.contains(&format!("key {}", key.kid())), "{stdout}");
    assert!(stdout.contains(key.fingerprint()), "{stdout}");
    assert!(!stdout.contains("PRIVATE"), "{stdout}");
}

#[test]
fn check_warns_that_an_hs256_only_key_set_publishes_nothing_to_verify_with() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    inkan::keys::KeySetFile::generate(inkan::keys::KeyAlgorithm::HS256)
        .unwrap()
        .write(&keys)
        .unwrap();
    let config = dir.path().join("inkan.toml");
    std::fs::write(
        &config,
        format!(
            "keys_file = {:?}\ndatabase_url = \"sqlite://{}/ledger.db?mode=rwc\"\n\
             issuer = \"https://auth.example\"\nallow_open_issue = true\n",
            keys.to_str().unwrap(),
            dir.path().display()
        ),
    )
    .unwrap();
    common::migrate_with(config.to_str().unwrap(), dir.path());
    let out = inkan(&["check", "--config", config.to_str().unwrap()], dir.path());
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning:")
            && err.contains("JWKS is empty")
            && err.contains("only through Verify"),
        "{err}"
    );
}

#[test]
fn migrate_logs_json_like_serve() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/ledger.db?mode=rwc", dir.path().display());
    let out = inkan(&["migrate", "--database-url", &url], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("Applying"), "migrate logged nothing: {err}");
    for line in err.lines().filter(|l| !l.is_empty()) {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(line);
        assert!(parsed.is_ok(), "not a JSON log line: {line:?}");
    }
}

#[test]
fn dev_logs_are_not_coloured_into_a_file_and_say_where_the_ledger_is() {
    let dir = tempfile::tempdir().unwrap();
    // Stops at loading its keys, after its first log lines.
    let out = inkan(&["serve", "--dev", "--keys", "missing.json"], dir.path());
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("DEV MODE"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "colour codes written to a pipe: {err:?}"
    );
    let ledger = dir.path().canonicalize().unwrap().join("inkan-dev.db");
    assert!(
        err.contains(ledger.to_str().unwrap()),
        "the log does not say where the dev ledger is: {err}"
    );
}
