//! Reading and checking the TLS files, and the material in service.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};

use rustls::{
    crypto::CryptoProvider,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    server::{danger::ClientCertVerifier, NoClientAuth, WebPkiClientVerifier},
    sign::{CertifiedKey, SingleCertAndKey},
    RootCertStore, ServerConfig,
};
use sha2::{Digest, Sha256};
use x509_cert::der::Decode;

use super::{provider, ClientCertificates, TlsConfig};
use crate::keys::{read_trusted_file, TrustedFile, UntrustedFile};

/// The files the TLS material comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The certificate's private key.
    pub key: PathBuf,
    /// The CA certificates client certificates must chain to.
    pub client_ca: Option<PathBuf>,
}

/// TLS material that cannot be used. Each names the file and what is
/// wrong with it, never what it holds.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("TLS file {file}: cannot read it: {source}")]
    Read {
        /// The file's path.
        file: String,
        /// Why reading it failed.
        source: std::io::Error,
    },
    /// A file does not hold what it should, or holds something inkan cannot
    /// use.
    #[error("TLS file {file}: {problem}")]
    Invalid {
        /// The file's path.
        file: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The file or its directory may be written by others than its owner
    /// (the problem says which, and the command that fixes it).
    #[error("TLS file {file}: {problem}")]
    Unprotected {
        /// The file's path.
        file: String,
        /// What is wrong, and the command that fixes it.
        problem: String,
    },
    /// The certificate and the private key are not one pair.
    #[error(
        "TLS certificate {cert} does not match the private key in {key}: they are not one pair"
    )]
    Mismatch {
        /// The certificate file's path.
        cert: String,
        /// The key file's path.
        key: String,
    },
    /// The leaf certificate is past its validity.
    #[error("TLS certificate {file} expired at {expired}; renew it")]
    Expired {
        /// The certificate file's path.
        file: String,
        /// When it expired, as an RFC 3339 time.
        expired: String,
    },
}

impl TlsError {
    fn invalid(file: &Path, problem: impl Into<String>) -> Self {
        TlsError::Invalid {
            file: file.display().to_string(),
            problem: problem.into(),
        }
    }
}

/// The files' contents as read at one moment, from files that passed the
/// trust checks, and what the operator should hear about them.
#[derive(Clone)]
pub struct TlsBytes {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
    warnings: Vec<String>,
}

impl TlsBytes {
    /// What the material was made from, to tell a changed file.
    pub fn digest(&self) -> Vec<u8> {
        digest([Some(&self.cert), Some(&self.key), self.client_ca.as_ref()])
    }
}

fn digest<'a>(parts: impl IntoIterator<Item = Option<&'a Vec<u8>>>) -> Vec<u8> {
    let mut hash = Sha256::new();
    for part in parts {
        let part = part.map(Vec::as_slice).unwrap_or_default();
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().to_vec()
}

impl TlsFiles {
    /// Reads every file, trusting each as the key-set file is trusted (see
    /// [`crate::keys::read_trusted_file`]): one that group or others may
    /// write, or replace through its directory, is refused, naming it; a
    /// private key others may read is read with a warning.
    pub fn read(&self) -> Result<TlsBytes, TlsError> {
        let mut warnings = Vec::new();
        let mut read = |path: &Path, what| {
            let read = read_trusted_file(path, what).map_err(|err| match err {
                UntrustedFile::Read { source, .. } => TlsError::Read {
                    file: path.display().to_string(),
                    source,
                },
                UntrustedFile::Unprotected(problem) => TlsError::Unprotected {
                    file: path.display().to_string(),
                    problem,
                },
            })?;
            warnings.extend(read.warnings);
            Ok::<_, TlsError>(read.bytes)
        };
        let cert = read(&self.cert, TrustedFile::TlsCertificate)?;
        let key = read(&self.key, TrustedFile::TlsPrivateKey)?;
        let client_ca = match &self.client_ca {
            Some(path) => Some(read(path, TrustedFile::TlsClientCa)?),
            None => None,
        };
        Ok(TlsBytes {
            cert,
            key,
            client_ca,
            warnings,
        })
    }

    /// The digest [`TlsBytes::digest`] would give the files' contents as
    /// they are, read without judging them (a file that cannot be read
    /// counts as empty): so that files refused for who may write them are
    /// reported again only when their content changes.
    pub fn digest_as_is(&self) -> Vec<u8> {
        let read = |path: &Path| std::fs::read(path).unwrap_or_default();
        let client_ca = self.client_ca.as_deref().map(read);
        digest([
            Some(&read(&self.cert)),
            Some(&read(&self.key)),
            client_ca.as_ref(),
        ])
    }
}

/// Checked material, ready to serve: one rustls configuration for gRPC
/// (asking for client certificates when a client CA is configured, and
/// requiring them when so configured; ALPN `h2`) and one for HTTP (asking
/// for them when a client CA is configured, never requiring them; ALPN
/// `http/1.1`).
#[derive(Debug)]
pub struct TlsMaterial {
    /// The gRPC port's configuration.
    pub grpc: Arc<ServerConfig>,
    /// The HTTP port's configuration.
    pub http: Arc<ServerConfig>,
    /// When the serving certificate expires, in Unix seconds.
    pub not_after: u64,
    /// The digest of the bytes it was made from.
    pub digest: Vec<u8>,
    /// Problems that do not stop the material being used (a private key
    /// others may read), one sentence each.
    pub warnings: Vec<String>,
}

impl TlsMaterial {
    /// Reads and checks the files `config` names, as of `now` (Unix
    /// seconds), refusing any that others than its owner may write (see
    /// [`TlsFiles::read`]). What the operator should hear of is kept in
    /// [`TlsMaterial::warnings`], for the caller to report.
    pub fn load(config: &TlsConfig, now: u64) -> Result<Self, TlsError> {
        Self::from_bytes(config, &config.files.read()?, now)
    }

    /// Checks `bytes`, read from the files `config` names.
    pub fn from_bytes(config: &TlsConfig, bytes: &TlsBytes, now: u64) -> Result<Self, TlsError> {
        let files = &config.files;
        let provider = provider();
        let (certified, not_after) = certified_key(files, bytes, now, &provider)?;
        let certified = Arc::new(certified);
        // Required on gRPC only: the HTTP port serves the JWKS and discovery
        // to anyone, so there a certificate is asked for, never required.
        let required = config.client_certificates == Some(ClientCertificates::Required);
        let grpc_verifier = client_verifier(config, bytes, &provider, required)?;
        let http_verifier = client_verifier(config, bytes, &provider, false)?;
        let server_config = |verifier: Arc<dyn ClientCertVerifier>, alpn: &[u8]| {
            let mut config = ServerConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsError::invalid(&files.cert, e.to_string()))?
                .with_client_cert_verifier(verifier)
                .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified.clone())));
            config.alpn_protocols = vec![alpn.to_vec()];
            Ok::<_, TlsError>(Arc::new(config))
        };
        Ok(Self {
            grpc: server_config(grpc_verifier, b"h2")?,
            http: server_config(http_verifier, b"http/1.1")?,
            not_after,
            digest: bytes.digest(),
            warnings: bytes.warnings.clone(),
        })
    }
}

