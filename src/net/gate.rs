//! How many connections a port holds, and for how long one that does
//! nothing may stay.
//!
//! Every accepted socket passes a port's [`Gate`] and is wrapped in a
//! [`Guarded`] stream. The gate counts what is open; when a port is full, a
//! new connection takes the place of the connection that has been idle
//! longest (no call open on it), and only when every connection is busy is
//! the new one refused. So idle connections, however many an anonymous
//! client opens, can never lock legitimate callers out.
//!
//! A [`Guarded`] stream closes its connection when:
//! - the client has sent nothing within the preface timeout of connecting
//!   (a socket opened and left silent);
//! - no call has been open on it for the idle timeout (gRPC only: the
//!   [`TrackCallsLayer`](super::TrackCallsLayer) says when calls begin and
//!   end; a connection carrying a `WatchKeys` stream is never idle);
//! - the gate evicted it to make room.
//!
//! Closing is an I/O error returned to the HTTP/2 server, which drops the
//! connection; clients reconnect on their next call, as gRPC channels do.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, PoisonError, Weak,
    },
    task::{Context, Poll},
    time::Duration,
};

use futures::task::AtomicWaker;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

use crate::metrics::GateCounters;

/// The limits one port applies to its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections held at once.
    pub max_connections: usize,
    /// How long a new connection may stay silent.
    pub preface_timeout: Duration,
    /// How long a connection may stay with no call open; `None` where calls
    /// are not tracked (the HTTP ports, whose server has its own timeout
    /// between requests).
    pub idle_timeout: Option<Duration>,
}

/// What one connection is doing, shared by its stream, its calls and its
/// port's gate.
#[derive(Debug)]
pub struct Activity {
    /// When the connection was accepted.
    started: Instant,
    /// Calls open on it.
    open: AtomicUsize,
    /// Milliseconds after `started` when the last call ended (or 0).
    last_active_ms: AtomicU64,
    /// Whether the client has sent a byte.
    spoke: AtomicBool,
    /// Set by the gate to close the connection; set when it closes.
    closed: AtomicBool,
    /// The connection's reader, woken when a call ends or the gate evicts.
    waker: AtomicWaker,
}

impl Activity {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            open: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(0),
            spoke: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        }
    }

    /// A call began on this connection; it ends when the guard is dropped.
    pub fn begin(self: &Arc<Self>) -> CallGuard {
        self.open.fetch_add(1, Ordering::SeqCst);
        CallGuard(self.clone())
    }

    fn is_idle(&self) -> bool {
        self.open.load(Ordering::SeqCst) == 0
    }

    fn last_active(&self) -> Instant {
        self.started + Duration::from_millis(self.last_active_ms.load(Ordering::SeqCst))
    }

    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_active_ms.store(ms, Ordering::SeqCst);
    }

    /// When the connection is to be closed, if nothing happens before.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        if !self.spoke.load(Ordering::SeqCst) {
            return Some(self.started + limits.preface_timeout);
        }
        match limits.idle_timeout {
            Some(idle) if self.is_idle() => Some(self.last_active() + idle),
            _ => None,
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.waker.wake();
    }
}

/// Held while a call is open on a connection.
#[derive(Debug)]
pub struct CallGuard(Arc<Activity>);

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.0.touch();
        if self.0.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            // The reader re-arms its idle timer.
            self.0.waker.wake();
        }
    }
}

/// One port's connections.
#[derive(Debug)]
pub struct Gate {
    limits: ConnectionLimits,
    open: Mutex<Vec<Weak<Activity>>>,
    /// Connections refused because every slot was busy, and idle ones
    /// closed to make room: the port's Prometheus counters.
    counters: GateCounters,
}

impl Gate {
    /// A gate applying `limits`, counting what it closes in `counters`.
    pub fn new(limits: ConnectionLimits, counters: GateCounters) -> Arc<Self> {
        Arc::new(Self {
            limits,
            open: Mutex::new(Vec::new()),
            counters,
        })
    }

    /// Admits a new connection, closing the longest-idle one if the port is
    /// full; `None` when every connection has a call open.
    pub fn admit<IO>(self: &Arc<Self>, io: IO) -> Option<Guarded<IO>> {
        let activity = Arc::new(Activity::new());
        {
            let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            open.retain(|weak| {
                weak.upgrade()
                    .is_some_and(|a| !a.closed.load(Ordering::SeqCst))
            });
            if open.len() >= self.limits.max_connections {
                let idlest = open
                    .iter()
                    .filter_map(Weak::upgrade)
                    .filter(|a| a.is_idle())
                    .min_by_key(|a| a.last_active());
                match idlest {
                    Some(idle) => {
                        idle.close();
                        self.counters.evicted.inc();
                    }
                    None => {
                        self.counters.refused.inc();
                        return None;
                    }
                }
            }
            open.push(Arc::downgrade(&activity));
        }
        Some(Guarded {
            io,
            timer: Box::pin(tokio::time::sleep_until(activity.started)),
            activity,
            limits: self.limits,
        })
    }

