//! One call into a module: the context it runs for, and the one path every export
//! takes — a leased instance of the (tenant, module) slot, the call under the
//! limits, the instance back in its pool or discarded, and the unit of work
//! committed or rolled back. `handle` goes this way; so will `on-event` and
//! scheduled exports, each as one more [`Export`].

use std::sync::Arc;
use std::time::Instant;

use super::Runtime;
use super::dispatch::{DispatchError, ModuleFailure};
use super::limits::{DeadlineExceeded, MemoryExceeded};
use super::registry::LoadedModule;
use super::slot::{CheckoutError, Instance};
use super::types::{Header, Request, Response};
use super::unit_of_work::UnitOfWork;
use crate::auth::Caller;
use crate::config::Limits;
use crate::store::now_ms;
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
    /// When the outermost call started, and when it must end.
    pub started: Instant,
    pub deadline: Instant,
}

impl CallContext {
    /// The context of an outermost call, with a unit of work of its own that ends at
    /// the call's deadline.
    pub fn outermost(
        runtime: &Runtime,
        tenant: Arc<TenantView>,
        module: Arc<LoadedModule>,
        caller: Option<Arc<Caller>>,
        request_id: Arc<str>,
    ) -> Self {
        let started = Instant::now();
        let deadline = started + runtime.limits().call_timeout;
        let uow = UnitOfWork::new(runtime.inner.db.clone(), tenant.clone(), deadline);
        Self {
            runtime: runtime.clone(),
            chain: Arc::new(vec![module.key.clone()]),
            module,
            tenant,
            caller,
            request_id,
            uow: Arc::new(uow),
            started,
            deadline,
        }
    }

    /// The context of a call from this one into `target`.
    pub fn nested(&self, target: Arc<LoadedModule>) -> Self {
        let mut chain = Vec::clone(&self.chain);
        chain.push(target.key.clone());
        Self {
            chain: Arc::new(chain),
            module: target,
            ..self.clone()
        }
    }
}

/// An export the runtime calls on a leased instance.
pub trait Export: Send + 'static {
    type Output: Send + 'static;

    fn call(
        self,
        instance: &mut Instance,
    ) -> impl Future<Output = wasmtime::Result<Self::Output>> + Send;

    /// Checks what the module returned against the limits (its instance is already
    /// back in the pool: the answer is refused, not the instance).
    fn check(output: Self::Output, limits: &Limits) -> Result<Self::Output, DispatchError>;

    /// Whether the call's writes are kept.
    fn keeps_writes(output: &Self::Output) -> bool;
}

/// The most headers a module may send or pass on in one request or response.
pub const MAX_HEADERS: usize = 100;

/// What headers weigh against a size cap: their names and values.
pub fn headers_size(headers: &[Header]) -> usize {
    headers.iter().map(|h| h.name.len() + h.value.len()).sum()
}

/// `handle`: one HTTP request.
pub struct Handle(pub Request);

impl Export for Handle {
    type Output = Response;

    async fn call(self, instance: &mut Instance) -> wasmtime::Result<Response> {
        instance.bindings.handle(&mut instance.store, self.0).await
    }

    fn check(response: Response, limits: &Limits) -> Result<Response, DispatchError> {
        if response.headers.len() > MAX_HEADERS {
            return Err(DispatchError::TooManyHeaders(response.headers.len()));
        }
        let size = response.body.len() + headers_size(&response.headers);
        if size > limits.max_response_bytes {
            return Err(DispatchError::ResponseTooLarge(size));
        }
        if !(200..600).contains(&response.status) {
            return Err(DispatchError::BadStatus(response.status));
        }
        Ok(response)
    }

    fn keeps_writes(response: &Response) -> bool {
        response.status < 400
    }
}

impl Runtime {
    /// Runs `export` as the outermost call of its unit of work: its writes commit
    /// only if it succeeded, and a failure is kept for the tenant's health report.
    pub(super) async fn run_unit<E: Export>(
        &self,
        ctx: CallContext,
        export: E,
    ) -> Result<E::Output, DispatchError> {
        self.run_unit_then(ctx, export, async |_| Ok(())).await
    }

    /// [`Self::run_unit`], with `before_commit` writing in the unit of work after a
    /// call whose writes are kept (an acknowledgement that must commit with them).
    pub(super) async fn run_unit_then<E: Export>(
        &self,
        ctx: CallContext,
        export: E,
        before_commit: impl AsyncFnOnce(&UnitOfWork) -> Result<(), sqlx::Error>,
    ) -> Result<E::Output, DispatchError> {
        let (uow, tenant, module) = (ctx.uow.clone(), ctx.tenant.clone(), ctx.module.clone());
        let mut result = self.run(ctx, export).await;
        let mut commit = matches!(&result, Ok(output) if E::keeps_writes(output));
        if commit && let Err(err) = before_commit(&uow).await {
            commit = false;
            result = Err(DispatchError::Internal(format!(
                "finishing the call: {err}"
            )));
        }
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
        uow.finish(commit)
            .await
            .map_err(|e| DispatchError::Internal(format!("finishing the unit of work: {e}")))?;
        if commit && uow.emitted() {
            self.inner.deliveries.wake(&tenant.tenant.id);
        }
        if commit && uow.sent_messages() {
            self.queue_mails(&uow, &tenant).await;
        }
        result
    }

