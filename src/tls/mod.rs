//! TLS on the gRPC and HTTP ports, with rustls over ring.
//!
//! The certificate chain, its key and (for mutual TLS) the client CA are
//! read from files named in the `[tls]` section and put in service only
//! once they are known good: nobody but their owner may write them or
//! their directories (the key-set file's rule, see
//! [`crate::keys::read_trusted_file`]: whoever can write the client CA can
//! mint a certificate for any caller), the chain parses, the key is the
//! certificate's, the certificate has not expired and the client CA holds
//! at least one certificate. A private key others may read is warned
//! about, as the key set is. A background task polls the files' content
//! (a Kubernetes Secret update swaps a symlink, so content is what counts)
//! and swaps in the new material for the next connection; connections
//! already open keep the certificate they were made with. Material that
//! fails the checks at start-up stops the server, naming the file; at a
//! reload it is refused, logged and counted, and the material in force
//! stays.
//!
//! One crypto provider, ring, is used: every rustls configuration here is
//! built with [`provider`], and [`install_default_provider`] makes it the
//! process default at start-up for rustls users that take the default
//! (the ledger's database driver).

mod incoming;
mod material;

use std::{path::PathBuf, sync::Arc, time::Duration};

use rustls::crypto::CryptoProvider;
use serde::Deserialize;

pub use incoming::{connections, Connection, Port};
pub use material::{TlsBytes, TlsError, TlsFiles, TlsMaterial, TlsState};

/// The crypto provider every TLS configuration in inkan uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Makes [`provider`] the process-wide default. Called once at start-up,
/// before anything uses rustls; a second call changes nothing.
pub fn install_default_provider() {
    // Err only when a default is already installed, which is then ours.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Whether a client must present a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientCertificates {
    /// A client may present a certificate (checked against the client CA)
    /// or none, and then authenticate with an API key or not at all.
    Optional,
    /// Every gRPC client must present a certificate the client CA signed;
    /// the handshake fails otherwise. The HTTP port still only asks for
    /// one: its JWKS and discovery are for anyone.
    Required,
}

/// The `[tls]` section as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// The server's certificate chain, PEM, leaf first.
    pub cert_file: PathBuf,
    /// The certificate's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// CA certificates (PEM) that sign client certificates: turns on
    /// mutual TLS on the gRPC port, and on the HTTP port for introspection
    /// and forward-auth.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// `optional` (default) or `required`; needs `client_ca_file`.
    #[serde(default)]
    pub client_certificates: Option<ClientCertificates>,
    /// How often the files are checked for changes (default 10s).
    #[serde(default, with = "humantime_serde")]
    pub reload_interval: Option<Duration>,
}

/// A validated `[tls]` section.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// The files read and reloaded.
    pub files: TlsFiles,
    /// Whether gRPC clients must present a certificate (HTTP clients never
    /// must); `None` without a client CA (no client certificates asked for).
    pub client_certificates: Option<ClientCertificates>,
    /// How often the files are checked for changes.
    pub reload_interval: Duration,
}

impl TlsSettings {
    /// Checks the section; the files themselves are read at start-up.
    pub fn validate(self) -> Result<TlsConfig, String> {
        let client_certificates = match (&self.client_ca_file, self.client_certificates) {
            (Some(_), chosen) => Some(chosen.unwrap_or(ClientCertificates::Optional)),
            (None, None) => None,
            (None, Some(_)) => {
                return Err(
                    "[tls] client_certificates needs client_ca_file: the CA that signs client \
                     certificates"
                        .into(),
                )
            }
        };
        let reload_interval = self.reload_interval.unwrap_or(Duration::from_secs(10));
        if reload_interval.is_zero() {
            return Err("[tls] reload_interval must be longer than zero".into());
        }
        Ok(TlsConfig {
            files: TlsFiles {
                cert: self.cert_file,
                key: self.key_file,
                client_ca: self.client_ca_file,
            },
            client_certificates,
            reload_interval,
        })
    }
}
