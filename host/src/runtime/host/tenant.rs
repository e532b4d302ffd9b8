//! `mosaic:platform/tenant`: the calling tenant, and this module's settings for it.

use super::{HostState, internal};
use crate::runtime::bindings::mosaic::platform::tenant::{Host, Info};

impl Host for HostState {
    async fn current(&mut self) -> wasmtime::Result<Info> {
        let ctx = self.ctx()?;
        let tenant = &ctx.tenant.tenant;
        let read = ctx
            .uow
            .read(async |conn| {
                crate::store::module_settings(conn, &tenant.id, &ctx.module.key).await
            })
            .await;
        let settings = match read {
            Ok(Ok(settings)) => settings,
            Ok(Err(e)) | Err(e) => {
                internal(ctx, &e);
                return Err(wasmtime::format_err!("could not read module settings"));
            }
        };
        Ok(Info {
            id: tenant.id.clone(),
            name: tenant.name.clone(),
            subdomain: tenant.subdomain.clone(),
            plan: tenant.plan.clone(),
            timezone: tenant.timezone.clone(),
            settings,
        })
    }
}