    /// How many connections are held now.
    pub fn len(&self) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.iter()
            .filter_map(Weak::upgrade)
            .filter(|a| !a.closed.load(Ordering::SeqCst))
            .count()
    }

    /// Whether no connection is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Connections refused because every one held was busy.
    pub fn refused(&self) -> u64 {
        self.counters.refused.get()
    }

    /// Idle connections closed to make room for new ones.
    pub fn evicted(&self) -> u64 {
        self.counters.evicted.get()
    }
}

/// A connection's byte stream, closed by its gate's rules.
#[derive(Debug)]
pub struct Guarded<IO> {
    io: IO,
    activity: Arc<Activity>,
    limits: ConnectionLimits,
    timer: Pin<Box<Sleep>>,
}

impl<IO> Guarded<IO> {
    /// The stream underneath.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    /// What the connection is doing, for its calls to report to.
    pub fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }

    /// An error once the connection is to be closed; otherwise arranges to
    /// be woken when that may change.
    fn check(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        self.activity.waker.register(cx.waker());
        loop {
            if self.activity.closed.load(Ordering::SeqCst) {
                return Some(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "closed to make room for a new connection",
                ));
            }
            let deadline = self.activity.deadline(&self.limits)?;
            if deadline <= Instant::now() {
                self.activity.closed.store(true, Ordering::SeqCst);
                return Some(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle or silent past its timeout",
                ));
            }
            if self.timer.deadline() != deadline {
                self.timer.as_mut().reset(deadline);
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return None;
            }
        }
    }
}

impl<IO> Drop for Guarded<IO> {
    fn drop(&mut self) {
        self.activity.closed.store(true, Ordering::SeqCst);
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(err) = this.check(cx) {
            return Poll::Ready(Err(err));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(())))
            && buf.filled().len() > before
            && !this.activity.spoke.swap(true, Ordering::SeqCst)
        {
            this.activity.touch();
        }
        read
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn limits(max: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: max,
            preface_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(60)),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_is_closed_after_the_preface_timeout() {
        let gate = Gate::new(limits(4), GateCounters::detached());
        let (_client, server) = duplex(64);
        let mut guarded = gate.admit(server).unwrap();
        let mut buf = [0u8; 8];
        let started = Instant::now();
        let err = guarded.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_with_a_call_open_is_never_idle() {
        let gate = Gate::new(limits(4), GateCounters::detached());
        let (mut client, server) = duplex(64);
        let mut guarded = gate.admit(server).unwrap();
        client.write_all(b"hi").await.unwrap();
        let mut buf = [0u8; 2];
        guarded.read_exact(&mut buf).await.unwrap();
        let call = guarded.activity().begin();
        let reading = tokio::spawn(async move {
            let started = Instant::now();
            let err = guarded.read(&mut [0u8; 2]).await.unwrap_err();
            (err.kind(), started.elapsed())
        });
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert!(!reading.is_finished(), "closed while a call was open");
        drop(call);
        let (kind, after) = reading.await.unwrap();
        assert_eq!(kind, io::ErrorKind::TimedOut);
        assert_eq!(
            after,
            Duration::from_secs(660),
            "closed one idle timeout after the call ended"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_port_makes_room_by_closing_the_idlest_connection() {
        let gate = Gate::new(limits(2), GateCounters::detached());
        let (_a, a) = duplex(64);
        let (_b, b) = duplex(64);
        let mut first = gate.admit(a).unwrap();
        tokio::time::advance(Duration::from_secs(1)).await;
        let second = gate.admit(b).unwrap();
        let _busy = second.activity().begin();
        let (_c, c) = duplex(64);
        let _third = gate.admit(c).expect("an idle connection makes room");
        assert_eq!(gate.evicted(), 1);
        let err = first.read(&mut [0u8; 1]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
        assert_eq!(gate.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_port_of_busy_connections_refuses_a_new_one() {
        let gate = Gate::new(limits(1), GateCounters::detached());
        let (_a, a) = duplex(64);
        let only = gate.admit(a).unwrap();
        let _busy = only.activity().begin();
        let (_b, b) = duplex(64);
        assert!(gate.admit(b).is_none());
        assert_eq!(gate.refused(), 1);
        drop(only);
        let (_c, c) = duplex(64);
        assert!(
            gate.admit(c).is_some(),
            "a closed connection frees its slot"
        );
    }
}
