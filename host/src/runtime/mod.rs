//! The module runtime: one engine, the installed modules, and a lazily created slot
//! per (tenant, module) while that module is enabled for that tenant.

pub mod bindings;
mod cache;
mod engine;
mod guest_output;
pub mod host;
mod limits;
pub mod registry;
mod slot;
mod unit_of_work;

use std::sync::Arc;
use std::time::Instant;

use dashmap::DashMap;
use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

use self::bindings::{HostError, Module, Request, Response};
use self::host::{CallContext, HostState};
use self::limits::{DeadlineExceeded, MemoryExceeded};
use self::registry::{LoadedModule, Registry, RouteMiss};
use self::slot::{CheckoutError, Slot};
use self::unit_of_work::UnitOfWork;
use crate::auth::{Caller, Role};
use crate::config::Limits;
use crate::store::{Db, now_ms};
use crate::tenancy::TenantView;

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
    /// Each tenant's most recent failed module call, for its health report.
    last_errors: DashMap<String, ModuleFailure>,
    db: Db,
    limits: Limits,
    cache: cache::ArtifactCache,
}

/// An HTTP request for a module, as the host router hands it over.
#[derive(Debug)]
pub struct Dispatch {
    pub tenant: Arc<TenantView>,
    /// The module, as [`Runtime::gate`] let it through for this tenant.
    pub module: Arc<LoadedModule>,
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<bindings::Header>,
    pub body: Vec<u8>,
    pub caller: Option<Arc<Caller>>,
    pub request_id: Arc<str>,
}

/// Why a module request did not produce the module's own response.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("module {0} is not enabled for this tenant")]
    NotEnabled(String),
    #[error("no such route")]
    NoRoute,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("this route needs role {0:?} or higher")]
    RoleTooLow(Role),
    #[error("module is busy")]
    Busy,
    #[error("module call exceeded its deadline")]
    Timeout,
    #[error("module exceeded its memory limit")]
    MemoryLimit,
    #[error("module trapped: {0}")]
    Trap(String),
    #[error("module response of {0} bytes is over the limit")]
    ResponseTooLarge(usize),
    #[error("module answered with status {0}, not a final HTTP status")]
    BadStatus(u16),
    #[error("{0}")]
    Internal(String),
}

/// A module call that failed in the runtime (a trap, a timeout, a limit), not a
/// 4xx/5xx the module chose to answer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModuleFailure {
    pub module: String,
    pub error: String,
    pub at_ms: i64,
}

/// A live slot, for operators.
#[derive(Debug, serde::Serialize)]
pub struct SlotInfo {
    pub tenant_id: String,
    pub module: String,
    pub version: String,
    pub warm_instances: usize,
    pub busy_instances: usize,
    pub calls: u64,
    pub instantiations: u64,
    pub last_used_ms: i64,
}

