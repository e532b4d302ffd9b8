//! Where a tenant's module data lives: documents, unique keys and the event outbox.
//!
//! On PostgreSQL, in the shared database: row locks never cross tenants. On SQLite,
//! in a file of its own per tenant (`module-data/<tenant id>.db` beside the main
//! file), with its own pool and its own writer gate, so one tenant's open unit of
//! work — which holds its file's single writer until it ends — never holds another
//! tenant's writes. A file is opened on first use: made from a migrated template if
//! new, looked over with the SQLite library on a blocking thread (its migrations,
//! its declared indexes), and given the rows an older host kept in the main file.
//! Its pool connects on first write only: sqlx runs each connection on a thread of
//! its own, which a tenant that is only read (in place, `records::direct`) never
//! needs. A file is closed again once idle, or when too many are open (least
//! recently used first): each open file holds connections and descriptors, and a
//! host serves far more tenants than it can keep open. The host's own upkeep of
//! every file (the delivery sweep, pruning) visits a closed file without opening
//! it, so that it never evicts the files requests use.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use sqlx::{AssertSqlSafe, Executor};

mod file;

use file::{is_migrated, look_over, migrate, remove_sqlite_file, sqlite_url};

use super::records::direct::{DirectReads, KEPT_READERS, ReaderBudget};
use super::{Db, DbResult, Dialect};

/// Module data tables, children first.
const TABLES: &[&str] = &["record_keys", "records", "event_outbox"];

/// Descriptors an open tenant file is budgeted: a pooled connection or two and a
/// kept reader, three each (the file, its WAL, its shared memory).
const DESCRIPTORS_PER_FILE: u64 = 8;
/// Descriptors kept for everything else: sockets, the main file, modules.
const DESCRIPTORS_RESERVED: u64 = 512;

/// The per-tenant files of a SQLite database.
pub struct TenantFiles {
    main_file: PathBuf,
    dir: PathBuf,
    open: DashMap<String, OpenFile>,
    /// Past this many open files, opening one closes the least recently used.
    most_open: AtomicUsize,
    opening: tokio::sync::Mutex<()>,
    /// The reader connections the files keep between reads in place.
    readers: Arc<ReaderBudget>,
    /// A new tenant file's bytes, made on first need (see `template`).
    template: tokio::sync::OnceCell<Arc<[u8]>>,
    /// Whether the main file may still hold module data an older host kept there;
    /// cleared once it holds none, so reopening a closed file does not look again.
    legacy_rows_left: AtomicBool,
}

struct OpenFile {
    db: Db,
    /// When the file was last handed out, in milliseconds since the epoch.
    last_used_ms: AtomicI64,
}

impl OpenFile {
    fn handed_out(&self) -> Db {
        self.last_used_ms.store(super::now_ms(), Ordering::Relaxed);
        self.db.clone()
    }

    /// Whether a request or a task still holds the file: a closed
    /// file is opened again as a new handle with a writer gate of its own, so one
    /// in use must stay open for its gate to stay the only one.
    fn in_use(&self) -> bool {
        self.db.handles() > 1
    }
}

impl TenantFiles {
    /// For the SQLite database in `main_file`; none for an in-memory one.
    pub fn beside(main_file: &Path) -> Option<Self> {
        let dir = main_file.parent()?.join("module-data");
        Some(Self {
            main_file: main_file.to_owned(),
            dir,
            open: DashMap::new(),
            most_open: AtomicUsize::new(most_open_files()),
            opening: tokio::sync::Mutex::new(()),
            readers: ReaderBudget::new(KEPT_READERS),
            template: tokio::sync::OnceCell::new(),
            legacy_rows_left: AtomicBool::new(true),
        })
    }

    fn path(&self, tenant_id: &str) -> DbResult<PathBuf> {
        let plain = !tenant_id.is_empty()
            && tenant_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !plain {
            return Err(sqlx::Error::Protocol(format!(
                "tenant id {tenant_id:?} cannot name a file"
            )));
        }
        Ok(self.dir.join(format!("{tenant_id}.db")))
    }

