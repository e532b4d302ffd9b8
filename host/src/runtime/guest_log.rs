//! What a module writes to the host log — `log.write` lines and its stdout and
//! stderr (a Rust panic message, say) — tagged with tenant and module, within a
//! budget per (tenant, module), and always as one structured field, so guest text
//! can neither flood the log nor forge a line of its own.

use std::io;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::io::AsyncWrite;
use tracing::Level;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Longer guest lines are cut.
const MAX_LINE: usize = 4096;
/// Lines per second a (tenant, module) may log, and how many it may burst.
const LINES_PER_SECOND: u32 = 50;
const LINES_BURST: u32 = 200;
/// Bytes per second, and the burst.
const BYTES_PER_SECOND: u32 = 16 << 10;
const BYTES_BURST: u32 = 64 << 10;

/// One (tenant, module)'s log budget, shared by all its instances.
pub struct LogBudget {
    lines: DefaultDirectRateLimiter,
    bytes: DefaultDirectRateLimiter,
    /// Lines refused by the budget, ever, and since the last report in the log.
    dropped: AtomicU64,
    unreported: AtomicU64,
}

impl Default for LogBudget {
    fn default() -> Self {
        let quota = |per_second, burst| {
            Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN))
                .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
        };
        Self {
            lines: RateLimiter::direct(quota(LINES_PER_SECOND, LINES_BURST)),
            bytes: RateLimiter::direct(quota(BYTES_PER_SECOND, BYTES_BURST)),
            dropped: AtomicU64::new(0),
            unreported: AtomicU64::new(0),
        }
    }
}

impl LogBudget {
    /// Takes a line of `len` bytes from the budget; false if it is spent.
    fn take(&self, len: usize) -> bool {
        let len =
            NonZeroU32::new(u32::try_from(len).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN);
        let allowed = self.lines.check().is_ok() && matches!(self.bytes.check_n(len), Ok(Ok(())));
        if !allowed {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            self.unreported.fetch_add(1, Ordering::Relaxed);
        }
        allowed
    }

    /// Lines dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Where one (tenant, module)'s guest lines go.
#[derive(Clone)]
pub struct GuestLog {
    tenant: Arc<str>,
    module: Arc<str>,
    budget: Arc<LogBudget>,
}

impl GuestLog {
    pub fn new(tenant: &str, module: &str, budget: Arc<LogBudget>) -> Self {
        Self {
            tenant: tenant.into(),
            module: module.into(),
            budget,
        }
    }

    /// Logs one guest line, if the budget allows. `source` is `log`, `stdout` or
    /// `stderr`.
    pub fn write(&self, level: Level, source: &str, request_id: &str, text: &str) {
        let text = text.trim_end();
        if text.is_empty() {
            return;
        }
        let text = &text[..text.floor_char_boundary(MAX_LINE)];
        if !self.budget.take(text.len()) {
            return;
        }
        let (tenant, module) = (&*self.tenant, &*self.module);
        let dropped = self.budget.unreported.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(target: "mosaic::guest", tenant, module, dropped, "guest log budget spent; lines dropped");
        }
        // The text is a field, written escaped: a newline in it stays inside it.
        macro_rules! emit {
            ($level:expr) => {
                tracing::event!(target: "mosaic::guest", $level, tenant, module, request_id, source, text = ?text, "guest log")
            };
        }
        match level {
            Level::TRACE => emit!(Level::TRACE),
            Level::DEBUG => emit!(Level::DEBUG),
            Level::INFO => emit!(Level::INFO),
            Level::WARN => emit!(Level::WARN),
            Level::ERROR => emit!(Level::ERROR),
        }
    }

    pub fn stream(self, name: &'static str) -> GuestStream {
        GuestStream { log: self, name }
    }
}

/// A module's stdout or stderr.
pub struct GuestStream {
    log: GuestLog,
    name: &'static str,
}

impl IsTerminal for GuestStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestStream {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LogWriter {
            log: self.log.clone(),
            name: self.name,
        })
    }
}

struct LogWriter {
    log: GuestLog,
    name: &'static str,
}

impl AsyncWrite for LogWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let text = String::from_utf8_lossy(&buf[..buf.len().min(MAX_LINE)]);
        self.log.write(Level::WARN, self.name, "", &text);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Captures what the fmt subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn captured(f: impl FnOnce()) -> String {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(Level::TRACE)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(out.0.lock().expect("lock").clone()).expect("utf-8")
    }

    #[test]
    fn guest_text_cannot_start_a_log_line() {
        let log = GuestLog::new("acme", "intruder", Arc::default());
        let out = captured(|| {
            log.write(
                Level::ERROR,
                "log",
                "r1",
                "innocent\n2026-01-01T00:00:00Z ERROR mosaic: forged",
            );
        });
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.contains(r"innocent\n2026"), "{out}");
    }

    #[test]
    fn a_flood_is_cut_to_the_budget_and_counted() {
        let budget = Arc::new(LogBudget::default());
        let log = GuestLog::new("acme", "intruder", budget.clone());
        let out = captured(|| {
            for _ in 0..10_000 {
                log.write(Level::INFO, "stdout", "", "flood");
            }
        });
        let written = out.lines().filter(|l| l.contains("flood")).count();
        assert!(
            written <= LINES_BURST as usize + 5,
            "{written} lines written"
        );
        assert_eq!(budget.dropped(), 10_000 - written as u64);
    }
}
