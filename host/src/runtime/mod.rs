//! The module runtime: one engine, the installed modules, and a lazily created slot
//! per (tenant, module) while that module is enabled for that tenant.
//!
//! - `install`: a component becomes the installed version of its key;
//! - `grant`: what an installed module may use of what its manifest requests;
//! - `dispatch`: an HTTP request or a `modules.call` becomes an export call;
//! - `call`: the one path of every export call (lease, limits, unit of work);
//! - `deliver`: `on-event`, one event to one subscriber;
//! - `slots`: the (tenant, module) slot map; `slot`: one slot's instance pool;
//! - `wit/`: one adapter per contract version; `host/`: the imports, in host types.

mod cache;
mod call;
mod deliver;
mod dispatch;
mod engine;
pub mod grant;
mod guest_log;
pub mod host;
mod install;
mod limits;
pub mod registry;
mod routes;
mod schedule;
mod signal;
mod slot;
mod slots;
pub mod types;
mod unit_of_work;
mod wit;

use std::sync::Arc;
use std::time::Instant;

use dashmap::DashMap;
use wasmtime::Engine;
use wasmtime::component::Linker;

pub use self::call::CallContext;
pub use self::deliver::Delivery;
pub use self::dispatch::{Dispatch, DispatchError, ModuleFailure};
use self::grant::GrantKind;
use self::guest_log::{GuestLog, LogBudget};
use self::host::HostState;
pub use self::install::RefusedModule;
pub use self::registry::Provenance;
use self::registry::{LoadedModule, Registry};
pub use self::signal::TenantSignal;
use self::slot::Slot;
pub use self::slots::SlotInfo;
use crate::config::Limits;
use crate::store::{AuditEntry, Db, Origin};
use crate::tenancy::TenantView;

/// How often one (tenant, module, request) refused by a grant is audited.
const REFUSAL_AUDIT_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Cheap to clone; all clones share one runtime.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<HostState>,
    registry: Registry,
    slots: DashMap<(String, String), Arc<Slot>>,
    /// When each (tenant, module) was last disabled: a request that began before
    /// that must not bring its slot back.
    disabled_at: DashMap<(String, String), Instant>,
    /// Each (tenant, module)'s guest log budget, shared by its instances.
    log_budgets: DashMap<(String, String), Arc<LogBudget>>,
    /// Where CPU-bound calls of every tenant run (`CpuShare`).
    cpu_bound: limits::CpuBoundPool,
    /// Components refused at start-up.
    refused: std::sync::Mutex<Vec<RefusedModule>>,
    /// Tenants with events to deliver.
    deliveries: TenantSignal,
    /// Tenants whose schedules may have changed (a module switched on or off).
    schedules: TenantSignal,
    /// Each tenant's most recent failed module call, for its health report.
    last_errors: DashMap<String, ModuleFailure>,
    /// When each (tenant, module, request) refused by a grant was last audited.
    refusals_audited: DashMap<(String, String, GrantKind, String), Instant>,
    /// Held while the installed modules are changed or brought in line with the
    /// database, so that what this replica runs is always what the database said last.
    catalog: tokio::sync::Mutex<()>,
    metrics: Arc<crate::metrics::Metrics>,
    db: Db,
    limits: Limits,
    cache: cache::ArtifactCache,
}