/// The material in service, swapped whole at a reload.
#[derive(Debug)]
pub struct TlsState {
    current: RwLock<Arc<TlsMaterial>>,
}

impl TlsState {
    /// Serves `material`.
    pub fn new(material: TlsMaterial) -> Self {
        Self {
            current: RwLock::new(Arc::new(material)),
        }
    }

    /// What a new connection is made with.
    pub fn current(&self) -> Arc<TlsMaterial> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Puts `material` in service for the connections that follow.
    pub fn replace(&self, material: TlsMaterial) {
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(material);
    }
}

/// The certificate chain and its private key, checked: a parsable chain
/// whose leaf has not expired at `now`, a supported key, and the two
/// matching. Returns them with the leaf's expiry (Unix seconds).
fn certified_key(
    files: &TlsFiles,
    bytes: &TlsBytes,
    now: u64,
    provider: &Arc<CryptoProvider>,
) -> Result<(CertifiedKey, u64), TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes.cert)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::invalid(&files.cert, "not a PEM certificate chain"))?;
    let Some(leaf) = chain.first() else {
        return Err(TlsError::invalid(
            &files.cert,
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ));
    };
    let parsed = x509_cert::Certificate::from_der(leaf)
        .map_err(|_| TlsError::invalid(&files.cert, "the first certificate does not parse"))?;
    let not_after = parsed
        .tbs_certificate
        .validity
        .not_after
        .to_unix_duration()
        .as_secs();
    if not_after <= now {
        return Err(TlsError::Expired {
            file: files.cert.display().to_string(),
            expired: humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(not_after),
            )
            .to_string(),
        });
    }
    // The key parser's own errors may quote a line of the file: only say
    // what was expected.
    let key = PrivateKeyDer::from_pem_slice(&bytes.key).map_err(|_| {
        TlsError::invalid(
            &files.key,
            "holds no PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC)",
        )
    })?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|_| TlsError::invalid(&files.key, "the private key's type is not supported"))?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) => Ok((certified, not_after)),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::Mismatch {
                cert: files.cert.display().to_string(),
                key: files.key.display().to_string(),
            })
        }
        Err(_) => Err(TlsError::invalid(
            &files.cert,
            "cannot tell whether the certificate matches its key",
        )),
    }
}

/// Who may present a client certificate: anyone signed by the client CA
/// (and, when `required`, only they may connect), or nobody when no CA is
/// set.
fn client_verifier(
    config: &TlsConfig,
    bytes: &TlsBytes,
    provider: &Arc<CryptoProvider>,
    required: bool,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let (Some(path), Some(ca), Some(_)) = (
        &config.files.client_ca,
        &bytes.client_ca,
        config.client_certificates,
    ) else {
        return Ok(Arc::new(NoClientAuth));
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca) {
        let cert = cert.map_err(|_| TlsError::invalid(path, "not a PEM certificate list"))?;
        roots
            .add(cert)
            .map_err(|_| TlsError::invalid(path, "holds a certificate that is not a usable CA"))?;
    }
    if roots.is_empty() {
        return Err(TlsError::invalid(path, "holds no PEM certificate"));
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    let builder = if required {
        builder
    } else {
        builder.allow_unauthenticated()
    };
    builder
        .build()
        .map_err(|e| TlsError::invalid(path, format!("cannot be used: {e}")))
}
