//! The host side of the WIT imports, one file per interface, in the host's own
//! types: each contract version's adapter in `runtime/wit/` calls these. Every
//! function reads the calling (tenant, module) from the [`CallContext`]; none takes
//! it from the guest.

pub mod billing;
pub mod events;
pub mod files;
pub mod identity;
pub mod log;
pub mod modules;
pub mod notify;
pub mod store;
pub mod tenant;

use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::CallContext;
use super::grant::{Denial, GrantKind};
use super::guest_log::GuestLog;
use super::limits::{CpuShare, MemoryLimiter};
use super::types::{Capability, HostError};

/// The data of one instance's store.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: MemoryLimiter,
    /// Where this instance's guest lines go.
    pub log: GuestLog,
    /// This instance's share of the CPU.
    pub cpu: CpuShare,
    /// When the current call (or instantiation) must end.
    pub deadline: Instant,
    /// Set for the duration of an export call.
    pub call: Option<CallContext>,
}

impl HostState {
    pub fn new(max_memory_bytes: usize, log: GuestLog, cpu: CpuShare) -> Self {
        let wasi = WasiCtx::builder()
            .stdout(log.clone().stream("stdout"))
            .stderr(log.clone().stream("stderr"))
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(max_memory_bytes),
            log,
            cpu,
            deadline: Instant::now(),
            call: None,
        }
    }

    /// The current call; a guest calling an import outside one (from `describe`)
    /// traps.
    pub fn ctx(&self) -> wasmtime::Result<&CallContext> {
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

impl CallContext {
    /// The one capability check: `what` needs `capability`, declared in the manifest
    /// and granted by the platform. A refused grant is audited.
    pub fn require(&self, capability: Capability, what: &str) -> Result<(), HostError> {
        match self.module.may_use(capability) {
            Ok(()) => Ok(()),
            Err(Denial::Undeclared) => Err(HostError::Forbidden(format!(
                "{what} needs the `{}` capability in the manifest",
                capability.as_str()
            ))),
            Err(Denial::NotGranted) => {
                self.runtime
                    .audit_refusal(self, GrantKind::Capability, capability.as_str());
                Err(HostError::Forbidden(format!(
                    "{what} needs the `{}` capability, which the platform has not granted this module",
                    capability.as_str()
                )))
            }
        }
    }
}

/// A database failure as the guest sees it: logged here in full, reported by
/// request id only. The request's unit of work can no longer commit.
pub(crate) fn internal(ctx: &CallContext, err: &dyn std::fmt::Display) -> HostError {
    ctx.uow.poison();
    tracing::error!(request_id = %ctx.request_id, tenant = %ctx.tenant.tenant.subdomain, module = %ctx.module.key, error = %err, "host call failed");
    HostError::Internal(format!("host error, request {}", ctx.request_id))
}
