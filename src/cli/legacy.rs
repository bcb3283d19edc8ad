//! `inkan legacy import-refresh-tokens`: reads a former system's refresh
//! tokens from its export and stores their SHA-256 in the ledger, all in
//! one transaction. A line that does not parse stops the import before the
//! ledger is touched, named by its number and the field at fault, never by
//! its content (a token in the wrong column must not reach a terminal).
//!
//! The export is CSV with a header row, or JSON lines (one object a line):
//!
//! ```text
//! token,subject,expires_at                    sha256,subject,expires_at
//! eyJhbGciOi...,42,2027-01-31T00:00:00Z       9f86d08...,user-7,1800000000
//!
//! {"token": "eyJhbGciOi...", "subject": 42, "expires_at": 1800000000}
//! {"sha256": "9f86d08...", "subject": "user-7", "expires_at": "2027-01-31T00:00:00Z"}
//! ```
//!
//! Each record gives the token or its SHA-256 (64 hex digits), whom it
//! belongs to (a string, or an integer taken in decimal) and when it
//! expires (Unix seconds or RFC 3339).

use std::{io::Read, path::Path};

use clap::ValueEnum;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{
    clock::now,
    config::Settings,
    ids::Subject,
    ledger::{Ledger, LegacyImportRow},
    server::error_chain,
    token::MAX_TOKEN_BYTES,
};

/// How the export is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum ExportFormat {
    /// Comma-separated, with a header row naming the columns.
    Csv,
    /// One JSON object a line.
    Jsonl,
}

impl ExportFormat {
    /// The format a file's name says: `.csv` or `.jsonl`, `.ndjson`, `.json`.
    fn of(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(Self::Csv),
            "jsonl" | "ndjson" | "json" => Some(Self::Jsonl),
            _ => None,
        }
    }
}

/// One record as read, before it is checked.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    sha256: Option<String>,
    subject: Value,
    expires_at: Value,
}

/// Reads the export in `text` as `format`; the first problem, with its
/// line number, or every record as a row to import.
pub(super) fn parse_export(
    text: &str,
    format: ExportFormat,
) -> Result<Vec<LegacyImportRow>, String> {
    match format {
        ExportFormat::Jsonl => parse_jsonl(text),
        ExportFormat::Csv => parse_csv(text),
    }
}

fn parse_jsonl(text: &str) -> Result<Vec<LegacyImportRow>, String> {
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(line).map_err(|err| {
            // serde's message may quote a value (a misplaced token): say
            // only what kind of problem it is.
            let what = match err.classify() {
                serde_json::error::Category::Data => {
                    "not an object of token or sha256, subject and expires_at (unknown, missing \
                     or mistyped field)"
                }
                _ => "not one JSON object",
            };
            format!("line {number}: {what}")
        })?;
        rows.push(check(record, number)?);
    }
    Ok(rows)
}

fn parse_csv(text: &str) -> Result<Vec<LegacyImportRow>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|_| "line 1: the header row does not parse as CSV".to_owned())?
        .clone();
    let column = |name: &str| -> Result<Option<usize>, String> {
        let found: Vec<usize> = headers
            .iter()
            .enumerate()
            .filter(|(_, h)| h.eq_ignore_ascii_case(name))
            .map(|(i, _)| i)
            .collect();
        match found[..] {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            _ => Err(format!("line 1: the header names {name} twice")),
        }
    };
    let (token, sha256, subject, expires_at) = (
        column("token")?,
        column("sha256")?,
        column("subject")?,
        column("expires_at")?,
    );
    if let Some(unknown) = headers.iter().position(|h| {
        !["token", "sha256", "subject", "expires_at"]
            .iter()
            .any(|known| h.eq_ignore_ascii_case(known))
    }) {
        // Not quoted: without a header row, the "header" is a token.
        return Err(format!(
            "line 1: column {} is not token, sha256, subject or expires_at (is the header row \
             missing?)",
            unknown + 1
        ));
    }
    let (Some(subject), Some(expires_at)) = (subject, expires_at) else {
        return Err(
            "line 1: the header must name subject and expires_at, and token or sha256".into(),
        );
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|err| {
            let line = err.position().map_or(0, |p| p.line());
            match err.kind() {
                csv::ErrorKind::UnequalLengths { .. } => {
                    format!("line {line}: it has a different number of fields than the header")
                }
                csv::ErrorKind::Utf8 { .. } => format!("line {line}: it is not UTF-8"),
                _ => format!("line {line}: it does not parse as CSV"),
            }
        })?;
        let number = usize::try_from(record.position().map_or(0, |p| p.line())).unwrap_or(0);
        let field = |index: Option<usize>| {
            index
                .and_then(|i| record.get(i))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let text = |index: usize| Value::String(record.get(index).unwrap_or_default().to_owned());
        rows.push(check(
            Record {
                token: field(token),
                sha256: field(sha256),
                subject: text(subject),
                expires_at: text(expires_at),
            },
            number,
        )?);
    }
    Ok(rows)
}

