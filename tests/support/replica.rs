//! `mosaic-replica`: the `mosaic` command line, built inside the test package so the
//! integration tests can start real `mosaic serve` processes.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    mosaic::cli::run().await
}
