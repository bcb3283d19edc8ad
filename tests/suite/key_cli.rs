//! Key management as an operator does it: every start-up refusal with its
//! message, the rotation commands, legacy keys, and `token inspect`.

use crate::common;

use std::{
    path::{Path, PathBuf},
    process::Output,
    time::{Duration, SystemTime},
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

fn inkan(args: &[&str], dir: &Path) -> Output {
    common::run_inkan(args, dir)
}

/// Starts `inkan serve --dev` with `keys`; its output if it refused to
/// start, or `None` (after stopping it) if it was still serving 30 s later.
fn refused_start(keys: &Path, dir: &Path) -> Option<Output> {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_inkan"))
        .args([
            "serve",
            "--dev",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
            "--keys",
        ])
        .arg(keys)
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the inkan binary");
    // A watchdog stops a server still running after 30 s: it started.
    let pid = child.id().to_string();
    let (exited, watched) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let started = watched
            .recv_timeout(std::time::Duration::from_secs(30))
            .is_err();
        if started {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status();
        }
        started
    });
    let output = child.wait_with_output().unwrap();
    let _ = exited.send(());
    let started = watchdog.join().unwrap();
    (!started).then_some(output)
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn entry(kid: &str, alg: &str, state: &str, material: &str) -> String {
    format!(r#"{{"kid":"{kid}","alg":"{alg}","state":"{state}",{material}}}"#)
}

fn pem_of(alg: inkan::keys::KeyAlgorithm) -> String {
    let file = inkan::keys::KeySetFile::generate(alg).unwrap();
    let json: serde_json::Value = serde_json::from_str(&file.to_json()).unwrap();
    format!(
        r#""private_key_pem":{}"#,
        json["keys"][0]["private_key_pem"]
    )
}

fn secret(bytes: &[u8]) -> String {
    format!(r#""secret":"{}""#, URL_SAFE_NO_PAD.encode(bytes))
}

#[test]
fn each_bad_key_set_stops_start_up_with_a_message_naming_the_problem() {
    use inkan::keys::KeyAlgorithm::{EdDSA, ES256};
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let dir = tempfile::tempdir().unwrap();
    let ed = pem_of(EdDSA);
    let short_rsa = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
    let short_rsa = format!(
        r#""private_key_pem":{}"#,
        serde_json::Value::from(short_rsa.to_pkcs8_pem(LineEnding::LF).unwrap().as_str())
    );
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "no active key",
            entry("a", "EdDSA", "verify_only", &ed),
            "no active key",
        ),
        (
            "two active keys",
            format!(
                "{},{}",
                entry("a", "EdDSA", "active", &ed),
                entry("b", "ES256", "active", &pem_of(ES256))
            ),
            "2 active keys",
        ),
        (
            "short RSA key",
            entry("r", "RS256", "active", &short_rsa),
            "RSA key has 1024 bits; at least 2048",
        ),
        (
            "algorithm not matching its key",
            entry("m", "ES256", "active", &ed),
            "not a valid ES256 key",
        ),
        (
            "short secret",
            entry("h", "HS256", "active", &secret(b"only-16-bytes-..")),
            "carries about 105 bits of entropy; at least 128 are required",
        ),
        (
            "placeholder secret",
            entry(
                "h",
                "HS256",
                "active",
                &secret(b"changemechangemechangemechangeme"),
            ),
            "the HS256 secret is a well-known placeholder, not a secret",
        ),
        (
            "secret equal to its setting",
            entry(
                "jwt-signing-secret-for-the-orders-api",
                "HS256",
                "active",
                &secret(b"jwt-signing-secret-for-the-orders-api"),
            ),
            "the HS256 secret is a setting name, not a secret",
        ),
        ("an empty set", String::new(), "holds no keys"),
    ];
    for (name, keys, expected) in cases {
        let path = write(dir.path(), "keys.json", &format!(r#"{{"keys":[{keys}]}}"#));
        let out = refused_start(&path, dir.path())
            .unwrap_or_else(|| panic!("{name}: the server started"));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let line = err
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_default()
            .to_owned();
        assert!(
            line.contains("keys.json") && line.contains(expected),
            "{name}: {err}"
        );
    }
}

#[test]
fn rotation_commands_walk_a_key_set_through_its_life() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let k = keys.to_str().unwrap();
    assert!(inkan(
        &["keys", "generate", "--alg", "eddsa", "--keys", k],
        dir.path()
    )
    .status
    .success());

    let added = inkan(&["keys", "rotate", "--keys", k], dir.path());
    assert!(added.status.success(), "{}", text(&added));
    assert!(
        text(&added).contains("published as next"),
        "{}",
        text(&added)
    );
    let shown = text(&inkan(&["keys", "show", "--keys", k], dir.path()));
    assert_eq!(shown.lines().count(), 2, "{shown}");
    assert!(
        shown.contains("state active") && shown.contains("state next"),
        "{shown}"
    );
    assert!(!shown.contains("PRIVATE"), "{shown}");

    let early = inkan(&["keys", "rotate", "--keys", k], dir.path());
    assert!(!early.status.success());
    assert!(
        text(&early).contains("published for 600 s"),
        "{}",
        text(&early)
    );
    let promoted = inkan(&["keys", "rotate", "--keys", k, "--force"], dir.path());
    assert!(promoted.status.success(), "{}", text(&promoted));
    let shown = text(&inkan(&["keys", "show", "--keys", k], dir.path()));
    assert!(
        shown.contains("state verify_only") && shown.contains("retired"),
        "{shown}"
    );

    let kept = inkan(
        &["keys", "rotate", "--keys", k, "--drop-retired"],
        dir.path(),
    );
    assert!(text(&kept).contains("nothing dropped"), "{}", text(&kept));
    // Only --force drops a key sooner than its tokens may live.
    let dropped = inkan(
        &[
            "keys",
            "rotate",
            "--keys",
            k,
            "--drop-retired",
            "--token-lifetime",
            "0s",
            "--force",
        ],
        dir.path(),
    );
    assert!(text(&dropped).contains("dropped"), "{}", text(&dropped));
    let shown = text(&inkan(&["keys", "show", "--keys", k], dir.path()));
    assert_eq!(shown.lines().count(), 1, "{shown}");

    let secret = write(
        dir.path(),
        "legacy.secret",
        "a-former-systems-hs256-secret-of-40-bytes\n",
    );
    let legacy = inkan(
        &[
            "keys",
            "add-legacy",
            "--keys",
            k,
            "--secret-file",
            secret.to_str().unwrap(),
            "--sunset",
            "2099-01-01T00:00:00Z",
            "--max-remaining-without-iat",
            "15m",
        ],
        dir.path(),
    );
    assert!(legacy.status.success(), "{}", text(&legacy));
    let shown = text(&inkan(&["keys", "show", "--keys", k], dir.path()));
    assert!(
        shown.contains("key legacy  alg HS256  state verify_only")
            && shown.contains("legacy until 2099-01-01")
            && shown.contains("without iat if at most 15m left")
            && shown.contains("use access  subject from sub"),
        "{shown}"
    );
    assert!(
        !std::fs::read_to_string(&keys)
            .unwrap()
            .contains("a-former-systems"),
        "stored as base64url"
    );
    let weak = write(dir.path(), "weak.secret", "secret");
    let refused = inkan(
        &[
            "keys",
            "add-legacy",
            "--keys",
            k,
            "--label",
            "weak",
            "--secret-file",
            weak.to_str().unwrap(),
            "--sunset",
            "2099-01-01T00:00:00Z",
        ],
        dir.path(),
    );
    assert!(!refused.status.success(), "a weak legacy secret was added");

    // A PHP system's secret as it holds it: the hex text of random bytes.
    // 32 hex digits (bin2hex(random_bytes(16))) are 128 bits: accepted,
    // and every command that reads the file says what they carry.
    let md5_style = write(dir.path(), "php.secret", "9b2e4f71c0a35d8e6f19a7c42b08d5e3");
    let added = inkan(
        &[
            "keys",
            "add-legacy",
            "--keys",
            k,
            "--label",
            "php",
            "--secret-file",
            md5_style.to_str().unwrap(),
            "--sunset",
            "2099-01-01T00:00:00Z",
        ],
        dir.path(),
    );
    assert!(added.status.success(), "{}", text(&added));
    let shown = inkan(&["keys", "show", "--keys", k], dir.path());
    let warned = String::from_utf8_lossy(&shown.stderr);
    assert!(
        warned.contains("key \"php\": the HS256 secret (hex) carries about 128 bits of entropy"),
        "{warned}"
    );
}

/// A token for `https://auth.example` signed with the active key of the
/// key set at `keys`.
fn token_signed_by(keys: &Path) -> String {
    let set = inkan::keys::KeySet::load(keys).unwrap();
    let now = inkan::clock::now();
    let claims = inkan::token::AccessTokenClaims {
        iss: "https://auth.example",
        sub: "user-42",
        aud: &["orders".to_owned()],
        exp: now + 600,
        iat: now,
        nbf: now,
        jti: uuid::Uuid::new_v4().to_string(),
        sid: uuid::Uuid::new_v4().to_string(),
        client_id: "web",
        scope: String::new(),
        custom: &Default::default(),
    };
    inkan::token::sign_access_token(&claims, set.active()).unwrap()
}

fn generated(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    inkan::keys::KeySetFile::generate(inkan::keys::KeyAlgorithm::EdDSA)
        .unwrap()
        .write(&path)
        .unwrap();
    path
}

#[test]
fn a_retired_key_is_kept_as_long_as_the_configuration_says_its_tokens_live() {
    let dir = tempfile::tempdir().unwrap();
    let keys = generated(dir.path(), "keys.json");
    let k = keys.to_str().unwrap();
    let rotate = |extra: &[&str]| {
        let mut args = vec!["keys", "rotate", "--keys", k];
        args.extend_from_slice(extra);
        inkan(&args, dir.path())
    };
    assert!(rotate(&[]).status.success());
    assert!(rotate(&["--force"]).status.success());
    let key_count = || {
        text(&inkan(&["keys", "show", "--keys", k], dir.path()))
            .lines()
            .count()
    };
    assert_eq!(key_count(), 2);

    // The review's case: a lifetime of 1 s dropped a key whose tokens were
    // still valid. Below the configured lifetime it is refused, saying why.
    let refused = rotate(&["--drop-retired", "--token-lifetime", "1s"]);
    assert!(!refused.status.success(), "{}", text(&refused));
    let err = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("shorter than the 20m 32s")
            && err.contains("access_token_ttl 15m")
            && err.contains("--force"),
        "{err}"
    );
    assert_eq!(key_count(), 2, "nothing was dropped");

    // Nothing to drop yet: says from when.
    let retired_at = SystemTime::now();
    let kept = rotate(&["--drop-retired"]);
    assert!(kept.status.success(), "{}", text(&kept));
    let said = text(&kept);
    let when = said
        .trim()
        .rsplit(' ')
        .next()
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
        .unwrap_or_else(|| panic!("no time in {said:?}"));
    let wait = when.duration_since(retired_at).unwrap_or_default();
    assert!(
        said.contains("nothing dropped") && wait > Duration::from_secs(20 * 60),
        "{said}"
    );

    // The lifetime is the servers' configuration, not a separate number.
    let config = write(
        dir.path(),
        "inkan.toml",
        "access_token_ttl = \"1m\"\nleeway = \"0s\"\nkey_reload_interval = \"1s\"\n",
    );
    let short = rotate(&[
        "--config",
        config.to_str().unwrap(),
        "--drop-retired",
        "--token-lifetime",
        "1s",
    ]);
    let err = String::from_utf8_lossy(&short.stderr).into_owned();
    assert!(err.contains("shorter than the 6m 1s"), "{err}");
}

