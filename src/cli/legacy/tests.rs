//! The export's parsing: its formats, kinds, bounds and refusals.

use std::io;

use super::{record_limit::MAX_RECORD_BYTES, *};

const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl";

/// Vouches for every line; opaque tokens go under `monolith`.
struct Anything;

impl Judge for Anything {
    fn jwt(&self, _: &str, _: &str) -> Result<(), String> {
        Ok(())
    }
    fn opaque(&self) -> Result<String, String> {
        Ok("monolith".into())
    }
}

/// Refuses every JWT and has no key for opaque tokens.
struct Nothing;

impl Judge for Nothing {
    fn jwt(&self, _: &str, _: &str) -> Result<(), String> {
        Err("no legacy key verifies it".into())
    }
    fn opaque(&self) -> Result<String, String> {
        Err("no legacy key for opaque tokens".into())
    }
}

#[test]
fn each_line_has_a_kind_by_its_shape_or_as_it_says() {
    let opaque = "9b2c".repeat(16);
    let csv = format!(
        "token,sha256,kind,subject,expires_at,client_id,device\n\
         {TOKEN},,,42,1800000000,,\n\
         {opaque},,,42,1800000000,web,Firefox on Linux\n\
         ,{},opaque,43,1800000000,,\n\
         ,{},,44,1800000000,,\n",
        digest("a"),
        digest("b")
    );
    let rows = parse_export(csv.as_bytes(), ExportFormat::Csv, &Anything).unwrap();
    let kinds: Vec<_> = rows.iter().map(|r| r.kind).collect();
    use LegacyTokenKind::{Jwt, Opaque};
    assert_eq!(kinds, [Jwt, Opaque, Opaque, Jwt]);
    assert_eq!(rows[1].token_hash, digest(&opaque));
    assert_eq!(rows[1].client_id.as_deref(), Some("web"));
    assert_eq!(rows[1].device.as_deref(), Some("Firefox on Linux"));
    assert_eq!(rows[1].legacy_key.as_deref(), Some("monolith"));
    assert_eq!(rows[0].legacy_key, None);
    let jsonl = format!(
        "{{\"token\": \"{opaque}\", \"kind\": \"opaque\", \"subject\": 42, \"expires_at\": 1800000000}}\n"
    );
    let rows = parse_export(jsonl.as_bytes(), ExportFormat::Jsonl, &Anything).unwrap();
    assert_eq!(rows[0].kind, Opaque);
    // A kind that contradicts the token's shape, or is neither.
    for (line, expected) in [
        (
            format!("{TOKEN},,opaque,42,1800000000,,"),
            "line 2: kind says otherwise",
        ),
        (
            format!("{opaque},,jwt,42,1800000000,,"),
            "line 2: kind says otherwise",
        ),
        (
            format!("{opaque},,refresh,42,1800000000,,"),
            "line 2: kind is not",
        ),
        (
            format!("{opaque},,,42,1800000000,web\u{7},"),
            "line 2: client_id",
        ),
    ] {
        let csv = format!("token,sha256,kind,subject,expires_at,client_id,device\n{line}\n");
        let err = parse_export(csv.as_bytes(), ExportFormat::Csv, &Anything).unwrap_err();
        assert!(err.starts_with(expected), "{expected}: {err}");
        assert!(!err.contains(&opaque) && !err.contains("eyJ"), "{err}");
    }
}

#[test]
fn a_line_the_keys_do_not_vouch_for_is_named_after_every_line_parsed() {
    let opaque = "9b2c".repeat(16);
    let vouched =
        format!("token,subject,expires_at\n{opaque},42,1800000000\n{TOKEN},42,1800000000\n");
    let err = parse_export(vouched.as_bytes(), ExportFormat::Csv, &Nothing).unwrap_err();
    assert_eq!(err, "line 2: no legacy key for opaque tokens");
    let jwt_first = format!("token,subject,expires_at\n{TOKEN},42,1800000000\n");
    let err = parse_export(jwt_first.as_bytes(), ExportFormat::Csv, &Nothing).unwrap_err();
    assert_eq!(err, "line 2: no legacy key verifies it");
    // A line that does not parse is named first, wherever it is.
    let malformed = format!("{vouched}{TOKEN},42,never\n");
    let err = parse_export(malformed.as_bytes(), ExportFormat::Csv, &Nothing).unwrap_err();
    assert!(err.starts_with("line 4: expires_at"), "{err}");
    // A digest of a JWT needs no key.
    let digest_only = format!(
        "sha256,subject,expires_at\n{},42,1800000000\n",
        digest(TOKEN)
    );
    assert!(parse_export(digest_only.as_bytes(), ExportFormat::Csv, &Nothing).is_ok());
}

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
    let from_csv = parse_export(csv.as_bytes(), ExportFormat::Csv, &Anything).unwrap();
    let from_jsonl = parse_export(jsonl.as_bytes(), ExportFormat::Jsonl, &Anything).unwrap();
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
        let err = parse_export(text.as_bytes(), format, &Anything).unwrap_err();
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
        let err = parse_export(&mut input, format, &Anything).unwrap_err();
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
    let rows = parse_export(csv.as_bytes(), ExportFormat::Csv, &Anything).unwrap();
    assert_eq!(rows.len(), 4_000);
    assert_eq!(rows[0].subject, "Smith \"J\"");
    assert_eq!(rows[1].subject, "Smith, \"J\"");
    let rows = parse_export(jsonl.as_bytes(), ExportFormat::Jsonl, &Anything).unwrap();
    assert_eq!(rows.len(), 2_000);
    // A record of just the limit passes.
    let near = format!(
        "token,subject,expires_at\n{TOKEN},{}a,1\n",
        " ".repeat(MAX_RECORD_BYTES - TOKEN.len() - 4)
    );
    assert_eq!(
        parse_export(near.as_bytes(), ExportFormat::Csv, &Anything)
            .unwrap()
            .len(),
        1
    );
}