impl Runtime {
    pub fn new(db: Db, limits: Limits, cache_dir: std::path::PathBuf) -> anyhow::Result<Self> {
        let engine = engine::build(&limits).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Module::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                linker,
                registry: Registry::default(),
                slots: DashMap::new(),
                disabled_at: DashMap::new(),
                last_errors: DashMap::new(),
                db,
                limits,
                cache: cache::ArtifactCache::new(cache_dir),
            }),
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Compiles (or loads from the cache) a component, reads its manifest and makes it
    /// the installed version of its key. Slots of an older version are dropped; their
    /// in-flight requests finish on the old instances.
    pub async fn install(&self, wasm: &[u8]) -> anyhow::Result<Arc<LoadedModule>> {
        let started = Instant::now();
        let loaded = self.inner.cache.load(&self.inner.engine, wasm)?;
        registry::check_contract(&self.inner.engine, &loaded.component)
            .map_err(anyhow::Error::msg)?;
        let pre = self
            .inner
            .linker
            .instantiate_pre(&loaded.component)
            .map_err(|e| anyhow::anyhow!("module does not link against this host: {e:?}"))?;
        let pre = bindings::ModulePre::new(pre).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let manifest = self.describe(&pre).await?;
        let module = Arc::new(
            registry::load(manifest, pre, loaded.sha256, loaded.cached)
                .map_err(anyhow::Error::msg)?,
        );
        self.inner
            .db
            .upsert_module(
                &module.key,
                &module.manifest.name,
                &module.manifest.version,
                &module.sha256,
                &module.manifest_json().to_string(),
            )
            .await?;
        self.inner.registry.insert(module.clone());
        self.inner
            .slots
            .retain(|(_, key), slot| *key != module.key || Arc::ptr_eq(&slot.module, &module));
        tracing::info!(
            module = %module.key,
            version = %module.manifest.version,
            cached = loaded.cached,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "installed module"
        );
        Ok(module)
    }

    /// Runs `describe` in a throwaway instance, under the usual limits.
    async fn describe(
        &self,
        pre: &bindings::ModulePre<HostState>,
    ) -> anyhow::Result<bindings::Manifest> {
        let mut store = slot::new_store(&self.inner.engine, &self.inner.limits, "-", "-");
        let instance = pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        instance
            .mosaic_platform_guest()
            .call_describe(&mut store)
            .await
            .map_err(|e| anyhow::anyhow!("describe failed: {e:?}"))
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

    /// The module `key`, if it is installed and core or enabled for the tenant.
    pub fn gate(&self, tenant: &TenantView, key: &str) -> Option<Arc<LoadedModule>> {
        self.inner
            .registry
            .get(key)
            .filter(|m| m.core || tenant.has_enabled(key))
    }

    /// Serves one HTTP request with a module, as one unit of work.
    pub async fn dispatch(&self, call: Dispatch) -> Result<Response, DispatchError> {
        let started = Instant::now();
        let module = call.module;
        let route = module
            .route(&call.method, &call.path)
            .map_err(|miss| match miss {
                RouteMiss::NotFound => DispatchError::NoRoute,
                RouteMiss::MethodNotAllowed => DispatchError::MethodNotAllowed,
            })?;
        check_role(call.caller.as_deref(), route.min_role)?;
        let request = Request {
            method: call.method,
            path: call.path,
            route: route.pattern,
            params: route
                .params
                .into_iter()
                .map(|(name, value)| bindings::Param { name, value })
                .collect(),
            query: call.query,
            headers: call.headers,
            body: call.body,
        };
        let deadline = started + self.inner.limits.call_timeout;
        let uow = Arc::new(UnitOfWork::new(self.inner.db.clone(), deadline));
        let ctx = CallContext {
            runtime: self.clone(),
            chain: Arc::new(vec![module.key.clone()]),
            module,
            tenant: call.tenant,
            caller: call.caller,
            request_id: call.request_id,
            uow: uow.clone(),
            started,
            deadline,
        };
        let (tenant, module) = (ctx.tenant.clone(), ctx.module.clone());
        let result = self.run(ctx, request).await;
        if let Err(err) = &result {
            self.inner.last_errors.insert(
                tenant.tenant.id.clone(),
                ModuleFailure {
                    module: module.key.clone(),
                    error: err.to_string(),
                    at_ms: now_ms(),
                },
            );
        }
        let commit = matches!(&result, Ok(resp) if resp.status < 400);
        uow.finish(commit)
            .await
            .map_err(|e| DispatchError::Internal(format!("finishing the unit of work: {e}")))?;
        result
    }

    /// `modules.call` from the module running in `ctx`.
    pub(crate) async fn call_nested(
        &self,
        ctx: &CallContext,
        key: &str,
        mut req: Request,
    ) -> Result<Response, HostError> {
        if !ctx.module.may_call(key) {
            return Err(HostError::Forbidden(format!(
                "module {} does not declare a dependency on {key}",
                ctx.module.key
            )));
        }
        if ctx.chain.iter().any(|k| k == key) {
            return Err(HostError::Forbidden(format!(
                "call cycle: {} -> {key}",
                ctx.chain.join(" -> ")
            )));
        }
        let target = self.gate(&ctx.tenant, key).ok_or_else(|| {
            HostError::Unavailable(format!("module {key} is not enabled for this tenant"))
        })?;
        let route = match target.route(&req.method.to_ascii_uppercase(), &req.path) {
            Ok(route) => route,
            Err(RouteMiss::NotFound) => {
                return Ok(json_response(404, "not_found", "No such route"));
            }
            Err(RouteMiss::MethodNotAllowed) => {
                return Ok(json_response(
                    405,
                    "method_not_allowed",
                    "Method not allowed",
                ));
            }
        };
        if check_role(ctx.caller.as_deref(), route.min_role).is_err() {
            return Ok(json_response(
                403,
                "forbidden",
                "Role too low for this route",
            ));
        }
        req.method = req.method.to_ascii_uppercase();
        req.route = route.pattern;
        req.params = route
            .params
            .into_iter()
            .map(|(name, value)| bindings::Param { name, value })
            .collect();
        let mut nested = ctx.clone();
        let mut chain = Vec::clone(&ctx.chain);
        chain.push(key.to_owned());
        nested.chain = Arc::new(chain);
        nested.module = target;
        let mark = ctx
            .uow
            .begin_nested()
            .await
            .map_err(|e| host::internal(ctx, &e))?;
        let result = Box::pin(self.run(nested, req)).await;
        let keep = matches!(&result, Ok(resp) if resp.status < 400);
        ctx.uow
            .end_nested(mark, keep)
            .await
            .map_err(|e| host::internal(ctx, &e))?;
        result.map_err(|e| match e {
            DispatchError::Busy => HostError::Unavailable(format!("module {key} is busy")),
            other => HostError::Internal(format!("module {key} failed: {other}")),
        })
    }

    /// Runs `handle` on an instance of the context's (tenant, module) slot. The
    /// context moves into the instance's store for the call, and out again after.
    async fn run(&self, ctx: CallContext, request: Request) -> Result<Response, DispatchError> {
        let limits = &self.inner.limits;
        let slot = self.slot(&ctx);
        let checkout = match slot.checkout(&self.inner.engine, limits).await {
            // The engine's instance pool is full of other slots' idle instances:
            // drop those (they are cheap to make again) and try once more.
            Err(CheckoutError::PoolExhausted) => {
                self.shed_idle_instances();
                slot.checkout(&self.inner.engine, limits).await
            }
            other => other,
        };
        let mut lease = checkout.map_err(|e| match e {
            CheckoutError::Busy(_) => DispatchError::Busy,
            other => DispatchError::Internal(other.to_string()),
        })?;
        let instance = &mut lease.instance;
        {
            let state = instance.store.data_mut();
            state.deadline = ctx.deadline;
            state.call = Some(ctx);
        }
        let result = instance
            .bindings
            .mosaic_platform_guest()
            .call_handle(&mut instance.store, &request)
            .await;
        let ctx = instance.store.data_mut().call.take();
        match result {
            Ok(response) => {
                lease.release(limits);
                if response.body.len() > limits.max_response_bytes {
                    return Err(DispatchError::ResponseTooLarge(response.body.len()));
                }
                if !(200..600).contains(&response.status) {
                    return Err(DispatchError::BadStatus(response.status));
                }
                Ok(response)
            }
            // The lease is dropped here, and the instance with it.
            Err(err) => Err(classify(&err, ctx.as_ref())),
        }
    }

    /// The registered slot of the context's (tenant, module). A request that is
    /// stale — it began before the module was disabled, or runs a version since
    /// replaced — gets a slot of its own that is dropped with it, so it cannot bring
    /// a dropped slot back or displace the current version's.
    fn slot(&self, ctx: &CallContext) -> Arc<Slot> {
        let tenant_id = &ctx.tenant.tenant.id;
        let module = &ctx.module;
        let key = (tenant_id.clone(), module.key.clone());
        // The common case, under a shared lock: the slot exists and runs this version.
        // A registered slot implies the module was not disabled since (a disable
        // removes it, and only requests that passed the gate after that create one).
        if let Some(slot) = self
            .inner
            .slots
            .get(&key)
            .filter(|s| Arc::ptr_eq(&s.module, module))
        {
            return slot.clone();
        }
        let fresh = || {
            Arc::new(Slot::new(
                module.clone(),
                tenant_id.clone(),
                &self.inner.limits,
            ))
        };
        let disabled_since_start = self
            .inner
            .disabled_at
            .get(&key)
            .is_some_and(|at| *at >= ctx.started);
        let current = self
            .inner
            .registry
            .get(&module.key)
            .is_some_and(|m| Arc::ptr_eq(&m, module));
        if disabled_since_start || !current {
            return fresh();
        }
        let mut entry = self.inner.slots.entry(key).or_insert_with(fresh);
        if !Arc::ptr_eq(&entry.module, module) {
            *entry = fresh();
        }
        entry.clone()
    }

    /// Drops every slot's warm instances, keeping the slots.
    fn shed_idle_instances(&self) {
        let shed: usize = self.inner.slots.iter().map(|slot| slot.shed_idle()).sum();
        tracing::warn!(shed, "instance pool exhausted; dropped idle instances");
    }

    /// Drops a tenant's slot for a module (it was disabled); in-flight requests keep
    /// their instances until they finish.
    pub fn drop_slot(&self, tenant_id: &str, module: &str) -> bool {
        let key = (tenant_id.to_owned(), module.to_owned());
        self.inner.disabled_at.insert(key.clone(), Instant::now());
        self.inner.slots.remove(&key).is_some()
    }

    /// Drops all of a tenant's slots (it changed elsewhere, or was deleted); the next
    /// request builds them again from the current state.
    pub fn drop_tenant_slots(&self, tenant_id: &str) -> usize {
        let modules: Vec<String> = self
            .inner
            .slots
            .iter()
            .filter(|e| e.key().0 == tenant_id)
            .map(|e| e.key().1.clone())
            .collect();
        modules
            .iter()
            .filter(|module| self.drop_slot(tenant_id, module))
            .count()
    }

    /// The tenant's most recent failed module call on this replica.
    pub fn last_failure(&self, tenant_id: &str) -> Option<ModuleFailure> {
        self.inner.last_errors.get(tenant_id).map(|e| e.clone())
    }

    /// Forgets everything about a deleted tenant.
    pub fn forget_tenant(&self, tenant_id: &str) {
        self.drop_tenant_slots(tenant_id);
        self.inner.last_errors.remove(tenant_id);
    }

    /// Drops every slot idle for longer than the configured timeout.
    pub fn evict_idle(&self) -> usize {
        let idle_ms =
            i64::try_from(self.inner.limits.slot_idle_timeout.as_millis()).unwrap_or(i64::MAX);
        let now = now_ms();
        let before = self.inner.slots.len();
        self.inner
            .slots
            .retain(|_, slot| !slot.is_idle(now, idle_ms));
        before - self.inner.slots.len()
    }

    pub fn slots(&self) -> Vec<SlotInfo> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut all: Vec<SlotInfo> = self
            .inner
            .slots
            .iter()
            .map(|entry| {
                let slot = entry.value();
                SlotInfo {
                    tenant_id: slot.tenant_id.clone(),
                    module: slot.module.key.clone(),
                    version: slot.module.manifest.version.clone(),
                    warm_instances: slot.warm_instances(),
                    busy_instances: slot.busy_instances(),
                    calls: slot.calls.load(Relaxed),
                    instantiations: slot.instantiations.load(Relaxed),
                    last_used_ms: slot.last_used_ms(),
                }
            })
            .collect();
        all.sort_by(|a, b| (&a.tenant_id, &a.module).cmp(&(&b.tenant_id, &b.module)));
        all
    }
}

