//! `inkan legacy import-refresh-tokens`: reads a former system's refresh
//! tokens from its export and stores their SHA-256 in the ledger, all in
//! one transaction. A line that does not parse stops the import before the
//! ledger is touched, named by its number and the field at fault, never by
//! its content (a token in the wrong column must not reach a terminal).
//!
//! The export is read as a stream, and a record longer than
//! [`MAX_RECORD_BYTES`] is refused as soon as that many bytes of it are
//! read, before the parser holds it whole: a stray multi-megabyte line (or
//! a quoted field left open) costs a few kilobytes of memory, not a
//! multiple of its size. Only the rows parsed so far are held (the file's
//! text never is), and nothing reaches the ledger unless every line passed.
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

use std::{
    fmt,
    io::{self, BufRead, BufReader, Read},
    path::Path,
};

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

/// The longest record an export may hold, in bytes. A record is a token of
/// at most 8 KiB ([`MAX_TOKEN_BYTES`]) or a digest, a subject of at most
/// 255 bytes and a time: twice the longest token leaves room for quoting,
/// escapes and spaces, and none of a real export comes near it.
pub(super) const MAX_RECORD_BYTES: usize = 16 * 1024;

/// A record over [`MAX_RECORD_BYTES`], by the line it starts on; never its
/// content.
#[derive(Debug)]
struct TooLong {
    line: u64,
}

impl fmt::Display for TooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: the record is longer than {} KiB, more than any refresh-token row (a \
             token is at most 8 KiB); is this the export?",
            self.line,
            MAX_RECORD_BYTES / 1024
        )
    }
}

impl std::error::Error for TooLong {}

/// Where a CSV record is, in the syntax the `csv` crate reads by default:
/// `"` opens a quoted field only at a field's start, `""` within one is a
/// quote, and CR or LF ends a record outside quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CsvState {
    FieldStart,
    Unquoted,
    Quoted,
    /// A `"` in a quoted field: its end, or the first of `""`.
    QuoteInQuoted,
}

/// Reads through to `inner`, failing with [`TooLong`] as soon as a record
/// passes [`MAX_RECORD_BYTES`]: for JSON lines a line, for CSV a record
/// (which a quoted field may carry over several lines).
struct RecordLimit<R> {
    inner: R,
    csv: bool,
    state: CsvState,
    /// The line being read, from 1.
    line: u64,
    /// The line the current record started on.
    record_line: u64,
    record_bytes: usize,
    /// Set once a record was too long: every later read fails the same way.
    refused: Option<u64>,
}

impl<R: Read> RecordLimit<R> {
    fn new(inner: R, format: ExportFormat) -> Self {
        Self {
            inner,
            csv: format == ExportFormat::Csv,
            state: CsvState::FieldStart,
            line: 1,
            record_line: 1,
            record_bytes: 0,
            refused: None,
        }
    }

    /// Takes one byte of input; false once its record is too long.
    fn step(&mut self, byte: u8) -> bool {
        use CsvState as S;
        let ends_record = if self.csv {
            let (next, ends) = match (self.state, byte) {
                (S::Quoted, b'"') => (S::QuoteInQuoted, false),
                (S::Quoted, _) => (S::Quoted, false),
                // Opens a quoted field, or is the second of `""`.
                (S::FieldStart | S::QuoteInQuoted, b'"') => (S::Quoted, false),
                (_, b',') => (S::FieldStart, false),
                (_, b'\n' | b'\r') => (S::FieldStart, true),
                // Anything else, a quote within an unquoted field included,
                // is the field's text.
                _ => (S::Unquoted, false),
            };
            self.state = next;
            ends
        } else {
            byte == b'\n'
        };
        if byte == b'\n' {
            self.line += 1;
        }
        if ends_record {
            self.record_bytes = 0;
            self.record_line = self.line;
            return true;
        }
        if self.record_bytes == 0 {
            self.record_line = self.line;
        }
        self.record_bytes += 1;
        self.record_bytes <= MAX_RECORD_BYTES
    }
}

impl<R: Read> Read for RecordLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let refused = |line| io::Error::new(io::ErrorKind::InvalidData, TooLong { line });
        if let Some(line) = self.refused {
            return Err(refused(line));
        }
        let read = self.inner.read(buf)?;
        for &byte in &buf[..read] {
            if !self.step(byte) {
                self.refused = Some(self.record_line);
                return Err(refused(self.record_line));
            }
        }
        Ok(read)
    }
}

/// What a read error says: a record too long by its line, anything else
/// as the system says it (which never quotes the file).
fn read_error(err: &io::Error) -> String {
    match err.get_ref().and_then(|e| e.downcast_ref::<TooLong>()) {
        Some(too_long) => too_long.to_string(),
        None => format!("cannot read the export: {err}"),
    }
}

/// Reads the export from `input` as `format`; the first problem, with its
/// line number, or every record as a row to import. Records longer than
/// [`MAX_RECORD_BYTES`] are refused as they are read.
pub(super) fn parse_export(
    input: impl Read,
    format: ExportFormat,
) -> Result<Vec<LegacyImportRow>, String> {
    let input = RecordLimit::new(input, format);
    match format {
        ExportFormat::Jsonl => parse_jsonl(BufReader::new(input)),
        ExportFormat::Csv => parse_csv(input),
    }
}

