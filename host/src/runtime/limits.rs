//! The per-instance memory cap, and the errors by which a call is cut short.

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
