//! `log`: guest log lines in the host log, with tenant, module and request id,
//! within the (tenant, module)'s log budget.

use tracing::Level;

use crate::runtime::CallContext;
use crate::runtime::guest_log::GuestLog;

pub fn write(ctx: &CallContext, log: &GuestLog, level: Level, message: &str) {
    log.write(level, "log", &ctx.request_id, message);
}
