//! What an anonymous caller or a bad file can make inkan spend, bounded: a
//! flood of placeholder-signed tokens writes a few log lines (while every
//! one is counted), and a multi-megabyte line in a refresh-token export is
//! refused as it is read, before it is held whole.

use std::{
    path::Path,
    process::{Command, Output},
    time::Duration,
};

use crate::common::{
    self, eventually, former_refresh_token, fresh_database, migrate_with, run_inkan_with_stdin,
    server_config, Backend, Served,
};
use inkan::proto::v1::{token_service_client::TokenServiceClient, RefreshRequest};

/// A former-system refresh JWT signed with the placeholder "ACCESS_SECRET"
/// (no kid), with its own `jti`.
fn placeholder_signed(jti: &str) -> String {
    former_refresh_token(b"ACCESS_SECRET", 1, jti, 3_600)
}

/// The review's flood: anonymous Refresh calls, each with a forged token
/// of a fresh `jti`. Each is refused and counted; the log holds a handful
/// of security events, not one per call.
async fn a_placeholder_flood_is_counted_in_full_and_logged_in_few_lines(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let url = fresh_database(backend, path).await;
    let config = server_config(path, &url, "");
    migrate_with(config.to_str().unwrap(), path);
    let server = tokio::task::spawn_blocking(move || Served::start(&config))
        .await
        .unwrap();
    let mut client = TokenServiceClient::connect(format!("http://{}", server.grpc))
        .await
        .unwrap();
    let flood = 600;
    for i in 0..flood {
        let refused = client
            .refresh(RefreshRequest {
                refresh_token: placeholder_signed(&format!("flood-{i}")),
            })
            .await
            .unwrap_err();
        assert!(
            refused.message().contains("placeholder secret"),
            "{}",
            refused.message()
        );
    }
    assert_eq!(
        server
            .metric("inkan_placeholder_signed_tokens_total{placeholder=\"ACCESS_SECRET\"}")
            .await,
        Some(f64::from(flood)),
        "every forged token is counted"
    );
    // Each call's own line follows its security event (if any), so once
    // every call's line is in, so is every event.
    eventually("every refusal logged", Duration::from_secs(20), || async {
        server.count(|e| e["outcome"] == "SIGNATURE_INVALID") >= flood as usize
    })
    .await;
    let events =
        server.count(|e| e["security_event"] == true && e["placeholder"] == "ACCESS_SECRET");
    let one_by_one = server.count(|e| {
        e["security_event"] == true
            && e["token_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("jti:flood-"))
    });
    // A few tokens logged one by one, and at most a summary line; far
    // from one line per call.
    assert!(one_by_one >= 1, "the first forged token is logged at once");
    assert!(
        events <= 10,
        "{events} security-event lines for {flood} forged tokens"
    );
    // Nothing of a token reached the log.
    let forged = placeholder_signed("flood-0");
    let signature = forged.rsplit('.').next().unwrap();
    assert_eq!(server.count(|e| e.to_string().contains(signature)), 0);
}

/// The peak resident memory of `inkan args` run in `dir`, as
/// `/usr/bin/time -v` measures it, with its output; `None` for the peak
/// where that tool is missing or says nothing (the run still happens).
fn run_measured(args: &[&str], dir: &Path) -> (Output, Option<u64>) {
    let report = dir.join("time.txt");
    let _ = std::fs::remove_file(&report);
    let time = Path::new("/usr/bin/time");
    let mut command = if time.exists() {
        let mut command = Command::new(time);
        command
            .args(["-v", "-o", report.to_str().unwrap()])
            .arg(env!("CARGO_BIN_EXE_inkan"));
        command
    } else {
        Command::new(env!("CARGO_BIN_EXE_inkan"))
    };
    command.args(args).current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("INKAN_") {
            command.env_remove(name);
        }
    }
    let output = command.output().expect("run the inkan binary");
    let peak_kib = std::fs::read_to_string(&report).ok().and_then(|text| {
        text.lines().find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes):")?
                .trim()
                .parse()
                .ok()
        })
    });
    (output, peak_kib)
}

/// A 16 MiB line in an export: refused as it is read, named by its line
/// and never quoted, with nothing imported and the process's peak memory
/// far below the line's size (it was 4x the line's size when the export
/// was read whole and the CSV parser buffered the line).
async fn an_over_long_export_line_is_refused_as_it_is_read(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let url = fresh_database(backend, path).await;
    let config = server_config(path, &url, "");
    let config_arg = config.to_str().unwrap();
    migrate_with(config_arg, path);
    let good = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoxfQ.c2ln";
    let line_bytes = 16 * 1024 * 1024;
    let long = format!("eyJ{}", "A".repeat(line_bytes));
    std::fs::write(
        path.join("export.csv"),
        format!("token,subject,expires_at\n{good},1,4102444800\n{long},2,4102444800\n{good}x,3,4102444800\n"),
    )
    .unwrap();
    // The same command refused on a short file, for the process's own size.
    std::fs::write(
        path.join("small.csv"),
        format!("token,subject,expires_at\n{good},1,4102444800\n{good}x,2,never\n"),
    )
    .unwrap();
    let import = |file: &'static str| {
        [
            "legacy",
            "import-refresh-tokens",
            file,
            "--config",
            config_arg,
        ]
    };

    let (baseline, baseline_peak) = run_measured(&import("small.csv"), path);
    assert!(!baseline.status.success());
    let (out, peak) = run_measured(&import("export.csv"), path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("line 3: the record is longer than 16 KiB")
            && stderr.contains("nothing was imported"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("AAAAAAAA") && !stderr.contains("eyJ"),
        "the line was quoted: {:.200}",
        stderr
    );
    if let (Some(baseline_peak), Some(peak)) = (baseline_peak, peak) {
        // The line is 16 MiB: holding it once would pass this bound.
        assert!(
            peak < baseline_peak + 8 * 1024,
            "peak RSS {peak} KiB against {baseline_peak} KiB for a short file"
        );
    } else {
        eprintln!("no /usr/bin/time -v here: the peak memory was not checked");
    }

    // The same from standard input, as JSON lines.
    let jsonl = format!(
        "{{\"token\": \"{good}\", \"subject\": 1, \"expires_at\": 4102444800}}\n\
         {{\"token\": \"{long}\", \"subject\": 2, \"expires_at\": 4102444800}}\n"
    );
    let out = run_inkan_with_stdin(
        &[
            "legacy",
            "import-refresh-tokens",
            "-",
            "--format",
            "jsonl",
            "--config",
            config_arg,
        ],
        &jsonl,
        path,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("line 2: the record is longer than 16 KiB")
            && stderr.contains("nothing was imported"),
        "{stderr}"
    );
    assert!(!stderr.contains("AAAAAAAA"), "the line was quoted");

    // Nothing reached the ledger, not even the good first rows.
    let ledger = inkan::ledger::Ledger::connect(&url).await.unwrap();
    assert_eq!(ledger.legacy_refresh_tokens_left(0).await.unwrap(), 0);
}

backend_fns!(
    a_placeholder_flood_is_counted_in_full_and_logged_in_few_lines,
    an_over_long_export_line_is_refused_as_it_is_read
);
