//! The per-instance memory cap, the CPU share of long calls (and the pool where
//! CPU-bound calls run), and the errors by which a call is cut short.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use futures::FutureExt as _;
use futures::executor::ThreadPool;
use futures::future::BoxFuture;
use tracing::Instrument as _;

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

/// An instance's share of the CPU. A call yields to the executor at every epoch
/// tick; once it has computed for `CPU_BOUND_AFTER` it is CPU-bound, and the
/// runtime moves it to the [`CpuBoundPool`] at its next yield.
pub struct CpuShare {
    ticks: u32,
    cpu_bound: Arc<AtomicBool>,
}

impl CpuShare {
    pub fn new() -> Self {
        Self {
            ticks: 0,
            cpu_bound: Arc::default(),
        }
    }

    /// Set once the current call is CPU-bound.
    pub fn cpu_bound(&self) -> Arc<AtomicBool> {
        self.cpu_bound.clone()
    }

    /// At an epoch tick: counts the tick, and gives the future that yields.
    pub fn next_turn(&mut self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        self.ticks += 1;
        if self.ticks >= CPU_BOUND_AFTER_TICKS {
            self.cpu_bound.store(true, Ordering::Relaxed);
        }
        Box::pin(tokio::task::yield_now())
    }

    /// The call ended: the next one starts short.
    pub fn end_call(&mut self) {
        self.ticks = 0;
        self.cpu_bound.store(false, Ordering::Relaxed);
    }
}

/// Where CPU-bound calls run: a few threads (`Limits::cpu_bound_calls`) at the
/// lowest scheduling priority, apart from the executor that serves requests. A
/// guest that spins yields every epoch tick either way, but only the operating
/// system can preempt it in the middle of a tick: on a thread of its own at nice
/// 19, any request thread that wakes up takes the core from it at once, while
/// spinning calls still get every cycle nobody else wants (round robin among
/// themselves).
pub struct CpuBoundPool {
    pool: ThreadPool,
}

impl CpuBoundPool {
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let pool = ThreadPool::builder()
            .pool_size(threads.max(1))
            .name_prefix("mosaic-cpu-bound-")
            .after_start(|_| lower_this_threads_priority())
            .create()?;
        Ok(Self { pool })
    }

    /// Runs `call` until `deadline`: here while it is short, on the pool once
    /// `cpu_bound` is set. None if the deadline passed first, and the call is
    /// dropped then (on the pool, at its next poll).
    pub async fn run<T: Send + 'static>(
        &self,
        mut call: BoxFuture<'static, T>,
        cpu_bound: &AtomicBool,
        deadline: Instant,
    ) -> Option<T> {
        let here = std::future::poll_fn(|cx| match call.as_mut().poll(cx) {
            Poll::Ready(output) => Poll::Ready(Some(output)),
            Poll::Pending if cpu_bound.load(Ordering::Relaxed) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        });
        match tokio::time::timeout_at(deadline.into(), here).await {
            Ok(Some(output)) => return Some(output),
            Ok(None) => {}
            Err(_) => return None,
        }
        // Timers, sockets and tasks the call makes from now on still belong to the
        // request executor, which drives them.
        let moved = InRuntime {
            runtime: tokio::runtime::Handle::current(),
            call,
        }
        .instrument(tracing::Span::current());
        let (remote, handle) = moved.remote_handle();
        self.pool.spawn_ok(remote);
        tokio::time::timeout_at(deadline.into(), handle).await.ok()
    }
}

/// A future polled, and dropped, inside a tokio runtime's context from threads
/// that are not its own.
struct InRuntime<T: 'static> {
    runtime: tokio::runtime::Handle,
    call: BoxFuture<'static, T>,
}

impl<T: 'static> Future for InRuntime<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = &mut *self;
        let _entered = this.runtime.enter();
        this.call.as_mut().poll(cx)
    }
}

impl<T: 'static> Drop for InRuntime<T> {
    fn drop(&mut self) {
        // The instance and its store go with the call; what they hold (a pooled
        // database connection, say) may spawn a task as it is given back.
        let _entered = self.runtime.enter();
        drop(std::mem::replace(
            &mut self.call,
            Box::pin(std::future::pending()),
        ));
    }
}

/// Nice 19 for the calling thread (a thread's own attribute on Linux).
fn lower_this_threads_priority() {
    #[cfg(unix)]
    if let Err(err) = rustix::process::setpriority_process(None, 19) {
        tracing::warn!(error = %err, "could not lower the priority of a CPU-bound call thread");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn thread_name() -> String {
        std::thread::current().name().unwrap_or_default().to_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_cpu_bound_call_moves_to_the_pool_and_keeps_the_runtime() {
        let pool = CpuBoundPool::new(1).expect("pool");
        let cpu_bound = Arc::new(AtomicBool::new(false));
        let flag = cpu_bound.clone();
        let call = Box::pin(async move {
            let before = thread_name();
            flag.store(true, Ordering::Relaxed);
            tokio::task::yield_now().await;
            // Timers made on the pool belong to the request runtime, which drives them.
            tokio::time::sleep(Duration::from_millis(1)).await;
            (before, thread_name())
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        let (before, after) = pool.run(call, &cpu_bound, deadline).await.expect("in time");
        assert!(!before.starts_with("mosaic-cpu-bound"), "{before}");
        assert!(after.starts_with("mosaic-cpu-bound"), "{after}");
    }

    #[tokio::test]
    async fn a_moved_call_ends_at_the_deadline() {
        let pool = CpuBoundPool::new(1).expect("pool");
        let cpu_bound = Arc::new(AtomicBool::new(false));
        let flag = cpu_bound.clone();
        let call = Box::pin(async move {
            flag.store(true, Ordering::Relaxed);
            tokio::task::yield_now().await;
            std::future::pending::<()>().await;
        });
        let deadline = Instant::now() + Duration::from_millis(50);
        assert!(pool.run(call, &cpu_bound, deadline).await.is_none());
        assert!(Instant::now() < deadline + Duration::from_secs(1));
    }
}
