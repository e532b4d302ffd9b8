//! `mosaic bench runtime`: the runtime's costs, measured in-process.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Install, cold-slot and warm-call costs of the runtime, in-process.
    Runtime {
        /// A component with a `GET /fixed` route.
        #[arg(long, default_value = "target/wasm32-wasip2/release/testbed.wasm")]
        module: PathBuf,
        /// Number of warm calls to time.
        #[arg(long, default_value_t = 20_000)]
        warm_runs: usize,
    },
}

pub(super) async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Runtime { module, warm_runs } => bench_runtime(&module, warm_runs).await,
    }
}

async fn bench_runtime(module: &std::path::Path, warm_runs: usize) -> anyhow::Result<()> {
    let scratch = std::env::temp_dir().join(format!("mosaic-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let report = crate::bench::runtime(module, &scratch, warm_runs).await;
    let _ = std::fs::remove_dir_all(&scratch);
    let report = report?;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("| measurement | runs | median | p99 |");
    println!("|---|---:|---:|---:|");
    for (name, s) in [
        ("install, compiling (empty cache)", report.install_compiled),
        ("install, from the artifact cache", report.install_cached),
        ("cold slot: instantiate + first call", report.cold_slot),
        ("warm call (dispatch GET /fixed)", report.warm_call),
    ] {
        println!(
            "| {name} | {} | {:.1} µs | {:.1} µs |",
            s.runs,
            us(s.median),
            us(s.p99)
        );
    }
    println!(
        "\ncold slot / warm call = {:.1}x; cached / compiled install = {:.3}x",
        us(report.cold_slot.median) / us(report.warm_call.median),
        us(report.install_cached.median) / us(report.install_compiled.median)
    );
    Ok(())
}
