//! `mosaic`: the command line lives in [`mosaic::cli`], so tests can run it as a
//! real process too.

/// A request allocates and frees many short-lived buffers, often on another
/// thread than the one that allocated them; mimalloc's per-thread free lists cost
/// less there than glibc's arenas (BENCHMARKS.md (t)).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    mosaic::cli::run().await
}