    /// Queues the mails a committed unit of work asked for. The writes are in, so a
    /// failure here loses a mail, not data: it is logged.
    async fn queue_mails(&self, uow: &UnitOfWork, tenant: &TenantView) {
        for mail in uow.take_mails() {
            let queued = self
                .inner
                .db
                .queue_mail(Some(&tenant.tenant.id), &mail.to, &mail.subject, &mail.body)
                .await;
            if let Err(err) = queued {
                tracing::error!(tenant = %tenant.tenant.subdomain, error = %err, "queueing a notification mail failed");
            }
        }
    }

    /// Runs `export` on an instance of the context's (tenant, module) slot. The
    /// context moves into the instance's store for the call, and out again after.
    pub(super) async fn run<E: Export>(
        &self,
        ctx: CallContext,
        export: E,
    ) -> Result<E::Output, DispatchError> {
        let limits = &self.inner.limits;
        let metrics = &self.inner.metrics;
        let slot = self.slot(&ctx);
        let waiting = Instant::now();
        let checkout = match slot.checkout(&self.inner.engine, limits).await {
            // The engine's instance pool is full of other slots' idle instances:
            // drop those (they are cheap to make again) and try once more.
            Err(CheckoutError::PoolExhausted) => {
                self.shed_idle_instances();
                slot.checkout(&self.inner.engine, limits).await
            }
            other => other,
        };
        metrics.instance_wait(&ctx.module.key, waiting.elapsed());
        let mut lease = checkout.map_err(|e| match e {
            CheckoutError::Busy(_) => {
                metrics.limit_hit("busy");
                DispatchError::Busy
            }
            other => DispatchError::Internal(other.to_string()),
        })?;
        let (module, started) = (ctx.module.clone(), Instant::now());
        let deadline = ctx.deadline;
        let (who, cpu_bound) = (Who::of(&ctx), lease.instance.store.data().cpu.cpu_bound());
        {
            let state = lease.instance.store.data_mut();
            state.deadline = deadline;
            state.call = Some(ctx);
        }
        let call = Box::pin(async move {
            let output = export.call(&mut lease.instance).await;
            (lease, output)
        });
        // The epoch callback stops a guest that computes past the deadline; this
        // stops one that waits in a host or WASI call (a sleep, a poll, a slow
        // query). The dropped call cancels that wait, and its instance is discarded
        // with its lease.
        let outcome = match self.inner.cpu_bound.run(call, &cpu_bound, deadline).await {
            None => Err(classify(&DeadlineExceeded.into(), &who)),
            Some((mut lease, result)) => {
                let state = lease.instance.store.data_mut();
                state.cpu.end_call();
                state.call = None;
                match result {
                    Ok(output) => {
                        lease.release(limits);
                        E::check(output, limits)
                    }
                    // The lease is dropped here, and the instance with it.
                    Err(err) => Err(classify(&err, &who)),
                }
            }
        };
        let (label, limit) = match &outcome {
            Ok(_) => ("ok", None),
            Err(DispatchError::Timeout) => ("timeout", Some("deadline")),
            Err(DispatchError::MemoryLimit) => ("memory_limit", Some("memory")),
            Err(DispatchError::ResponseTooLarge(_)) => {
                ("response_too_large", Some("response_size"))
            }
            Err(DispatchError::Trap(_)) => ("trap", None),
            Err(_) => ("bad_response", None),
        };
        metrics.module_call(&module.key, label, started.elapsed());
        if let Some(kind) = limit {
            metrics.limit_hit(kind);
        }
        outcome
    }
}

/// Whose call it was, for the log.
struct Who {
    tenant: Arc<TenantView>,
    module: Arc<LoadedModule>,
    request_id: Arc<str>,
}

impl Who {
    fn of(ctx: &CallContext) -> Self {
        Self {
            tenant: ctx.tenant.clone(),
            module: ctx.module.clone(),
            request_id: ctx.request_id.clone(),
        }
    }
}

/// Names what cut a call short; the host log gets the details.
fn classify(err: &wasmtime::Error, who: &Who) -> DispatchError {
    let tenant = &who.tenant.tenant.subdomain;
    let module = &who.module.key;
    let request_id = &who.request_id;
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
