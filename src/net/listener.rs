//! Accepting connections. Every port inkan serves (gRPC, HTTP, metrics)
//! takes its sockets from [`accepted`], so they all get the same options.
//!
//! `TCP_NODELAY` is the one that matters: without it, a small response
//! written in two parts waits for the client's delayed ACK (Nagle's
//! algorithm), and every unary call stalls about 40 ms. tonic sets it only
//! on listeners it binds itself, and inkan binds its own (so tests and
//! callers can pass port 0 and read the address back).

use std::time::Duration;

use futures::Stream;
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

/// How long to pause after an accept error that is not about one
/// connection (out of file descriptors, say), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The connections `listener` accepts, each with `TCP_NODELAY` set. The
/// stream never ends and never yields an error: a failed accept is logged
/// and the next one tried, so one bad connection or a moment without file
/// descriptors cannot stop a server.
pub fn accepted(
    listener: TcpListener,
) -> impl Stream<Item = Result<TcpStream, std::io::Error>> + Send + 'static {
    futures::stream::unfold(listener, |listener| async move {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    if let Err(err) = stream.set_nodelay(true) {
                        debug!(%peer, error = %err, "cannot set TCP_NODELAY");
                    }
                    return Some((Ok(stream), listener));
                }
                Err(err) if is_per_connection(&err) => {
                    debug!(error = %err, "a connection failed while being accepted");
                }
                Err(err) => {
                    warn!(error = %err, "accepting connections failed; retrying");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    })
}

/// Errors that concern only the connection being accepted.
fn is_per_connection(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        err.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    #[tokio::test]
    async fn accepted_connections_have_nodelay_set() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let incoming = accepted(listener);
        tokio::pin!(incoming);
        let _client = TcpStream::connect(addr).await.unwrap();
        let server_side = incoming.next().await.unwrap().unwrap();
        assert!(
            server_side.nodelay().unwrap(),
            "an accepted socket must not wait on Nagle's algorithm"
        );
    }
}
