//! `inkan legacy import-refresh-tokens`: reads a former system's refresh
//! tokens from its export and stores their SHA-256 in the ledger, all in
//! one transaction. A line that does not parse stops the import before the
//! ledger is touched, named by its number and the field at fault, never by
//! its content (a token in the wrong column must not reach a terminal).
//!
//! The export is read as a stream, and a record longer than
//! [`record_limit::MAX_RECORD_BYTES`] is refused as soon as that many bytes of it are
//! read, before the parser holds it whole: a stray multi-megabyte line (or
//! a quoted field left open) costs a few kilobytes of memory, not a
//! multiple of its size. Only the rows parsed so far are held (the file's
//! text never is), and nothing reaches the ledger unless every line passed.
//!
//! The export is CSV with a header row, or JSON lines (one object a line):
//!
//! ```text
//! token,subject,expires_at                    sha256,kind,subject,expires_at
//! eyJhbGciOi...,42,2027-01-31T00:00:00Z       9f86d08...,opaque,user-7,1800000000
//! 3f9a1c2e...,42,1800000000
//!
//! {"token": "eyJhbGciOi...", "subject": 42, "expires_at": 1800000000}
//! {"token": "3f9a1c2e...", "subject": 42, "expires_at": 1800000000, "client_id": "web"}
//! {"sha256": "9f86d08...", "kind": "opaque", "subject": "user-7", "expires_at": "2027-01-31T00:00:00Z"}
//! ```
//!
//! Each record gives the token or its SHA-256 (64 hex digits), whom it
//! belongs to (a string, or an integer taken in decimal) and when it
//! expires (Unix seconds or RFC 3339); optionally its `kind` (`jwt` or
//! `opaque`), and the `client_id` and `device` of its login. A token's kind
//! is its shape (three dot-separated parts make a JWT), and a `kind` that
//! says otherwise is refused; a digest's is `jwt` unless the line says
//! `opaque`. A JWT given as text must verify under a legacy key marked for
//! refresh and name the line's subject ([`vouch`]); such failures are
//! reported after the whole file parsed, so a malformed line is named
//! first.

mod record_limit;
mod vouch;

use std::{
    io::{BufRead, BufReader, Read},
    path::Path,
};

use clap::ValueEnum;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{
    authority::MAX_DEVICE_BYTES,
    clock::now,
    config::Settings,
    ids::{ClientId, Subject},
    ledger::{Ledger, LegacyImportRow, LegacyTokenKind},
    server::error_chain,
    token::MAX_TOKEN_BYTES,
};

pub(super) use vouch::Vouch;

use record_limit::{read_error, RecordLimit};

/// What vouches for the lines of an export (see [`vouch`]).
pub(super) trait Judge {
    /// Checks the JWT `token` of `subject`: what is wrong with it, never
    /// quoting it.
    fn jwt(&self, token: &str, subject: &str) -> Result<(), String>;
    /// The legacy key an opaque token is exchanged under, or why there is
    /// none.
    fn opaque(&self) -> Result<String, String>;
}

/// The columns (and JSON members) an export may have.
const COLUMNS: &[&str] = &[
    "token",
    "sha256",
    "kind",
    "subject",
    "expires_at",
    "client_id",
    "device",
];

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
    #[serde(default)]
    kind: Option<String>,
    subject: Value,
    expires_at: Value,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    device: Option<String>,
}

/// Reads the export from `input` as `format`; the first problem, with its
/// line number, or every record as a row to import. Records longer than
/// [`record_limit::MAX_RECORD_BYTES`] are refused as they are read; a line `judge`
/// refuses is named once every line parsed.
pub(super) fn parse_export(
    input: impl Read,
    format: ExportFormat,
    judge: &dyn Judge,
) -> Result<Vec<LegacyImportRow>, String> {
    let input = RecordLimit::new(input, format);
    let mut rows = Rows {
        rows: Vec::new(),
        judge,
        refused: None,
    };
    match format {
        ExportFormat::Jsonl => parse_jsonl(BufReader::new(input), &mut rows)?,
        ExportFormat::Csv => parse_csv(input, &mut rows)?,
    }
    match rows.refused {
        Some(refused) => Err(refused),
        None => Ok(rows.rows),
    }
}