#[test]
fn token_inspect_explains_acceptance_and_rejection_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let keys = generated(dir.path(), "keys.json");
    let other = generated(dir.path(), "other.json");
    let set = inkan::keys::KeySet::load(&keys).unwrap();
    let token = token_signed_by(&keys);

    let ok = common::run_inkan_with_stdin(
        &[
            "token",
            "inspect",
            "--keys",
            keys.to_str().unwrap(),
            "--issuer",
            "https://auth.example",
        ],
        &token,
        dir.path(),
    );
    assert!(ok.status.success(), "{}", text(&ok));
    let out = text(&ok);
    assert!(out.contains("\"sub\": \"user-42\""), "{out}");
    assert!(
        out.contains(&format!("accepted: signed with key {}", set.active().kid())),
        "{out}"
    );

    let no = common::run_inkan_with_stdin(
        &["token", "inspect", "-", "--keys", other.to_str().unwrap()],
        &token,
        dir.path(),
    );
    assert!(!no.status.success());
    let verdict = String::from_utf8_lossy(&no.stderr).into_owned();
    let known = inkan::keys::KeySet::load(&other).unwrap();
    assert_eq!(
        verdict.trim(),
        format!(
            "error: rejected (KEY_UNKNOWN): access token was signed with kid {:?}, which this key set does not have; known kids: {}",
            set.active().kid().as_str(),
            known.active().kid()
        )
    );
}

