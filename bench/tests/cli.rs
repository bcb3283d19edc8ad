//! inkan-bench as a script or CI meets it: what it says and how it exits
//! when it cannot do its job. (Driving a live server is `.ci/run`'s load
//! smoke stage, with this very binary.)

use std::process::Command;

fn bench(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_inkan-bench"))
        .args(args)
        .output()
        .expect("inkan-bench runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_server_that_does_not_answer_is_named_and_the_run_fails() {
    // Port 9 (discard) on loopback: nothing listens there in a test run.
    let (code, stderr) = bench(&["--target", "http://127.0.0.1:9", "--wait", "0s", "--quiet"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot connect to http://127.0.0.1:9"),
        "{stderr}"
    );
}

#[test]
fn a_run_with_nothing_in_flight_is_refused() {
    let (code, stderr) = bench(&["--concurrency", "0", "--wait", "0s"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--concurrency"), "{stderr}");
}

#[test]
fn a_server_pid_that_is_not_running_is_refused_before_any_call() {
    let (code, stderr) = bench(&["--server-pid", "4000000000", "--wait", "0s"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("/proc/4000000000/stat"), "{stderr}");
}