/// The rows read so far, and the first line the judge refused.
struct Rows<'a> {
    rows: Vec<LegacyImportRow>,
    judge: &'a dyn Judge,
    refused: Option<String>,
}

impl Rows<'_> {
    /// Checks `record`, from line `line`, and keeps it; a record that does
    /// not parse is an error now, one the judge refuses is remembered.
    fn add(&mut self, record: Record, line: usize) -> Result<(), String> {
        let row = check(record, line, self.judge, &mut self.refused)?;
        self.rows.push(row);
        Ok(())
    }
}

fn parse_jsonl(mut input: impl BufRead, rows: &mut Rows<'_>) -> Result<(), String> {
    let mut bytes = Vec::new();
    for number in 1.. {
        bytes.clear();
        if input
            .read_until(b'\n', &mut bytes)
            .map_err(|e| read_error(&e))?
            == 0
        {
            break;
        }
        let line =
            std::str::from_utf8(&bytes).map_err(|_| format!("line {number}: it is not UTF-8"))?;
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(line).map_err(|err| {
            // serde's message may quote a value (a misplaced token): say
            // only what kind of problem it is.
            let what = match err.classify() {
                serde_json::error::Category::Data => {
                    "not an object of token or sha256, subject and expires_at, and optionally \
                     kind, client_id and device (unknown, missing or mistyped field)"
                }
                _ => "not one JSON object",
            };
            format!("line {number}: {what}")
        })?;
        rows.add(record, number)?;
    }
    Ok(())
}

/// A CSV error's line and what went wrong, never the content.
fn csv_error(err: &csv::Error, header: bool) -> String {
    let line = err.position().map_or(1, |p| p.line());
    match err.kind() {
        csv::ErrorKind::Io(io) => read_error(io),
        _ if header => "line 1: the header row does not parse as CSV".to_owned(),
        csv::ErrorKind::UnequalLengths { .. } => {
            format!("line {line}: it has a different number of fields than the header")
        }
        csv::ErrorKind::Utf8 { .. } => format!("line {line}: it is not UTF-8"),
        _ => format!("line {line}: it does not parse as CSV"),
    }
}