fn parse_jsonl(mut input: impl BufRead) -> Result<Vec<LegacyImportRow>, String> {
    let mut rows = Vec::new();
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

fn parse_csv(input: impl Read) -> Result<Vec<LegacyImportRow>, String> {
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
        let record = record.map_err(|err| csv_error(&err, false))?;
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

/// Reads and parses the export at `path` (`-`: standard input), as a
/// stream: see [`parse_export`].
fn read(path: &Path, format: ExportFormat) -> Result<Vec<LegacyImportRow>, String> {
    let rows = if path.as_os_str() == "-" {
        parse_export(std::io::stdin().lock(), format)
    } else {
        let file = std::fs::File::open(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        parse_export(file, format)
    };
    rows.map_err(|e| format!("{e}; nothing was imported"))
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
    // Parsed in full before the ledger is opened: a refused export writes
    // nothing at all.
    let rows = read(path, format)?;
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
        let from_csv = parse_export(csv.as_bytes(), ExportFormat::Csv).unwrap();
        let from_jsonl = parse_export(jsonl.as_bytes(), ExportFormat::Jsonl).unwrap();
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
            let err = parse_export(text.as_bytes(), format).unwrap_err();
            assert!(err.starts_with(expected), "{expected}: {err}");
            assert!(!err.contains("eyJ"), "quoted a token: {err}");
        }
    }

    /// Input that counts what was read from it, so a test can see a long
    /// record refused before it was read whole.
    struct Counted<'a> {
        bytes: &'a [u8],
        read: usize,
    }

    impl Read for Counted<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.bytes[self.read..].len().min(buf.len());
            buf[..n].copy_from_slice(&self.bytes[self.read..self.read + n]);
            self.read += n;
            Ok(n)
        }
    }

    #[test]
    fn an_over_long_record_is_refused_as_it_is_read_and_named_by_line() {
        let long = "A".repeat(4 * 1024 * 1024);
        let cases = [
            (
                ExportFormat::Csv,
                format!("token,subject,expires_at\n{TOKEN},a,1\n{long},a,1\n{TOKEN}y,b,1\n"),
                "line 3: the record is longer than 16 KiB",
            ),
            // A quoted field left open carries the record over many short
            // lines: the record is what is limited.
            (
                ExportFormat::Csv,
                format!(
                    "token,subject,expires_at\n{TOKEN},a,1\n{TOKEN}x,\"{},1\n",
                    "AAAA\n".repeat(1024 * 1024)
                ),
                "line 3: the record is longer than 16 KiB",
            ),
            (
                ExportFormat::Csv,
                format!("{long}\n"),
                "line 1: the record is longer than 16 KiB",
            ),
            (
                ExportFormat::Jsonl,
                format!(
                    "{{\"token\": \"{TOKEN}\", \"subject\": \"a\", \"expires_at\": 1}}\n\n\
                     {{\"token\": \"{long}\"}}\n"
                ),
                "line 3: the record is longer than 16 KiB",
            ),
        ];
        for (format, text, expected) in cases {
            let mut input = Counted {
                bytes: text.as_bytes(),
                read: 0,
            };
            let err = parse_export(&mut input, format).unwrap_err();
            assert!(err.starts_with(expected), "{expected}: {err}");
            assert!(
                !err.contains("AAAA") && !err.contains("eyJ"),
                "quoted: {err}"
            );
            assert!(
                input.read <= 64 * 1024,
                "{} bytes read before the refusal",
                input.read
            );
        }
    }

    #[test]
    fn a_long_export_of_short_records_passes_the_limit() {
        // A quote inside an unquoted field is text to the CSV reader, and
        // must not make the limit take the rest of the file for one record;
        // nor may a quoted field holding a comma or a doubled quote.
        let mut csv = "token,subject,expires_at\r\n".to_owned();
        let mut jsonl = String::new();
        for i in 0..2_000 {
            csv.push_str(&format!("{TOKEN}{i},Smith \"J\",1800000000\r\n"));
            csv.push_str(&format!("{TOKEN}q{i},\"Smith, \"\"J\"\"\",1800000000\r\n"));
            jsonl.push_str(&format!(
                "{{\"token\": \"{TOKEN}{i}\", \"subject\": 42, \"expires_at\": 1800000000}}\r\n"
            ));
        }
        let rows = parse_export(csv.as_bytes(), ExportFormat::Csv).unwrap();
        assert_eq!(rows.len(), 4_000);
        assert_eq!(rows[0].subject, "Smith \"J\"");
        assert_eq!(rows[1].subject, "Smith, \"J\"");
        let rows = parse_export(jsonl.as_bytes(), ExportFormat::Jsonl).unwrap();
        assert_eq!(rows.len(), 2_000);
        // A record of just the limit passes.
        let near = format!(
            "token,subject,expires_at\n{TOKEN},{}a,1\n",
            " ".repeat(MAX_RECORD_BYTES - TOKEN.len() - 4)
        );
        assert_eq!(
            parse_export(near.as_bytes(), ExportFormat::Csv)
                .unwrap()
                .len(),
            1
        );
    }
}
