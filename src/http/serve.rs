//! Serving a router over HTTP/1.1 with bounded waits. axum's own `serve`
//! sets no header-read timeout, so a client that sends half a request line
//! holds a connection (and a task) open for as long as it likes. Here each
//! connection must send a whole request head within `header_timeout`, both
//! when it opens and between keep-alive requests, or it is closed. Each
//! request carries its connection's [`ConnectionInfo`] as an extension, as
//! on gRPC, so a caller can be known by the client certificate the TLS
//! handshake verified.

use std::{future::Future, time::Duration};

use axum::Router;
use futures::{Stream, StreamExt};
use hyper::{body::Incoming, server::conn::http1, Request};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tonic::transport::server::Connected;
use tower::ServiceExt;
use tracing::debug;

use crate::{net::ConnectionInfo, tls::Connection};

/// Serves `router` on the connections of `incoming` (see
/// [`crate::tls::connections`]) until `stop` resolves, then stops
/// accepting and waits for the requests in flight to finish (the caller
/// bounds that wait).
pub async fn serve(
    incoming: impl Stream<Item = Result<Connection, std::io::Error>>,
    router: Router,
    header_timeout: Duration,
    stop: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    tokio::pin!(incoming, stop);
    loop {
        let stream = tokio::select! {
            _ = &mut stop => break,
            next = incoming.next() => match next {
                Some(Ok(stream)) => stream,
                // `connections` never ends nor fails; this is for the type.
                Some(Err(_)) | None => continue,
            },
        };
        let info: ConnectionInfo = stream.connect_info();
        let service = router
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(info.clone());
                request
            });
        let service = TowerToHyperService::new(service);
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                debug!(error = %err, "HTTP connection ended with an error");
            }
        });
    }
    graceful.shutdown().await;
}