fn parse_csv(input: impl Read, rows: &mut Rows<'_>) -> Result<(), String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let headers = reader
        .headers()
        .map_err(|err| csv_error(&err, true))?
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
    let (token, sha256, kind, subject, expires_at, client_id, device) = (
        column("token")?,
        column("sha256")?,
        column("kind")?,
        column("subject")?,
        column("expires_at")?,
        column("client_id")?,
        column("device")?,
    );
    if let Some(unknown) = headers
        .iter()
        .position(|h| !COLUMNS.iter().any(|known| h.eq_ignore_ascii_case(known)))
    {
        // Not quoted: without a header row, the "header" is a token.
        return Err(format!(
            "line 1: column {} is not token, sha256, kind, subject, expires_at, client_id or \
             device (is the header row missing?)",
            unknown + 1
        ));
    }
    let (Some(subject), Some(expires_at)) = (subject, expires_at) else {
        return Err(
            "line 1: the header must name subject and expires_at, and token or sha256".into(),
        );
    };
    for record in reader.records() {
        let record = record.map_err(|err| csv_error(&err, false))?;
        let number = usize::try_from(record.position().map_or(0, |p| p.line())).unwrap_or(0);
        let field = |index: Option<usize>| {
            index
                .and_then(|i| record.get(i))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let text = |index: usize| Value::String(record.get(index).unwrap_or_default().to_owned());
        let record = Record {
            token: field(token),
            sha256: field(sha256),
            kind: field(kind),
            subject: text(subject),
            expires_at: text(expires_at),
            client_id: field(client_id),
            device: field(device),
        };
        rows.add(record, number)?;
    }
    Ok(())
}

/// Checks one record from line `line` and makes it a row: the digest (of
/// the token, or as given), its kind, the subject, the expiry and what the
/// line says of the login. What `judge` refuses of the line goes to
/// `refused`, if nothing went there before.
fn check(
    record: Record,
    line: usize,
    judge: &dyn Judge,
    refused: &mut Option<String>,
) -> Result<LegacyImportRow, String> {
    let problem = |what: &str| format!("line {line}: {what}");
    let stated = match record.kind.as_deref().map(str::trim) {
        None => None,
        Some(text) => {
            Some(LegacyTokenKind::parse(text).ok_or_else(|| problem("kind is not jwt or opaque"))?)
        }
    };
    let (token_hash, kind, token) = match (record.token, record.sha256) {
        (Some(token), None) => {
            let token = token.trim().to_owned();
            if token.is_empty()
                || token.len() > MAX_TOKEN_BYTES
                || token.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(problem(
                    "token is empty, longer than 8 KiB, or holds whitespace",
                ));
            }
            let kind = LegacyTokenKind::of_token(&token);
            if stated.is_some_and(|stated| stated != kind) {
                return Err(problem(
                    "kind says otherwise than the token's shape (a JWT has three \
                     dot-separated parts; an opaque token has none)",
                ));
            }
            (hex(&Sha256::digest(token.as_bytes())), kind, Some(token))
        }
        (None, Some(digest)) => {
            let digest = digest.trim();
            if digest.len() != 64 || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(problem("sha256 is not 64 hexadecimal digits"));
            }
            (
                digest.to_ascii_lowercase(),
                stated.unwrap_or_default(),
                None,
            )
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
    let client_id = record.client_id.map(|id| id.trim().to_owned());
    if let Some(id) = &client_id {
        ClientId::parse(id).map_err(|_| {
            problem("client_id is longer than 128 bytes or holds control characters")
        })?;
    }
    let device = record.device.map(|d| d.trim().to_owned());
    if device
        .as_deref()
        .is_some_and(|d| d.len() > MAX_DEVICE_BYTES || d.chars().any(char::is_control))
    {
        return Err(problem(
            "device is longer than 512 bytes or holds control characters",
        ));
    }
    let mut legacy_key = None;
    let judged = match (kind, token) {
        (LegacyTokenKind::Jwt, Some(token)) => judge.jwt(&token, &subject),
        (LegacyTokenKind::Jwt, None) => Ok(()),
        (LegacyTokenKind::Opaque, _) => judge.opaque().map(|key| legacy_key = Some(key)),
    };
    if let (Err(why), None) = (judged, refused.as_ref()) {
        *refused = Some(problem(&why));
    }
    Ok(LegacyImportRow {
        token_hash,
        kind,
        subject,
        expires_at,
        legacy_key,
        client_id,
        device,
        line,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads and parses the export at `path` (`-`: standard input), as a
/// stream: see [`parse_export`].
fn read(
    path: &Path,
    format: ExportFormat,
    judge: &dyn Judge,
) -> Result<Vec<LegacyImportRow>, String> {
    let rows = if path.as_os_str() == "-" {
        parse_export(std::io::stdin().lock(), format, judge)
    } else {
        let file = std::fs::File::open(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        parse_export(file, format, judge)
    };
    rows.map_err(|e| format!("{e}; nothing was imported"))
}

/// Imports the export at `path` into the ledger `settings` names, each
/// line vouched for by the key set `settings` names; opaque tokens go under
/// the legacy key `legacy_key` (or the only one marked for refresh).
pub(super) async fn import(
    path: &Path,
    format: Option<ExportFormat>,
    legacy_key: Option<&str>,
    settings: Settings,
) -> Result<(), String> {
    let format = format.or_else(|| ExportFormat::of(path)).ok_or(
        "say how the export is written: --format csv or --format jsonl (or name it .csv or .jsonl)",
    )?;
    let keys = settings
        .keys_file
        .as_deref()
        .map(super::keys::load)
        .transpose()?;
    let vouch = Vouch::new(keys, legacy_key, now());
    // Parsed in full before the ledger is opened: a refused export writes
    // nothing at all.
    let rows = read(path, format, &vouch)?;
    let opaque = rows
        .iter()
        .filter(|r| r.kind == LegacyTokenKind::Opaque)
        .count();
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
        "imported {} legacy refresh tokens; {} already present (lines by kind: {} jwt, {} opaque)",
        summary.imported,
        summary.already_present,
        rows.len() - opaque,
        opaque
    );
    Ok(())
}

#[cfg(test)]
mod tests;