    async fn open(&self, main: &Db, tenant_id: &str) -> DbResult<Db> {
        if let Some(file) = self.open.get(tenant_id) {
            return Ok(file.handed_out());
        }
        let _one_at_a_time = self.opening.lock().await;
        if let Some(file) = self.open.get(tenant_id) {
            return Ok(file.handed_out());
        }
        let most_open = self.most_open.load(Ordering::Relaxed);
        if self.open.len() >= most_open {
            // A few at a time: the files are not scanned at every open, and closing
            // many at once (each checkpoints its WAL) would stall the requests beside.
            self.close_least_recent(self.open.len() + 1 - most_open + most_open / 64)
                .await;
        }
        let path = self.path(tenant_id)?;
        std::fs::create_dir_all(&self.dir)?;
        let template = self.template().await?;
        let looked_over = tokio::task::spawn_blocking({
            let path = path.clone();
            move || look_over(&path, &template)
        })
        .await
        .map_err(|err| sqlx::Error::Protocol(format!("opening a tenant file: {err}")))?
        .map_err(|err| {
            sqlx::Error::Protocol(format!("opening the file {}: {err}", path.display()))
        })?;
        let mut db = Db::lazy_sqlite(&sqlite_url(&path))?;
        if !looked_over.migrated {
            // Made by an older host: only now does the pool connect.
            migrate(&db).await?;
        }
        self.adopt_legacy_rows(main, &db, tenant_id).await?;
        db.built_indexes = Arc::new(looked_over.indexes);
        let reads = DirectReads::new(path, self.readers.clone());
        reads
            .adopt(looked_over.conn)
            .map_err(|err| sqlx::Error::Protocol(format!("keeping a reader: {err}")))?;
        db.direct_reads = Some(Arc::new(reads));
        self.open.insert(
            tenant_id.to_owned(),
            OpenFile {
                db: db.clone(),
                last_used_ms: AtomicI64::new(super::now_ms()),
            },
        );
        Ok(db)
    }

    /// What a new tenant file starts as: an empty file with every migration applied,
    /// made once per process, so that creating a tenant's file writes bytes instead
    /// of running each migration through a pool connection.
    async fn template(&self) -> DbResult<Arc<[u8]>> {
        let bytes = self
            .template
            .get_or_try_init(|| file::template(&self.dir))
            .await?;
        Ok(bytes.clone())
    }

    /// Closes up to `count` files not in use, least recently used first.
    async fn close_least_recent(&self, count: usize) {
        let mut unused = self.unused_since(i64::MAX);
        unused.sort_unstable();
        unused.truncate(count);
        let closed = self.close(unused).await;
        tracing::debug!(
            closed,
            open = self.open.len(),
            "closed the least recently used tenant files"
        );
    }

    /// Closes the files not used for `idle_for`, and the in-place readers of those
    /// not read for as long.
    async fn close_idle(&self, idle_for: Duration) -> usize {
        for file in self.open.iter() {
            if let Some(reads) = file.db.direct_reads() {
                reads.close_if_idle(idle_for);
            }
        }
        let since = super::now_ms() - i64::try_from(idle_for.as_millis()).unwrap_or(i64::MAX);
        self.close(self.unused_since(since)).await
    }

    /// The files not in use and last used at or before `since`: (last used, tenant).
    fn unused_since(&self, since: i64) -> Vec<(i64, String)> {
        self.open
            .iter()
            .filter(|file| !file.in_use())
            .map(|file| {
                (
                    file.last_used_ms.load(Ordering::Relaxed),
                    file.key().clone(),
                )
            })
            .filter(|(last_used, _)| *last_used <= since)
            .collect()
    }

    /// Closes each file of a scan, `(last used, tenant id)`, that was not handed out
    /// since and is not in use; answers how many it closed.
    async fn close(&self, scanned: impl IntoIterator<Item = (i64, String)>) -> usize {
        let mut closed = 0;
        for (last_used, tenant_id) in scanned {
            // Checked again under the map's lock: a file used since the scan stays.
            let unchanged = |_: &String, file: &OpenFile| {
                file.last_used_ms.load(Ordering::Relaxed) == last_used && !file.in_use()
            };
            if let Some((_, file)) = self.open.remove_if(&tenant_id, unchanged) {
                file.db.pool.close().await;
                closed += 1;
            }
        }
        closed
    }

