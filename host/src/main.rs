//! `mosaic`: the command line lives in [`mosaic::cli`], so tests can run it as a
//! real process too.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    mosaic::cli::run().await
}