fn check_role(
    caller: Option<&Caller>,
    min_role: Option<bindings::Role>,
) -> Result<(), DispatchError> {
    match min_role.map(host::from_wit_role) {
        Some(min) if caller.is_none_or(|c| c.role < min) => Err(DispatchError::RoleTooLow(min)),
        _ => Ok(()),
    }
}

fn json_response(status: u16, code: &str, message: &str) -> Response {
    Response {
        status,
        headers: vec![bindings::Header {
            name: "content-type".into(),
            value: "application/json".into(),
        }],
        body: serde_json::json!({"error": message, "code": code})
            .to_string()
            .into_bytes(),
    }
}

/// Names what cut a call short; the host log gets the details.
fn classify(err: &wasmtime::Error, ctx: Option<&CallContext>) -> DispatchError {
    let tenant = ctx
        .map(|c| c.tenant.tenant.subdomain.as_str())
        .unwrap_or_default();
    let module = ctx.map(|c| c.module.key.as_str()).unwrap_or_default();
    let request_id = ctx.map(|c| &*c.request_id).unwrap_or_default();
    let kind = if err.chain().any(|e| e.is::<DeadlineExceeded>()) {
        DispatchError::Timeout
    } else if err.chain().any(|e| e.is::<MemoryExceeded>()) {
        DispatchError::MemoryLimit
    } else if let Some(trap) = err.downcast_ref::<wasmtime::Trap>() {
        DispatchError::Trap(trap.to_string())
    } else {
        DispatchError::Trap(err.to_string())
    };
    tracing::warn!(%tenant, %module, %request_id, error = ?err, outcome = %kind, "module call failed; instance discarded");
    kind
}
