//! The host side of the WIT imports: one file per interface. Every function reads
//! the calling (tenant, module) from the store's [`CallContext`]; none takes it from
//! the guest.

mod billing;
mod events;
mod identity;

pub use identity::{from_wit_role, to_wit_role};
mod log;
mod modules;
mod notify;
mod store;
mod tenant;

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::Runtime;
use super::bindings::HostError;
use super::limits::MemoryLimiter;
use super::registry::LoadedModule;
use super::unit_of_work::UnitOfWork;
use crate::auth::Caller;
use crate::tenancy::TenantView;

/// What one call into a module runs for.
#[derive(Clone)]
pub struct CallContext {
    pub runtime: Runtime,
    pub module: Arc<LoadedModule>,
    pub tenant: Arc<TenantView>,
    pub caller: Option<Arc<Caller>>,
    pub request_id: Arc<str>,
    pub uow: Arc<UnitOfWork>,
    /// Modules on the call chain, outermost first, this one last.
    pub chain: Arc<Vec<String>>,
    /// When the outermost request started, and when it must end.
    pub started: Instant,
    pub deadline: Instant,
}

/// The data of one instance's store.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: MemoryLimiter,
    /// When the current call (or instantiation) must end.
    pub deadline: Instant,
    /// Set for the duration of an export call.
    pub call: Option<CallContext>,
}

impl HostState {
    pub fn new(max_memory_bytes: usize, tenant_id: &str, module: &str) -> Self {
        let out = super::guest_output::GuestOutput::new(tenant_id, module);
        let wasi = WasiCtx::builder()
            .stdout(out.clone().stream("stdout"))
            .stderr(out.stream("stderr"))
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(max_memory_bytes),
            deadline: Instant::now(),
            call: None,
        }
    }

    /// The current call; a guest calling an import outside one (from `describe`)
    /// traps.
    fn ctx(&self) -> wasmtime::Result<&CallContext> {
        self.call
            .as_ref()
            .ok_or_else(|| wasmtime::format_err!("host import called outside a request"))
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl super::bindings::mosaic::platform::types::Host for HostState {}

/// A database failure as the guest sees it: logged here in full, reported by
/// request id only. The request's unit of work can no longer commit.
pub(crate) fn internal(ctx: &CallContext, err: &dyn std::fmt::Display) -> HostError {
    ctx.uow.poison();
    tracing::error!(request_id = %ctx.request_id, tenant = %ctx.tenant.tenant.subdomain, module = %ctx.module.key, error = %err, "host call failed");
    HostError::Internal(format!("host error, request {}", ctx.request_id))
}
