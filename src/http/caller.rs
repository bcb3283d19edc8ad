//! Who is calling over HTTP: the same callers as on gRPC, known by the same
//! API keys. A key travels in the `x-api-key` header, as on gRPC; that is
//! the only place forward-auth looks, since `Authorization` there carries
//! the user's token. Introspection also takes it the ways OAuth 2.0
//! resource servers send their own credentials (RFC 7662 §2.1): as client
//! credentials in HTTP Basic (RFC 6749 §2.3.1: the caller's configured name
//! as client id, its API key as secret, each form-encoded first), which is
//! what mod_auth_openidc sends by default, or as a bearer token.
//!
//! Over TLS with a client CA configured, the HTTP port also asks for a
//! client certificate (never requires one: the JWKS is public), and a
//! request with no API key is its certificate's caller, matched as on gRPC
//! by [`CallerRegistry::identify_with`]. As on gRPC, a presented API key
//! decides and the certificate beside it is not consulted.

use axum::http::{header, HeaderMap};
use base64::{engine::general_purpose::STANDARD, Engine};
use inkan_proto::API_KEY_HEADER;
use percent_encoding::percent_decode_str;

use crate::{
    authority::AuthorityError,
    callers::{Caller, CallerRegistry, ClientCertificate},
};

/// Where a request may carry its caller's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Accept {
    /// `x-api-key` only: `Authorization` belongs to the user.
    ApiKeyHeader,
    /// `x-api-key`, else `Authorization: Basic` client credentials or
    /// `Authorization: Bearer` with the API key.
    ClientCredentials,
}

/// The caller the request's credentials name: its API key's owner, else
/// the caller `certificate` (the connection's verified client certificate)
/// names; anonymous when it carries neither. Credentials that name no
/// caller, or are malformed, are refused, never taken for anonymous.
pub(super) fn identify(
    callers: &CallerRegistry,
    headers: &HeaderMap,
    certificate: Option<&ClientCertificate>,
    accept: Accept,
) -> Result<Caller, AuthorityError> {
    if let Some(value) = headers.get(API_KEY_HEADER) {
        let key = value.to_str().map_err(|_| AuthorityError::CallerUnknown)?;
        return callers
            .identify(Some(key))
            .map_err(|_| AuthorityError::CallerUnknown);
    }
    let authorization = match (accept, headers.get(header::AUTHORIZATION)) {
        (Accept::ClientCredentials, Some(value)) => value.to_str().ok(),
        _ => {
            return callers
                .identify_with(None, certificate)
                .map_err(|_| AuthorityError::CallerCertificateUnknown)
        }
    };
    let Some((scheme, credentials)) = authorization.and_then(|v| v.trim().split_once(' ')) else {
        return Err(AuthorityError::CallerUnknown);
    };
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return unknown_as(callers.identify(Some(credentials)));
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AuthorityError::CallerUnknown);
    }
    let (client_id, secret) = basic(credentials).ok_or(AuthorityError::CallerUnknown)?;
    let caller = unknown_as(callers.identify(Some(&secret)))?;
    // In dev mode every key names the dev caller, whatever the client id.
    if caller.name() != client_id && caller.name() != Caller::dev().name() {
        return Err(AuthorityError::CallerUnknown);
    }
    Ok(caller)
}

fn unknown_as<E>(found: Result<Caller, E>) -> Result<Caller, AuthorityError> {
    found.map_err(|_| AuthorityError::CallerUnknown)
}

