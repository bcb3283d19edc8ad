//! The hostile-token suite: every case in `hostile::cases`, sent to Verify
//! over gRPC and given to the local verifier, must get the same, right
//! answer; never INTERNAL, never a panic, never an outbound request.

use crate::common;
use crate::hostile;

use std::{collections::BTreeMap, net::TcpListener};

use common::{verify, Options, TestApp};
use hostile::{cases, Case, Expect, Forge};
use inkan::token::Expectations;
use serde_json::json;

fn describe(case: &Case, got: &str) -> String {
    format!(
        "[{}] {}: expected {:?}, got {got}",
        case.class, case.name, case.expect
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_token_gets_the_right_answer_over_grpc() {
    let mut forge = Forge::new();
    let options = Options {
        keys_json: Some(forge.file.to_json()),
        ..Options::default()
    };
    let app = TestApp::spawn_with(common::Backend::Sqlite, options).await;
    let mut client = app.client().await;
    // Build the cases around the moment they are sent, not around the
    // moment the keys were made: start-up takes a while on a busy machine.
    forge.now = inkan::clock::now();

    // Key URLs in headers point here: inkan must never connect.
    let trap = TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let trap_url = format!("http://{}/keys", trap.local_addr().unwrap());
    let mut all = cases(&forge);
    let attacker = Forge::attacker();
    let ed = forge.set.active().kid().to_string();
    for header in ["jku", "x5u"] {
        let mut h = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": ed});
        h[header] = json!(trap_url);
        let token = forge.sign_raw(
            &h.to_string(),
            &forge.claims().to_string(),
            jsonwebtoken::Algorithm::EdDSA,
            &attacker.set.active().encoding_key().clone(),
        );
        all.push(Case {
            class: "embedded keys",
            name: format!("{header} at a listening URL"),
            token,
            expect: Expect::Refused("SIGNATURE_INVALID"),
            exact_time: false,
        });
    }

    let mut wrong = Vec::new();
    for case in all.iter().filter(|c| !c.exact_time) {
        match (client.verify(verify(&case.token)).await, case.expect) {
            (Ok(_), Expect::Accepted) => {}
            (Ok(_), Expect::Refused(_)) => wrong.push(describe(case, "accepted")),
            (Err(status), expect) => {
                assert_ne!(
                    status.code(),
                    tonic::Code::Internal,
                    "{}",
                    describe(case, status.message())
                );
                let (code, reason, action) = common::failure(&status);
                if expect != Expect::Refused(leak(&reason)) {
                    wrong.push(describe(case, &format!("{reason}: {}", status.message())));
                }
                let (want_code, want_action) = common::contract(&reason);
                assert_eq!(
                    (code, action.as_str()),
                    (want_code, want_action),
                    "{}",
                    describe(case, &reason)
                );
                assert!(
                    !status.message().contains(&case.token) || case.token.len() < 3,
                    "the token was echoed back"
                );
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases answered wrongly:\n{}",
        wrong.len(),
        all.len(),
        wrong.join("\n")
    );
    assert!(
        trap.accept().is_err(),
        "inkan connected to a URL named in a token header"
    );
    app.stop().await;
}

fn leak(reason: &str) -> &'static str {
    Box::leak(reason.to_owned().into_boxed_str())
}

#[test]
fn the_local_verifier_gives_the_same_answers() {
    let forge = Forge::new();
    let keys = forge.set.verifying_keys();
    let mut wrong = Vec::new();
    let all = cases(&forge);
    for case in &all {
        let expect = Expectations {
            issuer: hostile::ISSUER,
            audience: None,
            required_scopes: &[],
            leeway: std::time::Duration::from_secs(30),
            now: forge.now,
            allow_expired: false,
            revocations: None,
        };
        let got = match inkan::token::verify_access_token(&case.token, &keys, &expect) {
            Ok(_) => Expect::Accepted,
            Err(err) => Expect::Refused(err.reason().as_str()),
        };
        if got != case.expect {
            wrong.push(describe(case, &format!("{got:?}")));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases answered wrongly:\n{}",
        wrong.len(),
        all.len(),
        wrong.join("\n")
    );
}

/// SECURITY.md's table lists each class with its number of cases; this
/// keeps the table true as cases are added.
#[test]
fn security_md_lists_every_class_with_its_count() {
    let forge = Forge::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for case in cases(&forge) {
        *counts.entry(case.class).or_default() += 1;
    }
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/SECURITY.md")).unwrap();
    let mut listed: BTreeMap<String, usize> = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| token: ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let class = cells[1].trim_start_matches("token: ").to_owned();
        listed.insert(class, cells[2].parse().unwrap());
    }
    let counts: BTreeMap<String, usize> =
        counts.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    assert_eq!(
        listed, counts,
        "SECURITY.md's token classes differ from tests/hostile/mod.rs"
    );
}
