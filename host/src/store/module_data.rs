//! Where a tenant's module data lives: documents, unique keys and the event outbox.
//!
//! On PostgreSQL, in the shared database: row locks never cross tenants. On SQLite,
//! in a file of its own per tenant (`module-data/<tenant id>.db` beside the main
//! file), with its own pool and its own writer gate, so one tenant's open unit of
//! work — which holds its file's single writer until it ends — never holds another
//! tenant's writes. A file is opened on first use, migrated, and given the rows an
//! older host kept in the main file.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use dashmap::DashMap;
use sqlx::{AssertSqlSafe, Executor};

use super::records::direct::{DirectReads, KEPT_READERS, ReaderBudget};
use super::{Db, DbResult, Dialect};

/// Module data tables, children first.
const TABLES: &[&str] = &["record_keys", "records", "event_outbox"];

/// The per-tenant files of a SQLite database.
pub struct TenantFiles {
    main_file: PathBuf,
    dir: PathBuf,
    open: DashMap<String, Db>,
    opening: tokio::sync::Mutex<()>,
    /// The reader connections the files keep between reads in place.
    readers: Arc<ReaderBudget>,
}

impl TenantFiles {
    /// For the SQLite database in `main_file`; none for an in-memory one.
    pub fn beside(main_file: &Path) -> Option<Self> {
        let dir = main_file.parent()?.join("module-data");
        Some(Self {
            main_file: main_file.to_owned(),
            dir,
            open: DashMap::new(),
            opening: tokio::sync::Mutex::new(()),
            readers: ReaderBudget::new(KEPT_READERS),
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

    async fn open(&self, tenant_id: &str) -> DbResult<Db> {
        if let Some(db) = self.open.get(tenant_id) {
            return Ok(db.clone());
        }
        let _one_at_a_time = self.opening.lock().await;
        if let Some(db) = self.open.get(tenant_id) {
            return Ok(db.clone());
        }
        let path = self.path(tenant_id)?;
        std::fs::create_dir_all(&self.dir)?;
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let mut db = Db::open(&url, None).await?;
        sqlx::migrate!("migrations/sqlite-tenant")
            .run(&db.pool)
            .await
            .map_err(|e| sqlx::Error::Migrate(Box::new(e)))?;
        self.adopt_legacy_rows(&db, tenant_id).await?;
        db.direct_reads = Some(Arc::new(DirectReads::new(path, self.readers.clone())));
        self.open.insert(tenant_id.to_owned(), db.clone());
        Ok(db)
    }

    /// Moves the tenant's rows an older host kept in the main file into its own.
    /// Copying ignores rows already there, so a move cut short is finished by the
    /// next open.
    async fn adopt_legacy_rows(&self, db: &Db, tenant_id: &str) -> DbResult<()> {
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

    /// Closes the in-place readers of files not read for `idle_for`.
    fn close_idle_readers(&self, idle_for: std::time::Duration) {
        for db in self.open.iter() {
            if let Some(reads) = db.direct_reads() {
                reads.close_if_idle(idle_for);
            }
        }
    }

    /// Closes and removes the tenant's file: the tenant is deleted.
    async fn remove(&self, tenant_id: &str) -> DbResult<()> {
        let _one_at_a_time = self.opening.lock().await;
        if let Some((_, db)) = self.open.remove(tenant_id) {
            db.pool.close().await;
        }
        let path = self.path(tenant_id)?;
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            match std::fs::remove_file(&file) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err.into()),
                _ => {}
            }
        }
        Ok(())
    }
}

impl Db {
    /// The database holding `tenant_id`'s module data.
    pub async fn module_data(&self, tenant_id: &str) -> DbResult<Db> {
        match (&self.tenant_files, self.dialect) {
            (Some(files), Dialect::Sqlite) => files.open(tenant_id).await,
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

    /// Closes the in-place readers of tenants' files not read for `idle_for`.
    pub fn close_idle_readers(&self, idle_for: std::time::Duration) {
        if let Some(files) = &self.tenant_files {
            files.close_idle_readers(idle_for);
        }
    }

    /// Removes a deleted tenant's module data file, if it has one.
    pub async fn remove_module_data(&self, tenant_id: &str) -> DbResult<()> {
        match &self.tenant_files {
            Some(files) => files.remove(tenant_id).await,
            None => Ok(()),
        }
    }
}
