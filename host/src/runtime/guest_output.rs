//! A module's stdout and stderr (a Rust panic message, say) go to the host log,
//! tagged with tenant and module, never to the host's own streams.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

#[derive(Clone)]
pub struct GuestOutput {
    tenant: Arc<str>,
    module: Arc<str>,
}

impl GuestOutput {
    pub fn new(tenant: &str, module: &str) -> Self {
        Self {
            tenant: tenant.into(),
            module: module.into(),
        }
    }

    pub fn stream(self, name: &'static str) -> GuestStream {
        GuestStream { out: self, name }
    }
}

pub struct GuestStream {
    out: GuestOutput,
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
            out: self.out.clone(),
            name: self.name,
        })
    }
}

struct LogWriter {
    out: GuestOutput,
    name: &'static str,
}

impl AsyncWrite for LogWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let text = String::from_utf8_lossy(&buf[..buf.len().min(4096)]);
        let text = text.trim_end();
        if !text.is_empty() {
            tracing::warn!(target: "mosaic::guest", tenant = %self.out.tenant, module = %self.out.module, stream = self.name, "{text}");
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
