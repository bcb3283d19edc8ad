//! Connections as the servers see them: plain TCP, or TLS over TCP with
//! the handshake done here, so that the material in force when a
//! connection arrives is the one it is made with. Handshakes run
//! concurrently and are bounded in time, so a client that stalls one holds
//! neither the accept loop nor a task for long.

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use futures::{stream::FuturesUnordered, Stream, StreamExt};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
};
use tokio_rustls::{server::TlsStream, TlsAcceptor};
use tonic::transport::server::Connected;
use tracing::debug;
use x509_cert::{
    der::{oid::AssociatedOid, Decode},
    ext::pkix::{name::GeneralName, SubjectAltName},
};

use super::TlsState;
use crate::{
    callers::{ClientCertificate, San},
    net::{listener::accepted, ConnectionInfo, Gate, Guarded},
};

/// Which port's TLS configuration a connection is made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// gRPC: client certificates asked for when a client CA is set.
    Grpc,
    /// HTTP: client certificates asked for, never required, when a client
    /// CA is set (the JWKS and discovery are public).
    Http,
}

/// One accepted connection.
#[derive(Debug)]
pub enum Connection {
    /// TCP without TLS.
    Plain(Guarded<TcpStream>),
    /// TLS over TCP, handshake done.
    Tls(Box<TlsStream<Guarded<TcpStream>>>, ConnectionInfo),
}

/// The connections `listener` accepts that `gate` admits: plain when
/// `tls` is `None`, otherwise each after a TLS handshake with the material
/// `tls` holds at that moment. A handshake that fails or takes longer than
/// `handshake_timeout` drops that connection only. The stream never ends
/// and never yields an error (see [`accepted`]).
pub fn connections(
    listener: TcpListener,
    gate: Arc<Gate>,
    tls: Option<(Arc<TlsState>, Port)>,
    handshake_timeout: Duration,
) -> impl Stream<Item = Result<Connection, io::Error>> + Send + 'static {
    let tcp = accepted(listener)
        .filter_map(move |stream| {
            // A connection the gate refuses is closed at once.
            let admitted = stream.ok().and_then(|stream| gate.admit(stream));
            futures::future::ready(admitted.map(Ok::<_, io::Error>))
        })
        .boxed();
    let handshakes = FuturesUnordered::new();
    futures::stream::unfold(
        (tcp, handshakes, tls),
        move |(mut tcp, mut handshakes, tls)| async move {
            loop {
                let Some((state, port)) = &tls else {
                    // `accepted` never ends nor fails.
                    let stream = tcp.next().await?.ok()?;
                    return Some((Ok(Connection::Plain(stream)), (tcp, handshakes, tls)));
                };
                tokio::select! {
                    next = tcp.next() => {
                        let Some(Ok(stream)) = next else { continue };
                        let material = state.current();
                        let config = match port {
                            Port::Grpc => material.grpc.clone(),
                            Port::Http => material.http.clone(),
                        };
                        handshakes.push(handshake(stream, TlsAcceptor::from(config), handshake_timeout));
                    }
                    Some(done) = handshakes.next(), if !handshakes.is_empty() => {
                        if let Some(connection) = done {
                            return Some((Ok(connection), (tcp, handshakes, tls)));
                        }
                    }
                }
            }
        },
    )
}

async fn handshake(
    stream: Guarded<TcpStream>,
    acceptor: TlsAcceptor,
    timeout: Duration,
) -> Option<Connection> {
    let remote_addr = stream.get_ref().peer_addr().ok();
    let activity = Some(stream.activity().clone());
    let tls = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(err)) => {
            debug!(peer = ?remote_addr, error = %err, "TLS handshake failed");
            return None;
        }
        Err(_) => {
            debug!(peer = ?remote_addr, "TLS handshake timed out");
            return None;
        }
    };
    let client_certificate = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| Arc::new(describe(leaf)));
    let info = ConnectionInfo {
        remote_addr,
        client_certificate,
        activity,
    };
    Some(Connection::Tls(Box::new(tls), info))
}

/// The subject and DNS/URI names of a verified client certificate, each
/// name with its type and as written (the callers decide how to compare
/// them). One that does not parse (the handshake verified it, so it should)
/// names nobody: it gets an empty subject and no names.
fn describe(leaf: &[u8]) -> ClientCertificate {
    let Ok(cert) = x509_cert::Certificate::from_der(leaf) else {
        return ClientCertificate::default();
    };
    let tbs = cert.tbs_certificate;
    let mut sans = Vec::new();
    for extension in tbs.extensions.iter().flatten() {
        if extension.extn_id != SubjectAltName::OID {
            continue;
        }
        let Ok(names) = SubjectAltName::from_der(extension.extn_value.as_bytes()) else {
            continue;
        };
        for name in names.0 {
            match name {
                GeneralName::DnsName(dns) => sans.push(San::Dns(dns.as_str().to_owned())),
                GeneralName::UniformResourceIdentifier(uri) => {
                    sans.push(San::Uri(uri.as_str().to_owned()))
                }
                _ => {}
            }
        }
    }
    ClientCertificate {
        subject: tbs.subject.to_string(),
        sans,
    }
}

impl Connected for Connection {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> ConnectionInfo {
        match self {
            Connection::Plain(stream) => ConnectionInfo {
                remote_addr: stream.get_ref().peer_addr().ok(),
                client_certificate: None,
                activity: Some(stream.activity().clone()),
            },
            Connection::Tls(_, info) => info.clone(),
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Connection::Tls(stream, _) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Connection::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Connection::Tls(stream, _) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Connection::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Connection::Tls(stream, _) => Pin::new(stream.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Connection::Plain(stream) => stream.is_write_vectored(),
            Connection::Tls(stream, _) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Connection::Tls(stream, _) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Connection::Tls(stream, _) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}
