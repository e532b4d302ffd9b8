//! `modules`: calls to another module of the same tenant.

use crate::runtime::CallContext;
use crate::runtime::types::{HostError, Request, Response};

pub async fn call(
    ctx: &CallContext,
    module: &str,
    request: Request,
) -> Result<Response, HostError> {
    ctx.runtime.call_nested(ctx, module, request).await
}

pub fn enabled(ctx: &CallContext, module: &str) -> bool {
    ctx.runtime.is_enabled(&ctx.tenant, module)
}