#[test]
fn token_inspect_reads_stdin_and_warns_of_a_token_typed_as_an_argument() {
    let dir = tempfile::tempdir().unwrap();
    let keys = generated(dir.path(), "keys.json");
    let token = token_signed_by(&keys);
    let k = keys.to_str().unwrap();
    for args in [
        vec!["token", "inspect", "--keys", k],
        vec!["token", "inspect", "-", "--keys", k],
    ] {
        let out = common::run_inkan_with_stdin(&args, &format!("{token}\n"), dir.path());
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        assert!(text(&out).contains("accepted"), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("warning"), "{args:?}: {err}");
        assert!(
            !text(&out).contains(&token),
            "the token is never printed back"
        );
    }
    // Still works as an argument, with a warning saying why not to.
    let out = inkan(&["token", "inspect", &token, "--keys", k], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("warning:") && err.contains("shell history") && err.contains("`ps`"),
        "{err}"
    );
}

#[test]
fn check_keys_show_and_token_inspect_speak_json() {
    let dir = tempfile::tempdir().unwrap();
    let keys = generated(dir.path(), "keys.json");
    let k = keys.to_str().unwrap();
    let set = inkan::keys::KeySet::load(&keys).unwrap();
    let kid = set.active().kid().to_string();
    let json = |out: &Output| -> serde_json::Value {
        assert!(out.status.success(), "{}", text(out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(stdout.lines().count(), 1, "one JSON object: {stdout}");
        assert!(!stdout.contains("PRIVATE"), "{stdout}");
        serde_json::from_str(&stdout).unwrap()
    };
    let key_fields = |key: &serde_json::Value| {
        let mut fields: Vec<&str> = key
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "alg",
                "created_at",
                "fingerprint",
                "kid",
                "legacy",
                "retired_at",
                "state",
                "sunset"
            ]
        );
        assert_eq!(key["kid"], kid.as_str());
        assert_eq!(key["state"], "active");
        assert_eq!(key["fingerprint"], set.active().fingerprint());
    };

    let shown = json(&inkan(
        &["keys", "show", "--keys", k, "--output", "json"],
        dir.path(),
    ));
    key_fields(&shown["keys"][0]);

    let config = write(
        dir.path(),
        "inkan.toml",
        &format!(
            "keys_file = {k:?}\ndatabase_url = \"sqlite://{}/ledger.db?mode=rwc\"\n\
             issuer = \"https://auth.example\"\nallow_open_issue = true\n",
            dir.path().display()
        ),
    );
    common::migrate_with(config.to_str().unwrap(), dir.path());
    let checked = json(&inkan(
        &[
            "check",
            "--config",
            config.to_str().unwrap(),
            "--output",
            "json",
        ],
        dir.path(),
    ));
    assert_eq!(checked["valid"], true);
    assert_eq!(checked["issuer"], "https://auth.example");
    assert_eq!(checked["ledger"]["backend"], "sqlite");
    assert_eq!(checked["self_test"], "passed");
    assert!(checked["warnings"].is_array());
    key_fields(&checked["keys"][0]);

    let token = token_signed_by(&keys);
    let inspected = json(&common::run_inkan_with_stdin(
        &["token", "inspect", "--keys", k, "--output", "json"],
        &token,
        dir.path(),
    ));
    assert_eq!(inspected["header"]["kid"], kid.as_str());
    assert_eq!(inspected["claims"]["sub"], "user-42");
    assert_eq!(inspected["verdict"]["accepted"], true);
    assert_eq!(inspected["verdict"]["kid"], kid.as_str());
    assert!(!inspected.to_string().contains(&token));

    let other = generated(dir.path(), "other.json");
    let refused = common::run_inkan_with_stdin(
        &[
            "token",
            "inspect",
            "--keys",
            other.to_str().unwrap(),
            "--output",
            "json",
        ],
        &token,
        dir.path(),
    );
    assert!(!refused.status.success());
    let verdict: serde_json::Value =
        serde_json::from_slice(&refused.stdout).expect("the verdict is JSON on stdout");
    assert_eq!(verdict["verdict"]["accepted"], false);
    assert_eq!(verdict["verdict"]["reason"], "KEY_UNKNOWN");
}