/// Checks one record from line `line` and makes it a row: the digest (of
/// the token, or as given), the subject and the expiry.
fn check(record: Record, line: usize) -> Result<LegacyImportRow, String> {
    let problem = |what: &str| format!("line {line}: {what}");
    let token_hash = match (record.token, record.sha256) {
        (Some(token), None) => {
            let token = token.trim();
            if token.is_empty()
                || token.len() > MAX_TOKEN_BYTES
                || token.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(problem(
                    "token is empty, longer than 8 KiB, or holds whitespace",
                ));
            }
            hex(&Sha256::digest(token.as_bytes()))
        }
        (None, Some(digest)) => {
            let digest = digest.trim();
            if digest.len() != 64 || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(problem("sha256 is not 64 hexadecimal digits"));
            }
            digest.to_ascii_lowercase()
        }
        (Some(_), Some(_)) => return Err(problem("give token or sha256, not both")),
        (None, None) => return Err(problem("token or sha256 is missing")),
    };
    let subject = match record.subject {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        _ => return Err(problem("subject is not a string or an integer")),
    };
    Subject::parse(&subject).map_err(|_| {
        problem("subject is empty, longer than 255 bytes, or holds control characters")
    })?;
    let expires_at = match record.expires_at {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>().ok().or_else(|| {
                humantime::parse_rfc3339_weak(s)
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .and_then(|d| i64::try_from(d.as_secs()).ok())
            })
        }
        _ => None,
    }
    .filter(|t| *t > 0)
    .ok_or_else(|| problem("expires_at is not Unix seconds or an RFC 3339 time"))?;
    Ok(LegacyImportRow {
        token_hash,
        subject,
        expires_at,
        line,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads the export at `path` (`-`: standard input).
fn read(path: &Path) -> Result<String, String> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read the export from standard input: {e}"))?;
    } else {
        text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    }
    Ok(text)
}

/// Imports the export at `path` into the ledger `settings` names.
pub(super) async fn import(
    path: &Path,
    format: Option<ExportFormat>,
    settings: Settings,
) -> Result<(), String> {
    let format = format.or_else(|| ExportFormat::of(path)).ok_or(
        "say how the export is written: --format csv or --format jsonl (or name it .csv or .jsonl)",
    )?;
    let rows =
        parse_export(&read(path)?, format).map_err(|e| format!("{e}; nothing was imported"))?;
    let url = settings.database_url.ok_or(
        "no ledger database: set database_url in the config file, INKAN_DATABASE_URL or --database-url",
    )?;
    let ledger = Ledger::connect(url.expose_secret()).await.map_err(|e| {
        format!(
            "cannot open the ledger database: {} (check database_url / INKAN_DATABASE_URL)",
            error_chain(&e)
        )
    })?;
    let schema = ledger
        .schema_state()
        .await
        .map_err(|e| format!("cannot read the ledger's schema: {}", error_chain(&e)))?;
    if !schema.is_current() {
        return Err(format!("ledger: {schema}"));
    }
    let summary = ledger
        .import_legacy_refresh_tokens(&rows, now())
        .await
        .map_err(|e| {
            format!(
                "the import failed, and nothing was imported: {}",
                error_chain(&e)
            )
        })?
        .map_err(|conflict| conflict.to_string())?;
    println!(
        "imported {} legacy refresh tokens; {} already present",
        summary.imported, summary.already_present
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl";

    fn digest(token: &str) -> String {
        hex(&Sha256::digest(token.as_bytes()))
    }

    #[test]
    fn both_formats_give_the_same_rows() {
        let csv = format!(
            "token,subject,expires_at\n{TOKEN},42,1800000000\n\n\
             \"{TOKEN}x\",\"Smith, J.\",2027-01-31T00:00:00Z\n"
        );
        let jsonl = format!(
            "{{\"token\": \"{TOKEN}\", \"subject\": 42, \"expires_at\": 1800000000}}\n\n\
             {{\"sha256\": \"{}\", \"subject\": \"Smith, J.\", \"expires_at\": \"2027-01-31T00:00:00Z\"}}\n",
            digest(&format!("{TOKEN}x")).to_uppercase()
        );
        let from_csv = parse_export(&csv, ExportFormat::Csv).unwrap();
        let from_jsonl = parse_export(&jsonl, ExportFormat::Jsonl).unwrap();
        let strip = |rows: Vec<LegacyImportRow>| {
            rows.into_iter()
                .map(|r| (r.token_hash, r.subject, r.expires_at))
                .collect::<Vec<_>>()
        };
        let expected = vec![
            (digest(TOKEN), "42".to_owned(), 1_800_000_000),
            (
                digest(&format!("{TOKEN}x")),
                "Smith, J.".to_owned(),
                1_801_353_600,
            ),
        ];
        assert_eq!(strip(from_csv), expected);
        assert_eq!(strip(from_jsonl), expected);
    }

    #[test]
    fn a_bad_line_is_named_by_number_and_never_quoted() {
        let cases = [
            (
                ExportFormat::Jsonl,
                format!("{{\"token\": \"{TOKEN}\", \"subject\": \"a\", \"expires_at\": 1}}\n{{\"token\": \"{TOKEN}\", \"subject\": \"a\"}}\n"),
                "line 2:",
            ),
            (
                ExportFormat::Jsonl,
                format!("\n\n{{\"tokn\": \"{TOKEN}\", \"subject\": \"a\", \"expires_at\": 1}}\n"),
                "line 3:",
            ),
            (
                ExportFormat::Csv,
                format!("token,subject,expires_at\n{TOKEN},a,1\n{TOKEN},a\n"),
                "line 3:",
            ),
            (
                ExportFormat::Csv,
                format!("token,subject,expires_at\n{TOKEN},a,1\n{TOKEN},a,{TOKEN}\n"),
                "line 3: expires_at",
            ),
            (
                ExportFormat::Csv,
                format!("token,subject,expiry\n{TOKEN},a,1\n"),
                "line 1: column 3 is not",
            ),
            (
                ExportFormat::Csv,
                format!("{TOKEN},a,1\n"),
                "line 1: column 1 is not",
            ),
            (
                ExportFormat::Csv,
                "sha256,subject,expires_at\nabc,a,1\n".to_owned(),
                "line 2: sha256",
            ),
        ];
        for (format, text, expected) in cases {
            let err = parse_export(&text, format).unwrap_err();
            assert!(err.starts_with(expected), "{expected}: {err}");
            assert!(!err.contains("eyJ"), "quoted a token: {err}");
        }
    }
}
