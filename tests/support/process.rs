//! The `mosaic` command line, and `mosaic serve` as a process of its own.

use std::net::SocketAddr;
use std::time::Duration;

use crate::{TEST_AUDIT_KEY, target_dir};

/// The `mosaic` command line run as a process of its own: `exe` is the test
/// package's `mosaic-replica`, the same `mosaic::cli` as the `mosaic` binary (only
/// integration tests know its path).
pub fn mosaic_command(exe: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(exe);
    command
        .env(
            "MOSAIC_MODULES_DIR",
            target_dir().join("wasm32-wasip2/release"),
        )
        .env("MOSAIC_LOG", "warn")
        // The key of the test hosts, so a CLI or replica can share their database.
        .env("MOSAIC_AUDIT_KEY", TEST_AUDIT_KEY)
        .kill_on_drop(true);
    command
}

/// A `mosaic serve` process on 127.0.0.1:0, killed when dropped.
pub struct Replica {
    pub addr: SocketAddr,
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Replica {
    /// Starts `mosaic serve` on `database_url` and waits until it listens.
    pub async fn start(exe: &str, database_url: &str, jwt_secret: &str, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut command = mosaic_command(exe);
        command
            .args(["--database-url", database_url, "--jwt-secret", jwt_secret])
            .args(["serve", "--addr", "127.0.0.1:0", "--no-demo"])
            .args(extra);
        Self::spawn(command, dir).await
    }

    /// Runs `command`, a `mosaic ... serve --addr 127.0.0.1:0` made by
    /// [`mosaic_command`], on the data dir `dir`, and waits until it listens.
    pub async fn spawn(mut command: tokio::process::Command, dir: tempfile::TempDir) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut child = command
            .arg("--data-dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("mosaic-replica starts");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let addr = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(addr) = line.strip_prefix("Mosaic is listening on http://") {
                    return addr.trim().parse().expect("address");
                }
            }
            panic!("mosaic serve exited before listening")
        })
        .await
        .expect("mosaic serve listens within two minutes");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            addr,
            _child: child,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> u32 {
        self._child.id().expect("the host is running")
    }

    /// Where the process keeps its files (its SQLite database, by default).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// Kills the process with SIGKILL (nothing is flushed or finished) and hands back
    /// its data dir, to start another process on.
    pub async fn kill(mut self) -> tempfile::TempDir {
        self._child.kill().await.expect("SIGKILL the host");
        self._dir
    }
}
