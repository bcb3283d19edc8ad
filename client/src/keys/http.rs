//! The HTTP JWKS (`/.well-known/jwks.json`), for services that reach inkan
//! over HTTP rather than gRPC: fetched again when its `Cache-Control:
//! max-age` runs out (inkan publishes a `next` key for longer than that
//! before signing with it), sooner after a failure, and on demand for an
//! unknown kid.
//!
//! It speaks HTTP/1.1 through hyper-util's client (already under tonic),
//! and HTTPS through rustls with ring (the provider tonic's TLS uses here
//! too): trusting the Mozilla roots, or only the certificate authorities
//! the service names (a cluster's internal CA).

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use http::{header::CACHE_CONTROL, HeaderMap, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use inkan_core::keys::MAX_JWKS_BYTES;
use rustls::{pki_types::CertificateDer, ClientConfig, RootCertStore};
use tracing::warn;

use super::{FetchError, Fetched, Fetcher, KeyStore};
use crate::backoff::Backoff;

/// How long a document without `max-age` is cached: inkan's own max-age.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// Bounds on the wait between polls, whatever the header says: `no-store`
/// must not become a tight loop, nor a huge max-age a key set never renewed.
const MIN_POLL: Duration = Duration::from_secs(1);
const MAX_POLL: Duration = Duration::from_secs(3600);

/// Which certificate authorities an `https://` JWKS URL is trusted under.
#[derive(Clone, Debug, Default)]
pub(crate) enum Trust {
    /// The Mozilla root program's (webpki-roots), for a public name.
    #[default]
    PublicRoots,
    /// Only these (DER), for a deployment with its own CA.
    Only(Vec<CertificateDer<'static>>),
}

/// Why a JWKS client could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TrustError {
    /// A certificate authority the service named is not one rustls takes.
    #[error("a JWKS CA certificate was refused")]
    Certificate,
    /// rustls has no protocol version in common with ring's defaults.
    #[error("no TLS configuration could be made")]
    Config,
}

/// A JWKS URL and the client that fetches it.
#[derive(Clone, Debug)]
pub(crate) struct HttpJwks {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    uri: Uri,
}

impl HttpJwks {
    /// A client for `uri`, `http://` or `https://` (trusting `trust`).
    pub(crate) fn new(uri: Uri, trust: &Trust) -> Result<Self, TrustError> {
        let mut roots = RootCertStore::empty();
        match trust {
            Trust::PublicRoots => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Trust::Only(cas) => {
                for ca in cas {
                    roots.add(ca.clone()).map_err(|_| TrustError::Certificate)?;
                }
            }
        }
        // The provider is named, not taken from the process default: a
        // service whose build also links aws-lc-rs's would otherwise panic.
        let tls =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|_| TrustError::Config)?
                .with_root_certificates(roots)
                .with_no_client_auth();
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            uri,
        })
    }

    pub(crate) async fn fetch(&self) -> Result<Fetched, FetchError> {
        let request = http::Request::get(self.uri.clone())
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|_| FetchError::Http)?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|_| FetchError::Http)?;
        if response.status() != StatusCode::OK {
            return Err(FetchError::HttpStatus(response.status().as_u16()));
        }
        let max_age = max_age(response.headers());
        let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
            .collect()
            .await
            .map_err(|_| FetchError::Body)?
            .to_bytes();
        let jwks_json = String::from_utf8(body.to_vec()).map_err(|_| FetchError::Body)?;
        Ok(Fetched { jwks_json, max_age })
    }
}

/// Polls the JWKS for as long as the task runs.
pub(crate) async fn poll(fetcher: Fetcher, store: Arc<KeyStore>, timeout: Duration) {
    let mut backoff = Backoff::new(MIN_POLL, Duration::from_secs(60));
    loop {
        let wait = match fetcher.fetch(timeout).await {
            Ok(fetched) => {
                backoff.reset();
                if store.offer(&fetched.jwks_json) {
                    poll_after(fetched.max_age)
                } else {
                    backoff.next_wait()
                }
            }
            Err(problem) => {
                warn!(%problem, "fetching the JWKS failed; verifying with the keys held");
                store.set_stale(true);
                backoff.next_wait()
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// How long to wait before fetching a document again.
fn poll_after(max_age: Option<Duration>) -> Duration {
    max_age.unwrap_or(DEFAULT_MAX_AGE).clamp(MIN_POLL, MAX_POLL)
}

/// The `max-age` of a response's `Cache-Control`; `no-store` and
/// `no-cache` count as zero.
pub(crate) fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut found = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(text) = value.to_str() else { continue };
        for directive in text.split(',').map(str::trim) {
            if directive.eq_ignore_ascii_case("no-store")
                || directive.eq_ignore_ascii_case("no-cache")
            {
                return Some(Duration::ZERO);
            }
            if let Some((name, value)) = directive.split_once('=') {
                if name.trim().eq_ignore_ascii_case("max-age") {
                    if let Ok(secs) = value.trim().trim_matches('"').parse::<u64>() {
                        found = Some(Duration::from_secs(secs));
                    }
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(CACHE_CONTROL, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        let secs = |values: &[&str]| max_age(&headers(values)).map(|d| d.as_secs());
        assert_eq!(secs(&["public, max-age=300"]), Some(300));
        assert_eq!(secs(&["MAX-AGE = 60 , public"]), Some(60));
        assert_eq!(secs(&["public", "max-age=\"10\""]), Some(10));
        assert_eq!(secs(&["no-store"]), Some(0));
        assert_eq!(secs(&["public"]), None);
        assert_eq!(secs(&["max-age=-5"]), None);
        assert_eq!(secs(&[]), None);
    }

    #[test]
    fn polls_are_bounded_whatever_the_header_says() {
        assert_eq!(poll_after(None), DEFAULT_MAX_AGE);
        assert_eq!(poll_after(Some(Duration::ZERO)), MIN_POLL);
        assert_eq!(
            poll_after(Some(Duration::from_secs(86_400 * 365))),
            MAX_POLL
        );
        assert_eq!(
            poll_after(Some(Duration::from_secs(300))),
            Duration::from_secs(300)
        );
    }
}