impl Runtime {
    pub fn new(db: Db, limits: Limits, cache_dir: std::path::PathBuf) -> anyhow::Result<Self> {
        let engine = engine::build(&limits).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        wit::add_to_linker(&mut linker).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                linker,
                registry: Registry::default(),
                slots: DashMap::new(),
                disabled_at: DashMap::new(),
                log_budgets: DashMap::new(),
                refused: Default::default(),
                cpu_bound: limits::CpuBoundPool::new(limits.cpu_bound_calls)?,
                deliveries: TenantSignal::default(),
                schedules: TenantSignal::default(),
                last_errors: DashMap::new(),
                refusals_audited: DashMap::new(),
                catalog: tokio::sync::Mutex::new(()),
                metrics: Arc::default(),
                db,
                limits,
                cache: cache::ArtifactCache::new(cache_dir),
            }),
        })
    }

    /// The host's metrics, which module calls feed.
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.inner.metrics
    }

    /// Tenants with newly committed events, for whoever delivers them.
    pub fn deliveries(&self) -> &TenantSignal {
        &self.inner.deliveries
    }

    /// Tenants whose modules changed, for whoever runs schedules.
    pub fn schedules(&self) -> &TenantSignal {
        &self.inner.schedules
    }

    /// A module was switched on or off for the tenant, here or on another replica:
    /// deliveries that waited for it may go, and its schedules start or stop.
    pub fn modules_changed(&self, tenant_id: &str) {
        self.inner.deliveries.wake(tenant_id);
        self.inner.schedules.wake(tenant_id);
    }

    /// One change to the installed modules at a time on this replica.
    pub async fn catalog_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.catalog.lock().await
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    pub fn module(&self, key: &str) -> Option<Arc<LoadedModule>> {
        self.inner.registry.get(key)
    }

    pub fn modules(&self) -> Vec<Arc<LoadedModule>> {
        self.inner.registry.all()
    }

    /// Installed, and core or switched on by the tenant.
    pub fn is_enabled(&self, tenant: &TenantView, key: &str) -> bool {
        self.gate(tenant, key).is_some()
    }

    /// Where the guest lines of `module` run for `tenant` go, within their budget.
    fn guest_log(&self, tenant: &TenantView, module: &str) -> GuestLog {
        let key = (tenant.tenant.id.clone(), module.to_owned());
        let budget = self.inner.log_budgets.entry(key).or_default().clone();
        GuestLog::new(&tenant.tenant.subdomain, module, budget)
    }

    /// Guest log lines dropped on this replica, by module, for a tenant's health.
    pub fn log_lines_dropped(&self, tenant_id: &str) -> Vec<(String, u64)> {
        let mut dropped: Vec<(String, u64)> = self
            .inner
            .log_budgets
            .iter()
            .filter(|e| e.key().0 == tenant_id && e.value().dropped() > 0)
            .map(|e| (e.key().1.clone(), e.value().dropped()))
            .collect();
        dropped.sort();
        dropped
    }

    /// The module `key` in the version the tenant runs (its pin, else the current),
    /// if it is installed and core or enabled for the tenant.
    pub fn gate(&self, tenant: &TenantView, key: &str) -> Option<Arc<LoadedModule>> {
        self.version_for(tenant, key)
            .filter(|m| m.core || tenant.has_enabled(key))
    }

    /// The version of `key` the tenant runs, enabled or not: its pin, else the current.
    pub fn version_for(&self, tenant: &TenantView, key: &str) -> Option<Arc<LoadedModule>> {
        self.inner.registry.resolve(key, tenant.pinned_version(key))
    }

    /// A module used something its grant refuses: logged and audited at most once a
    /// minute per (tenant, module, request) on each replica, so a module looping on it
    /// cannot flood either.
    pub(crate) fn audit_refusal(&self, ctx: &CallContext, kind: GrantKind, item: &str) {
        let tenant_id = ctx.tenant.tenant.id.clone();
        let module = ctx.module.key.clone();
        let now = Instant::now();
        let key = (tenant_id.clone(), module.clone(), kind, item.to_owned());
        let due = match self.inner.refusals_audited.entry(key) {
            dashmap::mapref::entry::Entry::Occupied(last)
                if now - *last.get() < REFUSAL_AUDIT_EVERY =>
            {
                false
            }
            entry => {
                entry.insert(now);
                true
            }
        };
        if !due {
            return;
        }
        tracing::warn!(request_id = %ctx.request_id, tenant = %ctx.tenant.tenant.subdomain, module = %module, kind = kind.as_str(), item, "refused by the module's grant (logged once a minute)");
        let db = self.inner.db.clone();
        let origin = Origin {
            request_id: Some(ctx.request_id.to_string()),
            ..Origin::default()
        };
        let target = format!("{}:{item}", kind.as_str());
        tokio::spawn(async move {
            let actor = format!("module:{module}");
            let entry = AuditEntry::new(
                &origin,
                &actor,
                Some(&tenant_id),
                "module.grant_refused",
                &target,
            );
            if let Err(err) = db.append_audit(&entry).await {
                tracing::error!(error = %err, module = %module, "auditing a refused call failed");
            }
        });
    }
}
