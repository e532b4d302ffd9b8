//! A tenant's SQLite file on disk: made from the migrated template, looked over
//! with the SQLite library (its migrations, its declared indexes), removed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::OptionalExtension;

use super::super::records::BuiltIndexes;
use super::super::{Db, DbResult};

/// The migrations of a tenant file.
pub(super) static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite-tenant");

pub(super) async fn migrate(db: &Db) -> DbResult<()> {
    MIGRATIONS
        .run(&db.pool)
        .await
        .map_err(|e| sqlx::Error::Migrate(Box::new(e)))
}

/// The bytes of an empty tenant file with every migration applied, made in `dir`.
pub(super) async fn template(dir: &Path) -> DbResult<Arc<[u8]>> {
    // Not named `*.db`: it is no tenant's.
    let path = dir.join(format!("template-{}.partial", std::process::id()));
    remove_sqlite_file(&path)?;
    let db = Db::open(&sqlite_url(&path), None).await?;
    migrate(&db).await?;
    // The last connection to close checkpoints the WAL into the file.
    db.pool.close().await;
    let bytes = std::fs::read(&path)?;
    remove_sqlite_file(&path)?;
    Ok(Arc::from(bytes))
}

pub(super) fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// A tenant file as [`look_over`] found it.
pub(super) struct LookedOver {
    /// A connection to it, kept as its first reader.
    pub conn: rusqlite::Connection,
    /// Whether it has exactly this host's migrations applied.
    pub migrated: bool,
    pub indexes: BuiltIndexes,
}

/// Opens the tenant file at `path` with the SQLite library on this thread, made
/// from `template` if it does not exist yet, and notes what it holds: no pool
/// connection (a thread of its own) is started for it.
pub(super) fn look_over(
    path: &Path,
    template: &[u8],
) -> Result<LookedOver, Box<dyn std::error::Error + Send + Sync>> {
    if !path.exists() {
        create_from(path, template)?;
    }
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // A no-op on a file in WAL mode already, as every file this host made is.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    Ok(LookedOver {
        migrated: is_migrated(&conn)?,
        indexes: BuiltIndexes::of_sqlite_file(&conn)?,
        conn,
    })
}

/// Whether the applied migrations are exactly this host's, all successful: what
/// the migrator would check, without starting a pool connection to check it.
pub(super) fn is_migrated(conn: &rusqlite::Connection) -> rusqlite::Result<bool> {
    let table: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    if table.is_none() {
        return Ok(false);
    }
    let mut applied =
        conn.prepare("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")?;
    let applied = applied
        .query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, bool>(1)?,
                row.get::<_, Vec<u8>>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let expected = MIGRATIONS
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| (m.version, true, m.checksum.to_vec()));
    Ok(applied.into_iter().eq(expected))
}

/// Writes `template` to `path`, whole or not at all: written beside it, synced,
/// then linked in, which keeps a file another process made meanwhile.
fn create_from(path: &Path, template: &[u8]) -> std::io::Result<()> {
    let partial = PathBuf::from(format!("{}.partial", path.display()));
    let mut file = std::fs::File::create(&partial)?;
    std::io::Write::write_all(&mut file, template)?;
    file.sync_data()?;
    drop(file);
    let linked = std::fs::hard_link(&partial, path);
    std::fs::remove_file(&partial)?;
    match linked {
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        linked => linked,
    }
}

/// Removes a SQLite file with its WAL and shared memory, those that exist.
pub(super) fn remove_sqlite_file(path: &Path) -> std::io::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::remove_file(&file) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
            _ => {}
        }
    }
    Ok(())
}

impl Db {
    /// Runs `op` on a connection of its own to this tenant's SQLite file, with the
    /// SQLite library on a blocking thread (behind the writer gate if it `writes`),
    /// so that what a file needs now and then (its declared indexes, the delivery
    /// sweep, pruning) starts no pool connection, a thread of its own that a file
    /// only read in place never needs otherwise. `None` for any other database,
    /// which does it through its pool.
    pub(crate) async fn in_place<T: Send + 'static>(
        &self,
        writes: bool,
        op: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Option<DbResult<T>> {
        let path = self.direct_reads()?.path().to_owned();
        Some(
            async {
                let _gate = match (&self.writer, writes) {
                    (Some(gate), true) => {
                        Some(gate.acquire().await.map_err(|_| sqlx::Error::PoolClosed)?)
                    }
                    _ => None,
                };
                blocking(move || op(&connect(&path)?)).await
            }
            .await,
        )
    }
}

/// A connection of its own to the existing tenant file at `path`, for work done in
/// place: it writes as the pool's connections do (`store::sqlite_pool`), and waits
/// its turn behind a writer it does not queue with (another process, a connection
/// still closing) rather than failing.
pub(super) fn connect(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// As long as sqlx's SQLite connections wait for a lock.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs `work` with the SQLite library on a blocking thread.
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> rusqlite::Result<T> + Send + 'static,
) -> DbResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| sqlx::Error::Protocol(format!("in place: {err}")))?
        .map_err(|err| sqlx::Error::Protocol(format!("in place: {err}")))
}
