//! `tenant`: the calling tenant, and this module's settings for it.

use super::internal;
use crate::runtime::CallContext;

/// This module's settings for the calling tenant, a JSON object. A database failure
/// traps: the guest has no error to handle here.
pub async fn settings(ctx: &CallContext) -> wasmtime::Result<String> {
    let tenant_id = &ctx.tenant.tenant.id;
    let read = async {
        let mut conn = ctx.uow.main_db().pool.acquire().await?;
        crate::store::module_settings(&mut conn, tenant_id, &ctx.module.key).await
    };
    match read.await {
        Ok(settings) => Ok(settings),
        Err(e) => {
            internal(ctx, &e);
            Err(wasmtime::format_err!("could not read module settings"))
        }
    }
}
