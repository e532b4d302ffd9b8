//! `mosaic:platform/modules`: calls to another module of the same tenant.

use super::HostState;
use crate::runtime::bindings::mosaic::platform::modules::Host;
use crate::runtime::bindings::{HostError, Request, Response};

impl Host for HostState {
    async fn call(
        &mut self,
        module: String,
        req: Request,
    ) -> wasmtime::Result<Result<Response, HostError>> {
        let ctx = self.ctx()?.clone();
        Ok(ctx.runtime.clone().call_nested(&ctx, &module, req).await)
    }

    async fn enabled(&mut self, module: String) -> wasmtime::Result<bool> {
        let ctx = self.ctx()?;
        Ok(ctx.runtime.is_enabled(&ctx.tenant, &module))
    }
}
