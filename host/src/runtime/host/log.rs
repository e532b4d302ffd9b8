//! `mosaic:platform/log`: guest log lines in the host log, with tenant, module and
//! request id.

use super::HostState;
use crate::runtime::bindings::mosaic::platform::log::{Host, Level};

/// Longer guest messages are cut, so a module cannot flood the log with one call.
const MAX_LINE: usize = 4096;

impl Host for HostState {
    async fn write(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let ctx = self.ctx()?;
        let mut message = message;
        if message.len() > MAX_LINE {
            let cut = message.floor_char_boundary(MAX_LINE);
            message.truncate(cut);
        }
        let (tenant, module, request_id) = (
            &ctx.tenant.tenant.subdomain,
            &ctx.module.key,
            &ctx.request_id,
        );
        match level {
            Level::Trace => {
                tracing::trace!(target: "mosaic::guest", %tenant, %module, %request_id, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "mosaic::guest", %tenant, %module, %request_id, "{message}")
            }
            Level::Info => {
                tracing::info!(target: "mosaic::guest", %tenant, %module, %request_id, "{message}")
            }
            Level::Warn => {
                tracing::warn!(target: "mosaic::guest", %tenant, %module, %request_id, "{message}")
            }
            Level::Error => {
                tracing::error!(target: "mosaic::guest", %tenant, %module, %request_id, "{message}")
            }
        }
        Ok(())
    }
}
