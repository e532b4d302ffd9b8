//! The per-instance memory cap, the CPU share of long calls, and the errors by
//! which a call is cut short.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Fails any memory growth past the cap with a trap the runtime recognises.
pub struct MemoryLimiter {
    cap: usize,
    /// The instance's current linear memory size.
    pub current: usize,
}

impl MemoryLimiter {
    pub fn new(cap: usize) -> Self {
        Self { cap, current: 0 }
    }
}

/// The call passed its wall-clock deadline.
#[derive(Debug, thiserror::Error)]
#[error("module call exceeded its deadline")]
pub struct DeadlineExceeded;

/// The instance asked for more linear memory than its cap.
#[derive(Debug, thiserror::Error)]
#[error("module exceeded its memory limit of {cap} bytes (asked for {desired})")]
pub struct MemoryExceeded {
    pub cap: usize,
    pub desired: usize,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            return Err(MemoryExceeded {
                cap: self.cap,
                desired,
            }
            .into());
        }
        self.current = desired;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// A call that has computed this long is CPU-bound: longer than any request a
/// business module serves by computing alone.
const CPU_BOUND_AFTER: std::time::Duration = std::time::Duration::from_millis(2);
const CPU_BOUND_AFTER_TICKS: u32 =
    (CPU_BOUND_AFTER.as_micros() / super::engine::EPOCH_TICK.as_micros()) as u32;

/// An instance's share of the CPU. A call yields at every epoch tick; once it has
/// computed for `CPU_BOUND_AFTER` it is CPU-bound and must win a turn from a gate
/// shared by all tenants before it runs on, so that CPU-bound calls take at most the gate's
/// width of cores and queue round robin, while short calls never wait for a turn.
pub struct CpuShare {
    gate: Arc<Semaphore>,
    turn: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
    ticks: u32,
}

impl CpuShare {
    pub fn new(gate: Arc<Semaphore>) -> Self {
        Self {
            gate,
            turn: Arc::default(),
            ticks: 0,
        }
    }

    /// At an epoch tick: give up the turn held, and the future that yields to the
    /// executor (and, for a CPU-bound call, waits for its next turn).
    pub fn next_turn(&mut self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        self.ticks += 1;
        self.release();
        if self.ticks < CPU_BOUND_AFTER_TICKS {
            return Box::pin(tokio::task::yield_now());
        }
        let (gate, turn) = (self.gate.clone(), self.turn.clone());
        Box::pin(async move {
            tokio::task::yield_now().await;
            if let Ok(permit) = gate.acquire_owned().await {
                *turn.lock().unwrap_or_else(PoisonError::into_inner) = Some(permit);
            }
        })
    }

    /// The call ended: the next one starts short.
    pub fn end_call(&mut self) {
        self.ticks = 0;
        self.release();
    }

    /// Gives back the turn held: the call waits in the host, not computing.
    pub fn release(&self) {
        self.turn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}
