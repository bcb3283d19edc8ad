//! Logging: JSON lines in production, readable lines in dev. The filter
//! comes from `RUST_LOG` (default `info`). Spans skip their arguments, so
//! tokens and keys never reach a log by accident. Readable lines are
//! coloured only on a terminal: escape codes in a file or a log collector
//! are noise that breaks grep.
//!
//! Lines go to standard error through a 64 KiB buffer: a call copies its
//! line into the buffer, and the buffer is written out when it fills, by a
//! flusher thread every [`FLUSH_EVERY`], at once for every WARN or ERROR
//! line, and when the [`LogGuard`] is dropped. One `write` per line was a
//! third of a cached `Verify`'s cost; handing each line to a writer thread
//! (tracing-appender) still cost a thread wake-up per line. Nothing is
//! dropped; what a SIGKILL can take is the INFO lines of the last
//! [`FLUSH_EVERY`].

use std::{
    io::{BufWriter, IsTerminal, Stderr, Write},
    sync::{mpsc, Arc, Mutex, MutexGuard},
    thread::JoinHandle,
    time::Duration,
};

use tracing::{Level, Metadata};
use tracing_subscriber::{fmt, fmt::MakeWriter, EnvFilter};

use crate::config::LogFormat;

/// The longest an INFO line waits in the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Bytes of lines buffered before a line's writer writes them out itself.
const BUFFER_BYTES: usize = 64 * 1024;

/// Standard error behind one shared buffer.
#[derive(Clone)]
struct BufferedStderr(Arc<Mutex<BufWriter<Stderr>>>);

impl BufferedStderr {
    fn lock(&self) -> MutexGuard<'_, BufWriter<Stderr>> {
        // A panic while a line was being copied leaves at worst a torn
        // line; logging goes on.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One line's writer: the buffer, held for the copy; it writes the buffer
/// out when dropped if the line is a warning or an error.
struct LineWriter<'a> {
    out: MutexGuard<'a, BufWriter<Stderr>>,
    flush: bool,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.out.write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl Drop for LineWriter<'_> {
    fn drop(&mut self) {
        if self.flush {
            let _ = self.out.flush();
        }
    }
}

impl<'a> MakeWriter<'a> for BufferedStderr {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            out: self.lock(),
            flush: false,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LineWriter {
            out: self.lock(),
            // Levels order by verbosity: WARN and ERROR are the least.
            flush: *meta.level() <= Level::WARN,
        }
    }
}

/// Keeps the flusher thread running; dropping it writes out what is
/// buffered and stops the thread.
#[must_use = "dropping the guard stops flushing the log"]
pub struct LogGuard {
    stop: Option<mpsc::Sender<()>>,
    flusher: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogGuard")
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        // Closing the channel wakes the flusher for its last flush.
        drop(self.stop.take());
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
    }
}

/// Installs the global subscriber. Safe to call more than once (later calls
/// keep the first subscriber and get an inert guard), which tests rely on.
pub fn init(format: LogFormat) -> LogGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let out = BufferedStderr(Arc::new(Mutex::new(BufWriter::with_capacity(
        BUFFER_BYTES,
        std::io::stderr(),
    ))));
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(out.clone())
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    if installed.is_err() {
        return LogGuard {
            stop: None,
            flusher: None,
        };
    }
    let (stop, stopped) = mpsc::channel::<()>();
    let flusher = std::thread::Builder::new()
        .name("inkan-log-flush".into())
        .spawn(move || loop {
            let last = !matches!(
                stopped.recv_timeout(FLUSH_EVERY),
                Err(mpsc::RecvTimeoutError::Timeout)
            );
            let _ = out.lock().flush();
            if last {
                return;
            }
        })
        .ok();
    LogGuard {
        stop: Some(stop),
        flusher,
    }
}
