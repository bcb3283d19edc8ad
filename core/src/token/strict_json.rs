//! Strict JOSE parsing: a header or payload whose JSON repeats a member name
//! is refused. Parsers disagree on which of two `sub` members wins (serde
//! keeps the last, others the first), and a token must mean one thing to
//! every verifier that reads it.

use std::{collections::HashSet, fmt};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Any JSON value, accepted only if no object in it repeats a name.
struct Unambiguous;

impl<'de> Deserialize<'de> for Unambiguous {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UnambiguousVisitor)
    }
}

struct UnambiguousVisitor;

impl<'de> Visitor<'de> for UnambiguousVisitor {
    type Value = Unambiguous;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON without repeated member names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unambiguous, A::Error> {
        let mut seen = HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if !seen.insert(name) {
                return Err(de::Error::custom("repeated member name"));
            }
            map.next_value::<Unambiguous>()?;
        }
        Ok(Unambiguous)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unambiguous, A::Error> {
        while seq.next_element::<Unambiguous>()?.is_some() {}
        Ok(Unambiguous)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Unambiguous, E> {
        Ok(Unambiguous)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Unambiguous, E> {
        Ok(Unambiguous)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Unambiguous, E> {
        Ok(Unambiguous)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Unambiguous, E> {
        Ok(Unambiguous)
    }
    fn visit_str<E>(self, _: &str) -> Result<Unambiguous, E> {
        Ok(Unambiguous)
    }
    fn visit_unit<E>(self) -> Result<Unambiguous, E> {
        Ok(Unambiguous)
    }
}

/// Whether a base64url JOSE segment decodes to a JSON object that repeats
/// no member name anywhere.
pub(super) fn is_unambiguous_object(segment: &str) -> bool {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(segment) else {
        return false;
    };
    bytes.first() == Some(&b'{') && serde_json::from_slice::<Unambiguous>(&bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn repeated_names_are_refused_at_any_depth() {
        assert!(is_unambiguous_object(&seg(
            r#"{"sub":"a","x":{"y":[1,{"z":2}]}}"#
        )));
        assert!(!is_unambiguous_object(&seg(r#"{"sub":"a","sub":"admin"}"#)));
        assert!(!is_unambiguous_object(&seg(r#"{"x":{"y":1,"y":2}}"#)));
        assert!(!is_unambiguous_object(&seg(r#"[{"sub":"a"}]"#)));
        assert!(!is_unambiguous_object("not base64!"));
    }
}
