//! `mosaic:platform/tenant`: the calling tenant, and this module's settings for it.

use super::{HostState, internal};
use crate::runtime::bindings::mosaic::platform::tenant::{Host, Info};

impl Host for HostState {
    async fn current(&mut self) -> wasmtime::Result<Info> {
        let ctx = self.ctx()?;
        let tenant = &ctx.tenant.tenant;
        let settings = match ctx
            .uow
            .db()
            .module_settings(&tenant.id, &ctx.module.key)
            .await
        {
            Ok(settings) => settings,
            Err(e) => {
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
