//! The bearer token of a request, read the same way by the tower layer
//! ([`crate::AuthLayer`]) and the tonic interceptor ([`crate::Interceptor`]):
//! a missing header, another scheme, a value that is not visible ASCII and
//! several `authorization` headers are all `TOKEN_MALFORMED`, since a
//! request must say exactly one thing about who it is.

use inkan_core::Reason;
use tonic::Status;

use crate::status::failure_status;

/// The token of a request's `authorization` values (each `None` when it
/// is not visible ASCII): exactly one, scheme `Bearer` in any case, then
/// the token.
pub(crate) fn bearer_token<'a>(
    mut values: impl Iterator<Item = Option<&'a str>>,
) -> Result<&'a str, Status> {
    let malformed = |message: &str| failure_status(Reason::TokenMalformed, message);
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(malformed(
            "send exactly one authorization header: Bearer and an access token",
        ));
    };
    let text = value.ok_or_else(|| malformed("the authorization header is not visible ASCII"))?;
    match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
            Ok(token)
        }
        _ => Err(malformed(
            "the authorization header is not Bearer and an access token",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Failure;
    use http::{header::AUTHORIZATION, HeaderValue};

    fn headers(values: &[&[u8]]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for v in values {
            map.append(AUTHORIZATION, HeaderValue::from_bytes(v).unwrap());
        }
        map
    }

    fn bearer_token(map: &http::HeaderMap) -> Result<&str, Status> {
        super::bearer_token(map.get_all(AUTHORIZATION).iter().map(|v| v.to_str().ok()))
    }

    #[test]
    fn the_scheme_is_matched_in_any_case() {
        for value in ["Bearer abc", "bearer abc", "BEARER abc"] {
            assert_eq!(bearer_token(&headers(&[value.as_bytes()])).unwrap(), "abc");
        }
    }

    #[test]
    fn anything_but_one_bearer_header_is_malformed() {
        let huge = format!("Bearer {}", "a".repeat(1 << 20));
        let cases: [&[&[u8]]; 10] = [
            &[],
            &[b"Bearer"],
            &[b"Bearer "],
            &[b"Basic dXNlcjpwYXNz"],
            &[b"Bearerabc"],
            &[b"Bearer a", b"Bearer b"],
            &["Bearer \u{e9}t\u{e9}".as_bytes()],
            &[b"Bearer \xff\xfe"],
            &[b"Bearer\tabc"],
            &[huge.as_bytes()],
        ];
        for (i, case) in cases.iter().enumerate() {
            let map = headers(case);
            let got = bearer_token(&map);
            if i == cases.len() - 1 {
                // A huge token gets past the header check; the verifier
                // refuses it before decoding anything (8 KiB).
                assert!(got.is_ok());
                continue;
            }
            let status = got.expect_err("refused");
            assert_eq!(status.code(), tonic::Code::Unauthenticated);
            let failure = Failure::of(&status).unwrap();
            assert_eq!(failure.reason, Some(Reason::TokenMalformed), "case {i}");
            assert_eq!(failure.action, Some(inkan_core::Action::Reauthenticate));
        }
    }
}
