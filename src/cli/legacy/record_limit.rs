//! Reading an export as a stream, with every record bounded: a record
//! longer than [`MAX_RECORD_BYTES`] is refused as soon as that many bytes
//! of it are read, before any parser holds it whole.

use std::{
    fmt,
    io::{self, Read},
};

use super::ExportFormat;

/// The longest record an export may hold, in bytes. A record is a token of
/// at most 8 KiB ([`crate::token::MAX_TOKEN_BYTES`]) or a digest, a subject of at most
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
pub(super) struct RecordLimit<R> {
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
    pub(super) fn new(inner: R, format: ExportFormat) -> Self {
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
pub(super) fn read_error(err: &io::Error) -> String {
    match err.get_ref().and_then(|e| e.downcast_ref::<TooLong>()) {
        Some(too_long) => too_long.to_string(),
        None => format!("cannot read the export: {err}"),
    }
}
