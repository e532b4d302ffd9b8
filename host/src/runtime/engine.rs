//! The one wasmtime `Engine`: pooling allocator, epoch interruption, async calls.

use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::config::Limits;

/// How often the epoch advances; deadlines are checked (and long calls yield to the
/// executor) at this granularity. Short enough that a task queued behind a spinning
/// guest waits a fraction of a millisecond (BENCHMARKS.md (e): 1 ms ticks left the
/// quiet tenant's p99 at 6–8× alone, 250 µs at 3–4×, 100 µs no better).
pub const EPOCH_TICK: Duration = Duration::from_micros(250);

pub fn build(limits: &Limits) -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(limits.total_instances)
        .total_core_instances(limits.total_instances * 4)
        .total_memories(limits.total_instances * 2)
        .total_tables(limits.total_instances * 4)
        .total_stacks(limits.total_instances)
        // A component of another language's toolchain (componentize-py: CPython, libc
        // and adapters) holds more core instances and tables than one from Rust.
        .max_core_instances_per_component(16)
        .max_memories_per_component(2)
        .max_tables_per_component(8)
        .max_memory_size(limits.max_memory_bytes);

    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&config)?;
    spawn_epoch_ticker(&engine);
    Ok(engine)
}

/// Advances the epoch until the engine is dropped.
fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("mosaic-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch thread at start-up");
}
