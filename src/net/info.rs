//! What the servers know of a connection's peer. tonic hands it to each
//! request of the connection as an extension, where callers are identified
//! (by certificate) and calls report to the connection's gate.

use std::{net::SocketAddr, sync::Arc};

use super::Activity;
use crate::callers::ClientCertificate;

/// A connection's peer, as every request on it sees it.
#[derive(Debug, Clone, Default)]
pub struct ConnectionInfo {
    /// The client's address.
    pub remote_addr: Option<SocketAddr>,
    /// The client's certificate, verified against the client CA during
    /// the handshake, when it presented one.
    pub client_certificate: Option<Arc<ClientCertificate>>,
    /// What the connection is doing, for the calls on it to report to
    /// (see [`super::gate`]).
    pub activity: Option<Arc<Activity>>,
}