/// The client id and secret of HTTP Basic credentials, each
/// form-decoded (RFC 6749 §2.3.1); `None` when they are not base64 of
/// UTF-8 text with a colon.
fn basic(credentials: &str) -> Option<(String, String)> {
    let decoded = String::from_utf8(STANDARD.decode(credentials).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

fn form_decode(text: &str) -> Option<String> {
    percent_decode_str(&text.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callers::{api_key_sha256, CallerConfig, Permission, San};

    fn registry() -> CallerRegistry {
        CallerRegistry::from_config(&[
            CallerConfig {
                name: "edge gateway".into(),
                api_key_sha256: Some(api_key_sha256("inkan_key+1")),
                permissions: vec![Permission::Verify],
                ..CallerConfig::default()
            },
            CallerConfig {
                name: "reports".into(),
                certificate_san: Some("reports.internal".into()),
                permissions: vec![Permission::Verify],
                ..CallerConfig::default()
            },
        ])
        .unwrap()
    }

    fn certificate(subject: &str, dns: &str) -> ClientCertificate {
        ClientCertificate {
            subject: subject.into(),
            sans: vec![San::Dns(dns.into())],
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, value.parse().unwrap());
        }
        headers
    }

    fn who(pairs: &[(&'static str, &str)], accept: Accept) -> Result<String, String> {
        who_with(pairs, None, accept)
    }

    fn who_with(
        pairs: &[(&'static str, &str)],
        certificate: Option<&ClientCertificate>,
        accept: Accept,
    ) -> Result<String, String> {
        identify(&registry(), &headers(pairs), certificate, accept)
            .map(|c| {
                if c.is_authenticated() {
                    c.name().to_owned()
                } else {
                    "anonymous".into()
                }
            })
            .map_err(|e| format!("{:?}", e.reason()))
    }

    #[test]
    fn an_api_key_names_its_caller_in_x_api_key_or_as_client_credentials() {
        let basic = format!("Basic {}", STANDARD.encode("edge+gateway:inkan_key%2B1"));
        for (pairs, accept) in [
            (vec![("x-api-key", "inkan_key+1")], Accept::ApiKeyHeader),
            (
                vec![("x-api-key", "inkan_key+1")],
                Accept::ClientCredentials,
            ),
            (
                vec![("authorization", basic.as_str())],
                Accept::ClientCredentials,
            ),
            (
                vec![("authorization", "bearer inkan_key+1")],
                Accept::ClientCredentials,
            ),
        ] {
            assert_eq!(who(&pairs, accept).as_deref(), Ok("edge gateway"));
        }
    }

    #[test]
    fn credentials_that_name_nobody_are_refused_and_none_are_anonymous() {
        let unknown = Err("Some(CallerUnauthenticated)".to_owned());
        let other_id = format!("Basic {}", STANDARD.encode("orders:inkan_key%2B1"));
        for pairs in [
            vec![("x-api-key", "guess")],
            vec![("authorization", other_id.as_str())],
            vec![("authorization", "Basic not-base64")],
            vec![("authorization", "Digest whatever")],
            vec![("authorization", "Bearer guess")],
        ] {
            assert_eq!(who(&pairs, Accept::ClientCredentials), unknown, "{pairs:?}");
        }
        assert_eq!(
            who(&[], Accept::ClientCredentials).as_deref(),
            Ok("anonymous")
        );
        // Forward-auth's Authorization is the user's token, never the caller's.
        assert_eq!(
            who(
                &[("authorization", "Bearer inkan_key+1")],
                Accept::ApiKeyHeader
            )
            .as_deref(),
            Ok("anonymous")
        );
    }

    #[test]
    fn without_an_api_key_the_certificate_names_the_caller_and_a_key_decides_over_it() {
        let reports = certificate("CN=reports-pod", "reports.internal");
        let stranger = certificate("CN=stranger", "stranger.internal");
        let basic = format!("Basic {}", STANDARD.encode("edge+gateway:inkan_key%2B1"));
        for accept in [Accept::ApiKeyHeader, Accept::ClientCredentials] {
            assert_eq!(
                who_with(&[], Some(&reports), accept).as_deref(),
                Ok("reports")
            );
            assert_eq!(
                who_with(&[], Some(&stranger), accept),
                Err("Some(CallerUnauthenticated)".to_owned()),
                "a certificate naming nobody is refused, not anonymous"
            );
            assert_eq!(
                who_with(&[("x-api-key", "inkan_key+1")], Some(&reports), accept).as_deref(),
                Ok("edge gateway")
            );
            assert!(who_with(&[("x-api-key", "guess")], Some(&reports), accept).is_err());
        }
        // Client credentials in Authorization are an API key too.
        assert_eq!(
            who_with(
                &[("authorization", basic.as_str())],
                Some(&reports),
                Accept::ClientCredentials
            )
            .as_deref(),
            Ok("edge gateway")
        );
        // Forward-auth's Authorization is the user's token: the
        // certificate still names the gateway.
        assert_eq!(
            who_with(
                &[("authorization", "Bearer some.user.token")],
                Some(&reports),
                Accept::ApiKeyHeader
            )
            .as_deref(),
            Ok("reports")
        );
    }
}