    /// Open files.
    fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Whether the main file still holds module data an older host kept there;
    /// asked of `main`'s pool until it holds none.
    async fn any_legacy_rows(&self, main: &Db) -> DbResult<bool> {
        if !self.legacy_rows_left.load(Ordering::Acquire) {
            return Ok(false);
        }
        let any_left = TABLES
            .iter()
            .map(|table| format!("EXISTS (SELECT 1 FROM {table})"))
            .collect::<Vec<_>>()
            .join(" OR ");
        let any_left: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT {any_left}")))
            .fetch_one(&main.pool)
            .await?;
        if any_left == 0 {
            self.legacy_rows_left.store(false, Ordering::Release);
        }
        Ok(any_left != 0)
    }

    /// Moves the tenant's rows an older host kept in the `main` file into its own.
    /// Copying ignores rows already there, so a move cut short is finished by the
    /// next open. Whether any are left is asked of the main file's pool, so that a
    /// tenant file's own pool connects only if there is something to move.
    async fn adopt_legacy_rows(&self, main: &Db, db: &Db, tenant_id: &str) -> DbResult<()> {
        if !self.any_legacy_rows(main).await? {
            return Ok(());
        }
        let mut conn = db.pool.acquire().await?;
        let main = self.main_file.display().to_string().replace('\'', "''");
        conn.execute(AssertSqlSafe(format!("ATTACH DATABASE '{main}' AS legacy")))
            .await?;
        let moved = async {
            for table in TABLES {
                let copied = sqlx::query(AssertSqlSafe(format!(
                    "INSERT OR IGNORE INTO {table} SELECT * FROM legacy.{table} WHERE tenant_id = $1"
                )))
                .bind(tenant_id)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                sqlx::query(AssertSqlSafe(format!(
                    "DELETE FROM legacy.{table} WHERE tenant_id = $1"
                )))
                .bind(tenant_id)
                .execute(&mut *conn)
                .await?;
                if copied > 0 {
                    tracing::info!(tenant_id, table, rows = copied, "moved module data into the tenant's own file");
                }
            }
            Ok::<_, sqlx::Error>(())
        }
        .await;
        conn.execute("DETACH DATABASE legacy").await?;
        moved
    }

    /// Runs `op` on the tenant's file for the host's own upkeep (the delivery sweep,
    /// pruning) without entering a closed file among the open ones: upkeep visits
    /// every file, and opening each would evict the files requests use. An open file
    /// is visited through its handle (behind its writer gate if `op` writes), and
    /// keeps its place in the order of use; a closed one on a connection of its own,
    /// under the opening lock, so that no handle, and no second writer gate, appears
    /// meanwhile. A file that must be opened properly first (behind on migrations,
    /// or with rows still in the main file) is opened. `None` if it does not exist.
    async fn visit<T, F>(
        &self,
        main: &Db,
        tenant_id: &str,
        writes: bool,
        op: F,
    ) -> DbResult<Option<T>>
    where
        T: Send + 'static,
        F: Fn(&rusqlite::Connection) -> rusqlite::Result<T> + Clone + Send + 'static,
    {
        let handle = || self.open.get(tenant_id).map(|file| file.db.clone());
        let db = match handle() {
            Some(db) => db,
            None => {
                let one_at_a_time = self.opening.lock().await;
                match handle() {
                    Some(db) => db,
                    None => {
                        let path = self.path(tenant_id)?;
                        if !path.exists() {
                            return Ok(None);
                        }
                        if !self.any_legacy_rows(main).await? {
                            let op = op.clone();
                            let visited = file::blocking(move || {
                                let conn = file::connect(&path)?;
                                match is_migrated(&conn)? {
                                    true => op(&conn).map(Some),
                                    false => Ok(None),
                                }
                            })
                            .await?;
                            if visited.is_some() {
                                return Ok(visited);
                            }
                        }
                        drop(one_at_a_time);
                        self.open(main, tenant_id).await?
                    }
                }
            }
        };
        db.in_place(writes, op).await.transpose()
    }

