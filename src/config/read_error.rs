//! Saying what is wrong with a configuration without quoting it. The file
//! and the environment hold secrets (a database URL with its password), and
//! serde's messages quote the value they choke on ("invalid type: found
//! string \"postgres://inkan:hunter2@db\""), which would put it on a
//! terminal or in a log. Here each problem is named by setting, where it
//! came from and what kind of value was expected, never by the value.

use figment::error::{Actual, Kind};

/// One line per problem: setting, source, and what is wrong.
pub(super) fn describe(err: figment::Error) -> String {
    err.into_iter()
        .map(|one| {
            let setting = if one.path.is_empty() {
                "the configuration".to_owned()
            } else {
                format!("setting {}", one.path.join("."))
            };
            let source = one
                .metadata
                .as_ref()
                .map(|m| match &m.source {
                    Some(source) => format!(" (from {source})"),
                    None => format!(" (from {})", m.name),
                })
                .unwrap_or_default();
            format!("{setting}{source}: {}", problem(&one.kind))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn problem(kind: &Kind) -> String {
    match kind {
        Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
            format!("expected {expected}, found {}", shape(actual))
        }
        Kind::InvalidLength(len, expected) => format!("expected {expected}, found {len} items"),
        Kind::UnknownVariant(_, expected) => {
            format!(
                "not an accepted value; expected one of {}",
                expected.join(", ")
            )
        }
        Kind::UnknownField(name, _) => format!("unknown setting {name:?}"),
        Kind::MissingField(name) => format!("{name} is missing"),
        Kind::DuplicateField(name) => format!("{name} is given twice"),
        Kind::Message(text) => message(text),
        Kind::ISizeOutOfRange(_) | Kind::USizeOutOfRange(_) => "a number out of range".into(),
        Kind::Unsupported(actual) | Kind::UnsupportedKey(actual, _) => {
            format!("{} is not supported here", shape(actual))
        }
    }
}

/// What kind of value was found, without the value.
fn shape(actual: &Actual) -> &'static str {
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Unit | Actual::Option => "nothing",
        Actual::Seq => "a list",
        Actual::Map => "a table",
        _ => "another kind of value",
    }
}

/// A free-text message, kept only where it cannot carry a value: a TOML
/// syntax error keeps its position (its first line) and its complaint (its
/// last line), but not the quoted source line in between; other messages
/// come from parsers of durations and addresses, which say what they
/// expected. Anything else is reduced to "invalid value".
fn message(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default();
    if first.starts_with("TOML parse error") {
        let last = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty() && !l.contains('|'))
            .unwrap_or_default();
        return format!("{first}: {}", last.trim());
    }
    let safe =
        !text.contains('"') && !text.contains('`') && !text.contains('\'') && text.len() < 120;
    if safe {
        text.to_owned()
    } else {
        "invalid value".into()
    }
}

#[cfg(test)]
mod tests {
    use figment::{providers::Format, Figment};

    use super::*;
    use crate::config::Settings;

    fn refusal(toml: &str) -> String {
        let err = Figment::from(figment::providers::Toml::string(toml))
            .extract::<Settings>()
            .unwrap_err();
        describe(err)
    }

    #[test]
    fn a_secret_in_the_wrong_place_is_not_quoted() {
        for toml in [
            "reflection = \"postgres://inkan:hunter2@db/inkan\"",
            "grpc_addr = \"postgres://inkan:hunter2@db/inkan\"",
            "log_format = \"hunter2\"",
            "access_token_ttl = \"hunter2\"",
            "database_url = [\"postgres://inkan:hunter2@db\"]",
            "database_url = postgres://inkan:hunter2@db",
            "[[callers]]\nname = \"x\"\napi_key_sha256 = 5\npermissions = [\"hunter2\"]",
        ] {
            let said = refusal(toml);
            assert!(!said.contains("hunter2"), "{toml}: {said}");
            assert!(
                said.contains("setting") || said.contains("TOML"),
                "{toml}: {said}"
            );
        }
    }

    #[test]
    fn the_setting_and_the_expected_kind_are_named() {
        let said = refusal("reflection = \"yes please\"");
        assert_eq!(
            said,
            "setting reflection (from TOML source string): expected a boolean, found a string"
        );
    }
}
