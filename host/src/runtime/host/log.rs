//! `log`: guest log lines in the host log, with tenant, module and request id.

use tracing::Level;

use crate::runtime::CallContext;

/// Longer guest messages are cut, so a module cannot flood the log with one call.
const MAX_LINE: usize = 4096;

pub fn write(ctx: &CallContext, level: Level, mut message: String) {
    if message.len() > MAX_LINE {
        let cut = message.floor_char_boundary(MAX_LINE);
        message.truncate(cut);
    }
    let (tenant, module, request_id) = (
        &ctx.tenant.tenant.subdomain,
        &ctx.module.key,
        &ctx.request_id,
    );
    // `tracing`'s macros take the level as a constant.
    match level {
        Level::TRACE => {
            tracing::trace!(target: "mosaic::guest", %tenant, %module, %request_id, "{message}")
        }
        Level::DEBUG => {
            tracing::debug!(target: "mosaic::guest", %tenant, %module, %request_id, "{message}")
        }
        Level::INFO => {
            tracing::info!(target: "mosaic::guest", %tenant, %module, %request_id, "{message}")
        }
        Level::WARN => {
            tracing::warn!(target: "mosaic::guest", %tenant, %module, %request_id, "{message}")
        }
        Level::ERROR => {
            tracing::error!(target: "mosaic::guest", %tenant, %module, %request_id, "{message}")
        }
    }
}
