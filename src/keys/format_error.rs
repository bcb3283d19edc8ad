//! Why a key-set file does not parse, said without quoting it.
//!
//! serde's messages quote the offending value (`unknown variant
//! "-----BEGIN PRIVATE KEY-----…"`), and in a key-set file that value may be
//! a private key put in the wrong field, which would then be printed to a
//! terminal or written to a log. A message made here holds only where the
//! problem is (the field's path, the line and column) and what kind of
//! problem it is; field names come from inkan's own format, never from the
//! file, unless they are plainly names.

use serde_path_to_error::Segment;

/// Describes a failed parse of a key-set file: where, and what kind of
/// problem, never the value found.
pub(super) fn describe(err: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let inner = err.inner();
    let place = format!("line {}, column {}", inner.line(), inner.column());
    if !inner.is_data() {
        // Syntax and end-of-input messages are fixed texts ("expected `,`
        // or `}`"), never the input.
        return syntax(inner);
    }
    let field = path(err.path());
    format!(
        "{field}: {} ({place}; the value is not shown, as it may be key material)",
        problem(inner)
    )
}

/// A syntax error's own message, which quotes nothing of the input.
pub(super) fn syntax(err: &serde_json::Error) -> String {
    err.to_string()
}

/// The path to the field, with map keys shown only when they are names.
fn path(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } if is_name(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Map { .. } | Segment::Enum { .. } | Segment::Unknown => {
                out.push_str(if out.is_empty() { "?" } else { ".?" })
            }
        }
    }
    if out.is_empty() {
        "the file".into()
    } else {
        out
    }
}

fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 32
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The kind of problem, from serde's message, with the value left out.
/// What serde expected comes from inkan's format, so it may be said.
fn problem(err: &serde_json::Error) -> String {
    let full = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full);
    // serde puts what it expected last, after the value it found.
    let expected = message
        .rfind(", expected ")
        .map(|at| &message[at + ", expected ".len()..]);
    let quoted_name = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .filter(|name| is_name(name))
            .map(str::to_owned)
    };
    if let Some(name) = quoted_name("missing field `") {
        return format!("the field `{name}` is missing");
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let name = quoted_name("unknown field `")
            .map(|name| format!("`{name}` "))
            .unwrap_or_default();
        let allowed = rest
            .rfind(", expected ")
            .map(|at| format!(" (expected {})", &rest[at + ", expected ".len()..]))
            .unwrap_or_default();
        return format!("the field {name}is not part of the format{allowed}");
    }
    if let Some(name) = quoted_name("duplicate field `") {
        return format!("the field `{name}` appears twice");
    }
    let expecting = expected
        .map(|e| format!(", expected {e}"))
        .unwrap_or_default();
    if message.starts_with("unknown variant ") {
        return format!("not an accepted value{expecting}");
    }
    if let Some(found) = message.strip_prefix("invalid type: ") {
        let kind = match found.split([' ', ',']).next().unwrap_or_default() {
            "string" => "a string",
            "integer" | "floating" => "a number",
            "boolean" => "true or false",
            "map" => "an object",
            "sequence" => "an array",
            "null" | "unit" => "null",
            _ => "another kind of value",
        };
        return format!("found {kind}{expecting}");
    }
    if message.starts_with("invalid length ") {
        return format!("the wrong number of elements{expecting}");
    }
    format!("an invalid value{expecting}")
}

#[cfg(test)]
mod tests {
    use super::super::KeySetFile;

    fn refusal(text: &str) -> String {
        KeySetFile::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn each_kind_of_problem_is_named_with_its_field_and_place() {
        let pem = "-----BEGIN PRIVATE KEY-----\\nMC4CAQAwBQYDK2VwBCIEIAAAAAAA\\n-----END PRIVATE KEY-----\\n";
        let cases = [
            (
                format!(r#"{{"keys":[{{"kid":"a","alg":"{pem}","state":"active"}}]}}"#),
                "keys[0].alg: not an accepted value, expected one of `EdDSA`, `ES256`, `RS256`, `HS256` (line 1, column",
            ),
            (
                format!(r#"{{"keys":[{{"kid":"a","alg":"EdDSA","state":"{pem}"}}]}}"#),
                "keys[0].state: not an accepted value, expected one of `next`, `active`, `verify_only`",
            ),
            (
                r#"{"keys":[{"kid":918273645,"alg":"EdDSA","state":"active"}]}"#.into(),
                "keys[0].kid: found a number, expected a string",
            ),
            (
                r#"{"keys":[{"alg":"EdDSA","state":"active"}]}"#.into(),
                "keys[0]: the field `kid` is missing",
            ),
            (
                r#"{"keys":[{"kid":"a","alg":"EdDSA","state":"active","colour":"crimson"}]}"#.into(),
                "keys[0].colour: the field `colour` is not part of the format (expected one of",
            ),
            (
                format!(r#"{{"keys":[{{"kid":"a","alg":"EdDSA","state":"active","{pem}":1}}]}}"#),
                "keys[0].?: the field is not part of the format",
            ),
            (
                r#"{"keys":[{"kid":"a","alg":"EdDSA","state":"active"}"#.into(),
                "EOF while parsing a list at line 1 column",
            ),
            (
                r#"{"keys":[]} trailing"#.into(),
                "trailing characters at line 1 column",
            ),
        ];
        for (text, expected) in cases {
            let message = refusal(&text);
            assert!(
                message.contains(expected),
                "{message}\n  wanted: {expected}"
            );
            for part in ["PRIVATE KEY", "MC4CAQAw", "918273645", "crimson"] {
                assert!(!message.contains(part), "{message}");
            }
        }
    }
}
