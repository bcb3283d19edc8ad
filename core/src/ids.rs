//! Newtypes for the identifiers that must never be mixed up: a subject is not
//! a session id, a kid is not a client id. Each parses once, at the edge, and
//! carries the limits that keep a hostile request from growing the ledger or
//! a token without bound.

use std::fmt;

use uuid::Uuid;

/// Why a value could not become an identifier; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct InvalidId {
    /// The request field or setting the value came from.
    pub field: &'static str,
    /// What is wrong with it, in words a caller can act on.
    pub problem: String,
}

fn checked_text(field: &'static str, value: &str, max: usize) -> Result<String, InvalidId> {
    let invalid = |problem: String| InvalidId { field, problem };
    if value.is_empty() {
        return Err(invalid("is required".into()));
    }
    if value.len() > max {
        return Err(invalid(format!("is longer than {max} bytes")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid("contains control characters".into()));
    }
    if value.trim() != value {
        return Err(invalid("has leading or trailing whitespace".into()));
    }
    Ok(value.to_owned())
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The longest accepted value, in bytes.
            pub const MAX_LEN: usize = $max;

            /// Checks `value` and wraps it.
            pub fn parse(value: &str) -> Result<Self, InvalidId> {
                checked_text($field, value, Self::MAX_LEN).map(Self)
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

text_id!(
    /// Who a session belongs to: the `sub` claim.
    Subject,
    "subject",
    255
);
text_id!(
    /// The application a person logged in with: the `client_id` claim.
    ClientId,
    "client_id",
    128
);
text_id!(
    /// One intended recipient of an access token: an entry of `aud`.
    Audience,
    "audience",
    255
);

/// A key's identifier, the `kid` header: short, and limited to characters
/// that are safe in a file name, a URL and a log line.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kid(String);

impl Kid {
    /// The longest accepted kid, in bytes.
    pub const MAX_LEN: usize = 64;

    /// Checks `value` and wraps it.
    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        let invalid = |problem: &str| InvalidId {
            field: "kid",
            problem: problem.into(),
        };
        if value.is_empty() {
            return Err(invalid("is required"));
        }
        if value.len() > Self::MAX_LEN {
            return Err(invalid("is longer than 64 bytes"));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(invalid("may hold only letters, digits, '-', '_' and '.'"));
        }
        Ok(Self(value.to_owned()))
    }

    /// The kid as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kid({:?})", self.0)
    }
}

/// One scope: a non-empty word without spaces (scopes travel space-separated
/// in the `scope` claim).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Scope(String);

impl Scope {
    /// The longest accepted scope, in bytes.
    pub const MAX_LEN: usize = 128;

    /// Checks `value` and wraps it.
    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        let text = checked_text("scopes", value, Self::MAX_LEN)?;
        if text.contains(' ') {
            return Err(InvalidId {
                field: "scopes",
                problem: "may not contain spaces".into(),
            });
        }
        Ok(Self(text))
    }

    /// The scope as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random identifier (UUID v4: random, so the ledger's
            /// keys spread over the whole range instead of one hot end).
            pub fn generate() -> Self {
                Self(Uuid::new_v4())
            }

            /// Parses the canonical hyphenated form.
            pub fn parse(value: &str) -> Result<Self, InvalidId> {
                Uuid::try_parse(value).map(Self).map_err(|_| InvalidId {
                    field: $field,
                    problem: "is not a valid id".into(),
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// One login: the `sid` claim, and the ledger's session key.
    SessionId,
    "session_id"
);
uuid_id!(
    /// One access token: the `jti` claim.
    TokenId,
    "token_id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_must_be_present_bounded_and_printable() {
        assert_eq!(Subject::parse("user-42").unwrap().as_str(), "user-42");
        assert_eq!(
            Subject::parse("").unwrap_err().to_string(),
            "subject is required"
        );
        assert!(Subject::parse(&"x".repeat(256)).is_err());
        assert!(Subject::parse("a\nb").is_err());
        assert!(Subject::parse(" padded").is_err());
    }

    #[test]
    fn kids_are_limited_to_safe_characters() {
        assert!(Kid::parse("2026-11-27.ed25519_a1").is_ok());
        for hostile in ["../../etc/passwd", "a b", "' OR 1=1 --", "", "ü"] {
            assert!(Kid::parse(hostile).is_err(), "{hostile:?} was accepted");
        }
        assert!(Kid::parse(&"k".repeat(65)).is_err());
    }

    #[test]
    fn scopes_cannot_smuggle_a_second_scope() {
        assert!(Scope::parse("read:profile").is_ok());
        assert!(Scope::parse("read admin").is_err());
    }

    #[test]
    fn session_ids_round_trip_through_text() {
        let id = SessionId::generate();
        assert_eq!(SessionId::parse(&id.to_string()).unwrap(), id);
        assert!(SessionId::parse("not-a-session").is_err());
    }
}
