//! A (tenant, module) slot: a small pool of warm instances, used one request at a
//! time each. Instances never move between slots, so never between tenants.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::{CallHook, Engine, Store, UpdateDeadline};

use super::guest_log::GuestLog;
use super::host::HostState;
use super::limits::{CpuShare, DeadlineExceeded};
use super::registry::LoadedModule;
use super::wit::Bindings;
use crate::config::Limits;
use crate::store::now_ms;

pub struct Slot {
    pub module: Arc<LoadedModule>,
    pub tenant_id: String,
    log: GuestLog,
    idle: std::sync::Mutex<Vec<Instance>>,
    permits: Arc<Semaphore>,
    size: usize,
    last_used_ms: AtomicI64,
    pub calls: AtomicU64,
    pub instantiations: AtomicU64,
}

/// A live instance and its store.
pub struct Instance {
    pub store: Store<HostState>,
    pub bindings: Bindings,
    calls: u32,
}

/// Exclusive use of one instance. Dropped without [`Lease::release`] (a failure, or
/// the request's future cancelled mid-call), the instance is discarded.
pub struct Lease {
    slot: Arc<Slot>,
    pub instance: Instance,
    _permit: OwnedSemaphorePermit,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("all {0} instances are busy")]
    Busy(usize),
    #[error("the engine's instance pool is exhausted")]
    PoolExhausted,
    #[error("instantiation failed: {0}")]
    Instantiate(String),
}

impl Slot {
    pub fn new(
        module: Arc<LoadedModule>,
        tenant_id: String,
        log: GuestLog,
        limits: &Limits,
    ) -> Self {
        Self {
            module,
            tenant_id,
            log,
            idle: std::sync::Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(limits.instances_per_slot)),
            size: limits.instances_per_slot,
            last_used_ms: AtomicI64::new(now_ms()),
            calls: AtomicU64::new(0),
            instantiations: AtomicU64::new(0),
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Instance>> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A free instance: a warm one, or a new one while the slot is below its size.
    pub async fn checkout(
        self: &Arc<Self>,
        engine: &Engine,
        limits: &Limits,
    ) -> Result<Lease, CheckoutError> {
        // A free instance is the common case: take it without arming a timer.
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // Each waiter gives up at its own moment, between half and all of
                // the queue timeout: a flood that arrived at once must not come
                // back at once as a burst of refusals (and of new requests).
                let wait = limits.queue_timeout.mul_f64(rand::random_range(0.5..=1.0));
                tokio::time::timeout(wait, self.permits.clone().acquire_owned())
                    .await
                    .map_err(|_| CheckoutError::Busy(self.size))?
                    .map_err(|_| CheckoutError::Busy(self.size))?
            }
        };
        // Idle eviction counts in minutes: refresh the shared timestamp at most once
        // a second rather than writing its cache line on every call.
        let now = now_ms();
        if now - self.last_used_ms.load(Ordering::Relaxed) >= 1000 {
            self.last_used_ms.store(now, Ordering::Relaxed);
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        let warm = self.idle().pop();
        let instance = match warm {
            Some(instance) => instance,
            None => self.instantiate(engine, limits).await?,
        };
        Ok(Lease {
            slot: self.clone(),
            instance,
            _permit: permit,
        })
    }

    async fn instantiate(
        &self,
        engine: &Engine,
        limits: &Limits,
    ) -> Result<Instance, CheckoutError> {
        let mut store = new_store(engine, limits, self.log.clone());
        let bindings = self.module.pre.instantiate(&mut store).await.map_err(|e| {
            let message = format!("{e:?}");
            // wasmtime's pooling allocator: "maximum concurrent ... limit of N reached".
            if message.contains("maximum concurrent") {
                CheckoutError::PoolExhausted
            } else {
                CheckoutError::Instantiate(message)
            }
        })?;
        self.instantiations.fetch_add(1, Ordering::Relaxed);
        Ok(Instance {
            store,
            bindings,
            calls: 0,
        })
    }

    /// Idle for longer than `idle_ms` with no request in flight.
    pub fn is_idle(&self, now: i64, idle_ms: i64) -> bool {
        self.permits.available_permits() == self.size
            && now - self.last_used_ms.load(Ordering::Relaxed) > idle_ms
    }

    /// Drops the warm instances; returns how many.
    pub fn shed_idle(&self) -> usize {
        std::mem::take(&mut *self.idle()).len()
    }

    pub fn warm_instances(&self) -> usize {
        self.idle().len()
    }

    pub fn busy_instances(&self) -> usize {
        self.size - self.permits.available_permits()
    }

    pub fn last_used_ms(&self) -> i64 {
        self.last_used_ms.load(Ordering::Relaxed)
    }
}

/// A store for one instance, logging to `log`, under the limits: the memory cap,
/// and a deadline (starting at one call timeout from now, moved before each call)
/// checked at every epoch tick.
pub fn new_store(engine: &Engine, limits: &Limits, log: GuestLog) -> Store<HostState> {
    let cpu = CpuShare::new();
    let mut store = Store::new(engine, HostState::new(limits.max_memory_bytes, log, cpu));
    store.limiter(|state| &mut state.limiter);
    store.data_mut().deadline = Instant::now() + limits.call_timeout;
    // Every tick: past the deadline, trap; otherwise yield, so a busy guest never
    // holds an executor thread for more than one tick. tokio's own yield puts the
    // guest behind every other ready task and lets the I/O driver run first: a
    // plain self-wake would be polled again at once, starving other tenants. A
    // call that keeps computing is then moved off the request executor
    // (`CpuShare`, `CpuBoundPool`).
    store.set_epoch_deadline(1);
    // Time a call waits in the host (for the database, say) is not computing: it
    // does not count towards its next tick.
    store.call_hook(|mut ctx, hook| {
        if let CallHook::ReturningFromHost = hook {
            ctx.set_epoch_deadline(1);
        }
        Ok(())
    });
    store.epoch_deadline_callback(|mut ctx| {
        let state = ctx.data_mut();
        if Instant::now() >= state.deadline {
            Err(DeadlineExceeded.into())
        } else {
            Ok(UpdateDeadline::YieldCustom(1, state.cpu.next_turn()))
        }
    });
    store
}

impl Lease {
    /// Returns a healthy instance to the pool unless it is due for recycling.
    pub fn release(self, limits: &Limits) {
        let Lease {
            slot,
            mut instance,
            _permit,
        } = self;
        instance.calls += 1;
        let fresh_enough = instance.calls < limits.recycle_after_calls
            && instance.store.data().limiter.current <= limits.recycle_above_memory_bytes;
        if fresh_enough {
            slot.idle().push(instance);
        }
    }
}