#[test]
fn commands_refuse_flags_they_would_ignore() {
    let dir = tempfile::tempdir().unwrap();
    for (args, flag) in [
        (vec!["migrate", "--grpc-addr", "127.0.0.1:1"], "--grpc-addr"),
        (vec!["migrate", "--http-addr", "127.0.0.1:1"], "--http-addr"),
        (vec!["migrate", "--issuer", "https://a.example"], "--issuer"),
        (vec!["migrate", "--keys", "keys.json"], "--keys"),
        (
            vec!["token", "inspect", "-", "--database-url", "sqlite://x.db"],
            "--database-url",
        ),
        (
            vec!["token", "inspect", "-", "--grpc-addr", "127.0.0.1:1"],
            "--grpc-addr",
        ),
    ] {
        let out = common::run_inkan_with_stdin(&args, "", dir.path());
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(
            err.contains(&format!("unexpected argument '{flag}'")),
            "{args:?}: {err}"
        );
    }
}

/// Key-set files with material where it does not belong: a PEM as `alg`,
/// a PEM as `state`, a number as `kid`. Each with the text that must never
/// be shown back.
fn misplaced_material() -> Vec<(&'static str, String, Vec<String>)> {
    let pem = {
        let file = inkan::keys::KeySetFile::generate(inkan::keys::KeyAlgorithm::EdDSA).unwrap();
        let json: serde_json::Value = serde_json::from_str(&file.to_json()).unwrap();
        json["keys"][0]["private_key_pem"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let pem_json = serde_json::Value::from(pem.as_str()).to_string();
    let mut secret_parts: Vec<String> = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::to_owned)
        .collect();
    secret_parts.push("PRIVATE KEY".into());
    vec![
        (
            "a PEM as alg",
            format!(r#"{{"keys":[{{"kid":"a","alg":{pem_json},"state":"active"}}]}}"#),
            secret_parts.clone(),
        ),
        (
            "a PEM as state",
            format!(r#"{{"keys":[{{"kid":"a","alg":"EdDSA","state":{pem_json}}}]}}"#),
            secret_parts.clone(),
        ),
        (
            "a number as kid",
            format!(
                r#"{{"keys":[{{"kid":918273645,"alg":"EdDSA","state":"active","private_key_pem":{pem_json}}}]}}"#
            ),
            vec!["918273645".to_owned()],
        ),
    ]
}

fn assert_quotes_nothing(case: &str, output: &str, secret_parts: &[String]) {
    for part in secret_parts {
        assert!(
            !output.contains(part.as_str()),
            "{case}: the key file's content was shown: {output}"
        );
    }
}

#[test]
fn keys_show_and_check_report_a_misplaced_key_without_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let config = write(
        dir.path(),
        "inkan.toml",
        &format!(
            "keys_file = {:?}\ndatabase_url = \"sqlite://{}/ledger.db?mode=rwc\"\n\
             issuer = \"https://auth.example\"\nallow_open_issue = true\n",
            keys.to_str().unwrap(),
            dir.path().display()
        ),
    );
    for (case, content, secret_parts) in misplaced_material() {
        std::fs::write(&keys, &content).unwrap();
        for args in [
            vec!["keys", "show", "--keys", keys.to_str().unwrap()],
            vec!["check", "--config", config.to_str().unwrap()],
        ] {
            let out = inkan(&args, dir.path());
            let shown = text(&out);
            assert!(!out.status.success(), "{case}, {}: accepted", args[0]);
            assert_quotes_nothing(case, &shown, &secret_parts);
            assert!(
                shown.contains("keys[0].") && shown.contains("line 1"),
                "{case}, {}: says where: {shown}",
                args[0]
            );
        }
    }
}

/// The server's log, read as it is written.
struct ServerLog {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl ServerLog {
    /// Reads lines until one holds `wanted`. The deadline only keeps a
    /// regression from hanging the suite.
    fn wait_for(&mut self, wanted: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(wanted);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => panic!("the server never logged {wanted:?}: {:?}", self.seen),
            }
        }
    }
}

impl Drop for ServerLog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_reload_of_a_misplaced_key_is_logged_without_quoting_it() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    inkan::keys::KeySetFile::generate(inkan::keys::KeyAlgorithm::EdDSA)
        .unwrap()
        .write(&keys)
        .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_inkan"))
        .args([
            "serve",
            "--dev",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
            "--keys",
        ])
        .arg(&keys)
        .env("INKAN_KEY_RELOAD_INTERVAL", "50ms")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the inkan binary");
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut log = ServerLog {
        child,
        lines,
        seen: Vec::new(),
    };
    log.wait_for("serving");
    for (case, content, secret_parts) in misplaced_material() {
        // A finished file renamed into place, as a Secret update does.
        let next = dir.path().join("keys.next");
        std::fs::write(&next, &content).unwrap();
        #[cfg(unix)]
        std::fs::set_permissions(&next, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        std::fs::rename(&next, &keys).unwrap();
        log.wait_for("new key set refused");
        let logged = log.seen.join("\n");
        assert_quotes_nothing(case, &logged, &secret_parts);
        assert!(logged.contains("keys[0]."), "{case}: says where: {logged}");
    }
}