    /// Closes and removes the tenant's file: the tenant is deleted.
    async fn remove(&self, tenant_id: &str) -> DbResult<()> {
        let _one_at_a_time = self.opening.lock().await;
        if let Some((_, file)) = self.open.remove(tenant_id) {
            file.db.pool.close().await;
        }
        Ok(remove_sqlite_file(&self.path(tenant_id)?)?)
    }
}

impl Db {
    /// The database holding `tenant_id`'s module data.
    pub async fn module_data(&self, tenant_id: &str) -> DbResult<Db> {
        match (&self.tenant_files, self.dialect) {
            (Some(files), Dialect::Sqlite) => files.open(self, tenant_id).await,
            _ => Ok(self.clone()),
        }
    }

    /// The tenants that have a module data file of their own (SQLite only).
    pub fn tenants_with_module_data(&self) -> DbResult<Vec<String>> {
        let Some(files) = &self.tenant_files else {
            return Ok(Vec::new());
        };
        let entries = match std::fs::read_dir(&files.dir) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            entries => entries?,
        };
        let mut tenants = Vec::new();
        for entry in entries {
            let name = entry?.file_name();
            if let Some(tenant_id) = name.to_str().and_then(|n| n.strip_suffix(".db")) {
                tenants.push(tenant_id.to_owned());
            }
        }
        Ok(tenants)
    }

    /// Runs `op` on every tenant's module data file in turn (SQLite), as the host's
    /// upkeep does (`TenantFiles::visit`): what each gave, by tenant. A file that
    /// fails is logged and passed over, so that one damaged file holds up no other.
    /// `None` for a database without tenant files.
    pub(crate) async fn visit_tenant_files<T, F>(
        &self,
        writes: bool,
        op: F,
    ) -> Option<DbResult<Vec<(String, T)>>>
    where
        T: Send + 'static,
        F: Fn(&rusqlite::Connection) -> rusqlite::Result<T> + Clone + Send + 'static,
    {
        let files = self.tenant_files.as_ref()?;
        let visit_all = async {
            let mut visited = Vec::new();
            for tenant_id in self.tenants_with_module_data()? {
                match files.visit(self, &tenant_id, writes, op.clone()).await {
                    Ok(Some(done)) => visited.push((tenant_id, done)),
                    Ok(None) => {}
                    Err(err) => {
                        tracing::warn!(tenant_id, error = %err, "passed over a tenant file that could not be visited");
                    }
                }
            }
            Ok(visited)
        };
        Some(visit_all.await)
    }

    /// Closes the tenants' files (and in-place readers) not used for `idle_for`;
    /// answers how many files it closed.
    pub async fn close_idle_tenant_files(&self, idle_for: Duration) -> usize {
        match &self.tenant_files {
            Some(files) => files.close_idle(idle_for).await,
            None => 0,
        }
    }

    /// Keeps at most `most` tenant files open (SQLite), fewer if the open-file
    /// limit allows fewer.
    pub fn cap_open_tenant_files(&self, most: usize) {
        if let Some(files) = &self.tenant_files {
            let most = most.clamp(MOST_OPEN_FLOOR, most_open_files());
            files.most_open.store(most, Ordering::Relaxed);
        }
    }

    /// Tenant files open now (SQLite).
    pub fn open_tenant_files(&self) -> usize {
        self.tenant_files
            .as_ref()
            .map_or(0, |files| files.open_count())
    }

    /// Removes a deleted tenant's module data file, if it has one.
    pub async fn remove_module_data(&self, tenant_id: &str) -> DbResult<()> {
        match &self.tenant_files {
            Some(files) => files.remove(tenant_id).await,
            None => Ok(()),
        }
    }
}

/// How many tenant files may be open: what the open-file limit (as `serve` raised
/// it) leaves after the reserve, at [`DESCRIPTORS_PER_FILE`] each.
fn most_open_files() -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    let files = limit.saturating_sub(DESCRIPTORS_RESERVED) / DESCRIPTORS_PER_FILE;
    usize::try_from(files)
        .unwrap_or(usize::MAX)
        .max(MOST_OPEN_FLOOR)
}

/// Even under a tiny descriptor limit a few files stay open, or every request
/// would reopen its tenant's.
const MOST_OPEN_FLOOR: usize = 16;

#[cfg(test)]
mod tests;
